// Malformed TCP headers and options: every data offset against every buffer
// length, and every option kind with every length at every position of a full
// 40-byte option area (including the very last byte). Buffers are exact-size heap
// copies, so under ASan any read past the header fails the test run.
#include <catch2/catch.hpp>

#include <cstdint>
#include <vector>

#include "stack/wire/tcp.h"
#include "wire_test_util.h"

using namespace utcp::stack::wire;

namespace {

constexpr std::size_t kOptionArea = kTcpMaxHeaderLen - kTcpMinHeaderLen;

// A segment whose bytes past the fixed header are all NOP.
std::vector<std::uint8_t> nop_segment(std::size_t len, std::uint8_t data_offset) {
  std::vector<std::uint8_t> seg(len, 0x01);
  for (std::size_t i = 0; i < std::min<std::size_t>(len, kTcpMinHeaderLen); ++i) seg[i] = 0;
  if (len > 12) seg[12] = static_cast<std::uint8_t>(data_offset << 4);
  return seg;
}

bool known_length_ok(std::uint8_t kind, std::size_t len) {
  switch (kind) {
    case 2: return len == 4;
    case 3: return len == 3;
    case 4: return len == 2;
    case 5: return len >= 10 && len <= 34 && (len - 2) % 8 == 0;
    case 8: return len == 10;
    default: return true;
  }
}

// What parse must say for an option of `kind` whose length byte is `len`, at
// `pos` in an option area that is otherwise NOP.
ParseError expected_for(std::uint8_t kind, std::size_t len, std::size_t pos) {
  if (pos + 1 >= kOptionArea) return ParseError::kBadOption;  // no room for length
  if (len < 2 || len > kOptionArea - pos) return ParseError::kBadOption;
  return known_length_ok(kind, len) ? ParseError::kNone : ParseError::kBadOption;
}

ParseError parse_error_of(std::span<const std::uint8_t> seg) {
  const auto view = TcpView::check(seg);
  REQUIRE(view);
  ParseError why = ParseError::kTruncated;
  const auto repr = parse_tcp(*view, &why);
  CHECK(repr.has_value() == (why == ParseError::kNone));
  return why;
}

}  // namespace

TEST_CASE("TCP data offset 0..15 against every buffer length", "[wire][tcp][malformed]") {
  for (std::uint8_t doff = 0; doff < 16; ++doff) {
    for (std::size_t len = 0; len <= kTcpMaxHeaderLen + 4; ++len) {
      const auto seg = nop_segment(len, doff);
      INFO("data offset " << int{doff} << " buffer " << len);
      ParseError why = ParseError::kNone;
      const auto view = TcpView::check(seg, &why);
      if (len < kTcpMinHeaderLen) {
        CHECK(why == ParseError::kTruncated);
      } else if (doff < 5 || std::size_t{doff} * 4 > len) {
        CHECK(why == ParseError::kBadHeaderLength);
      } else {
        REQUIRE(view);
        CHECK(view->header_len() == std::size_t{doff} * 4);
        CHECK(view->payload().size() == len - std::size_t{doff} * 4);
        CHECK(parse_error_of(seg) == ParseError::kNone);
      }
      CHECK(view.has_value() == (why == ParseError::kNone));
    }
  }
}

TEST_CASE("TCP segment truncated at every length fails cleanly", "[wire][tcp][malformed]") {
  const auto full = nop_segment(kTcpMaxHeaderLen, 15);
  for (std::size_t len = 0; len < full.size(); ++len) {
    const auto seg = test::copy_of(std::span(full).first(len));
    ParseError why = ParseError::kNone;
    CHECK_FALSE(TcpView::check(seg, &why));
    CHECK(why == (len < kTcpMinHeaderLen ? ParseError::kTruncated
                                         : ParseError::kBadHeaderLength));
  }
}

TEST_CASE("TCP option kinds 0..255 with lengths 0..40 at every position",
          "[wire][tcp][malformed][options]") {
  // One 60-byte heap buffer, data offset 15: the option area ends the buffer.
  std::vector<std::uint8_t> seg = nop_segment(kTcpMaxHeaderLen, 15);
  std::size_t mismatches = 0;
  std::size_t other_errors = 0;
  for (int kind = 0; kind < 256; ++kind) {
    for (std::size_t len = 0; len <= kOptionArea; ++len) {
      for (std::size_t pos = 0; pos < kOptionArea; ++pos) {
        std::fill(seg.begin() + kTcpMinHeaderLen, seg.end(), 0x01);
        std::uint8_t* area = seg.data() + kTcpMinHeaderLen;
        area[pos] = static_cast<std::uint8_t>(kind);
        if (pos + 1 < kOptionArea) area[pos + 1] = static_cast<std::uint8_t>(len);
        for (std::size_t i = pos + 2; i < std::min(pos + len, kOptionArea); ++i) area[i] = 0x42;

        const auto view = TcpView::check(seg);
        ParseError why = ParseError::kNone;
        const auto repr = parse_tcp(*view, &why);
        if (why != ParseError::kNone && why != ParseError::kBadOption) ++other_errors;
        if (repr.has_value() != (why == ParseError::kNone)) ++other_errors;
        // NOP and EOL make the length byte a kind of its own: only the error class
        // is checked above. Every other kind has an exact expected outcome.
        if (kind == 0 && why != ParseError::kNone) ++mismatches;
        if (kind >= 2 && why != expected_for(static_cast<std::uint8_t>(kind), len, pos)) {
          ++mismatches;
        }
      }
    }
  }
  CHECK(mismatches == 0);
  CHECK(other_errors == 0);
}

TEST_CASE("TCP option kind in the last option byte is a bad option",
          "[wire][tcp][malformed][options]") {
  for (std::uint8_t doff = 6; doff < 16; ++doff) {
    auto seg = nop_segment(std::size_t{doff} * 4, doff);
    seg.back() = 2;  // MSS kind, no length byte
    CHECK(parse_error_of(seg) == ParseError::kBadOption);
    seg.back() = 0;  // EOL is fine there
    CHECK(parse_error_of(seg) == ParseError::kNone);
  }
}

TEST_CASE("TCP option length running past the option area is a bad option",
          "[wire][tcp][malformed][options]") {
  // Data offset 6: 4 option bytes, then payload that must not be read as options.
  auto seg = nop_segment(24 + 8, 6);
  seg[20] = 8;   // timestamps
  seg[21] = 10;  // would need 10 bytes, 4 remain in the option area
  CHECK(parse_error_of(seg) == ParseError::kBadOption);
}

TEST_CASE("TCP SACK option lengths outside 2+8n, n 1..4, are bad", "[wire][tcp][malformed]") {
  for (std::size_t len = 2; len <= kOptionArea; ++len) {
    auto seg = nop_segment(kTcpMaxHeaderLen, 15);
    seg[20] = 5;
    seg[21] = static_cast<std::uint8_t>(len);
    const bool valid = len >= 10 && (len - 2) % 8 == 0 && len <= 34;
    INFO("len " << len);
    CHECK(parse_error_of(seg) == (valid ? ParseError::kNone : ParseError::kBadOption));
  }
}
