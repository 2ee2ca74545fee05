// MacAddr and Ipv4Addr text forms; ParseError names.
#include <catch2/catch.hpp>

#include <set>
#include <string>

#include "stack/wire/addresses.h"
#include "stack/wire/parse_error.h"

using utcp::stack::wire::Ipv4Addr;
using utcp::stack::wire::MacAddr;
using utcp::stack::wire::ParseError;

TEST_CASE("MacAddr prints lowercase colon-separated hex", "[wire][addresses]") {
  CHECK(MacAddr{{0x02, 0x00, 0x00, 0x00, 0x00, 0x01}}.to_string() == "02:00:00:00:00:01");
  CHECK(MacAddr{{0xde, 0xad, 0xbe, 0xef, 0x0a, 0xff}}.to_string() == "de:ad:be:ef:0a:ff");
  CHECK(MacAddr::broadcast().to_string() == "ff:ff:ff:ff:ff:ff");
}

TEST_CASE("Ipv4Addr parses and prints dotted quads", "[wire][addresses]") {
  Ipv4Addr a;
  REQUIRE(Ipv4Addr::parse("198.18.0.1", a));
  CHECK(a.value == 0xc6120001u);
  CHECK(a.to_string() == "198.18.0.1");
  REQUIRE(Ipv4Addr::parse("0.0.0.0", a));
  CHECK(a.value == 0u);
  REQUIRE(Ipv4Addr::parse("255.255.255.255", a));
  CHECK(a.is_broadcast());
  CHECK(a.to_string() == "255.255.255.255");
}

TEST_CASE("Ipv4Addr::parse rejects anything but a strict dotted quad", "[wire][addresses]") {
  const char* bad[] = {"",         "1.2.3",     "1.2.3.4.5", "256.1.1.1", "1.2.3.4x",
                       "x1.2.3.4", " 1.2.3.4",  "1.2.3.4 ",  "1..3.4",    "1.2.3.",
                       ".1.2.3",   "1.2.3.-4",  "01.2.3.4",  "1.2.3.1000", "1.2.3.0x1",
                       "junk",     "1,2,3,4",   "1.2.3.4/24"};
  for (const char* text : bad) {
    Ipv4Addr a{0x01020304u};
    INFO(text);
    CHECK_FALSE(Ipv4Addr::parse(text, a));
    CHECK(a.value == 0x01020304u);  // untouched on failure
  }
}

TEST_CASE("every ParseError has a distinct name", "[wire][parse_error]") {
  std::set<std::string> names;
  for (int i = 0; i < static_cast<int>(ParseError::kCount); ++i) {
    names.insert(std::string(to_string(static_cast<ParseError>(i))));
  }
  CHECK(names.size() == static_cast<std::size_t>(ParseError::kCount));
  CHECK(to_string(ParseError::kBadOption) == "bad_option");
}
