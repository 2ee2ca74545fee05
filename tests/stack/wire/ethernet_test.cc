// Ethernet II: literal round trip, truncation, VLAN tags refused, padding kept.
#include <catch2/catch.hpp>

#include <array>
#include <vector>

#include "stack/wire/ethernet.h"
#include "wire_test_util.h"

using namespace utcp::stack::wire;

namespace {

const std::vector<std::uint8_t> kFrame = {
    0x02, 0x00, 0x00, 0x00, 0x00, 0x02,  // dst
    0x02, 0x00, 0x00, 0x00, 0x00, 0x01,  // src
    0x08, 0x06,                          // ARP
    0xaa, 0xbb,                          // payload
};

const EthernetRepr kRepr{MacAddr{{0x02, 0, 0, 0, 0, 0x02}}, MacAddr{{0x02, 0, 0, 0, 0, 0x01}},
                         ethertype::kArp};

}  // namespace

TEST_CASE("Ethernet header parses from bytes", "[wire][ethernet]") {
  ParseError why = ParseError::kTruncated;
  const auto view = EthernetView::check(kFrame, &why);
  REQUIRE(view);
  CHECK(why == ParseError::kNone);
  CHECK(view->payload().size() == 2);
  CHECK(view->payload()[0] == 0xaa);
  CHECK(EthernetRepr::parse(*view) == kRepr);
}

TEST_CASE("Ethernet header emits the same bytes", "[wire][ethernet]") {
  std::array<std::uint8_t, kEthernetHeaderLen> out{};
  kRepr.emit(out);
  CHECK(std::vector<std::uint8_t>(out.begin(), out.end()) ==
        std::vector<std::uint8_t>(kFrame.begin(), kFrame.begin() + 14));
}

TEST_CASE("Ethernet emit into a short buffer writes nothing", "[wire][ethernet]") {
  std::array<std::uint8_t, kEthernetHeaderLen - 1> out{};
  kRepr.emit(out);
  CHECK(out == std::array<std::uint8_t, kEthernetHeaderLen - 1>{});
}

TEST_CASE("Ethernet frames shorter than the header are truncated", "[wire][ethernet]") {
  for (std::size_t len = 0; len < kEthernetHeaderLen; ++len) {
    const auto bytes = test::copy_of(std::span(kFrame).first(len));
    ParseError why = ParseError::kNone;
    CHECK_FALSE(EthernetView::check(bytes, &why));
    CHECK(why == ParseError::kTruncated);
  }
  const auto header_only = test::copy_of(std::span(kFrame).first(kEthernetHeaderLen));
  const auto view = EthernetView::check(header_only);
  REQUIRE(view);
  CHECK(view->payload().empty());
}

TEST_CASE("VLAN-tagged Ethernet frames are unsupported", "[wire][ethernet]") {
  for (std::uint16_t tag : {ethertype::kVlan, ethertype::kQinQ, std::uint16_t{0x9100}}) {
    auto bytes = kFrame;
    bytes[12] = static_cast<std::uint8_t>(tag >> 8);
    bytes[13] = static_cast<std::uint8_t>(tag);
    ParseError why = ParseError::kNone;
    CHECK_FALSE(EthernetView::check(bytes, &why));
    CHECK(why == ParseError::kUnsupported);
  }
}
