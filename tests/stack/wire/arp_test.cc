// ARP (RFC 826) for Ethernet/IPv4: literal round trip, other hardware and protocol
// types refused, unknown operations refused, padding ignored.
#include <catch2/catch.hpp>

#include <array>
#include <vector>

#include "stack/wire/arp.h"
#include "wire_test_util.h"

using namespace utcp::stack::wire;

namespace {

const std::vector<std::uint8_t> kRequest = {
    0x00, 0x01, 0x08, 0x00, 0x06, 0x04, 0x00, 0x01,  // Ethernet, IPv4, 6, 4, request
    0x02, 0x00, 0x00, 0x00, 0x00, 0x01,              // sender MAC
    0xc6, 0x12, 0x01, 0x01,                          // sender IP 198.18.1.1
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00,              // target MAC (unknown)
    0xc6, 0x12, 0x01, 0x02,                          // target IP 198.18.1.2
};

const ArpRepr kRequestRepr{ArpOp::kRequest, MacAddr{{0x02, 0, 0, 0, 0, 0x01}},
                           Ipv4Addr::from_octets(198, 18, 1, 1), MacAddr{},
                           Ipv4Addr::from_octets(198, 18, 1, 2)};

}  // namespace

TEST_CASE("ARP request parses from bytes", "[wire][arp]") {
  const auto view = ArpView::check(kRequest);
  REQUIRE(view);
  CHECK(view->hardware_type() == 1);
  CHECK(view->protocol_type() == 0x0800);
  CHECK(view->operation() == 1);
  CHECK(ArpRepr::parse(*view) == kRequestRepr);
}

TEST_CASE("ARP request emits the same bytes", "[wire][arp]") {
  std::array<std::uint8_t, ArpRepr::kLen> out{};
  kRequestRepr.emit(out);
  CHECK(std::vector<std::uint8_t>(out.begin(), out.end()) == kRequest);
}

TEST_CASE("ARP reply round-trips", "[wire][arp]") {
  const ArpRepr reply{ArpOp::kReply, MacAddr{{0x02, 0, 0, 0, 0, 0x02}},
                      Ipv4Addr::from_octets(198, 18, 1, 2), MacAddr{{0x02, 0, 0, 0, 0, 0x01}},
                      Ipv4Addr::from_octets(198, 18, 1, 1)};
  std::vector<std::uint8_t> out(ArpRepr::kLen);
  reply.emit(out);
  CHECK(out[7] == 2);
  const auto view = ArpView::check(out);
  REQUIRE(view);
  CHECK(ArpRepr::parse(*view) == reply);
}

TEST_CASE("ARP ignores Ethernet padding after the packet", "[wire][arp]") {
  auto padded = kRequest;
  padded.resize(46, 0xee);
  const auto view = ArpView::check(padded);
  REQUIRE(view);
  CHECK(view->bytes().size() == ArpRepr::kLen);
  CHECK(ArpRepr::parse(*view) == kRequestRepr);
}

TEST_CASE("ARP shorter than 28 bytes is truncated", "[wire][arp]") {
  for (std::size_t len = 0; len < ArpRepr::kLen; ++len) {
    const auto bytes = test::copy_of(std::span(kRequest).first(len));
    ParseError why = ParseError::kNone;
    CHECK_FALSE(ArpView::check(bytes, &why));
    CHECK(why == ParseError::kTruncated);
  }
}

TEST_CASE("ARP for other hardware or protocols is unsupported", "[wire][arp]") {
  // byte index -> a value other than Ethernet/IPv4/6/4
  const std::array<std::pair<std::size_t, std::uint8_t>, 5> changes = {
      {{1, 6}, {0, 1}, {2, 0x86}, {4, 8}, {5, 16}}};
  for (const auto& [index, value] : changes) {
    auto bytes = kRequest;
    bytes[index] = value;
    ParseError why = ParseError::kNone;
    CHECK_FALSE(ArpView::check(bytes, &why));
    CHECK(why == ParseError::kUnsupported);
  }
}

TEST_CASE("ARP operations other than request and reply are refused", "[wire][arp]") {
  for (std::uint8_t op : {0, 3, 4, 9}) {
    auto bytes = kRequest;
    bytes[7] = op;
    const auto view = ArpView::check(bytes);
    REQUIRE(view);
    CHECK_FALSE(ArpRepr::parse(*view));
  }
}
