// RFC 1071 checksum: the RFC's worked example, odd lengths, continuation, every
// alignment against a byte-at-a-time reference, and the IPv4 pseudo-header.
#include <catch2/catch.hpp>

#include <array>
#include <cstdint>
#include <vector>

#include "stack/wire/checksum.h"
#include "wire_test_util.h"

using namespace utcp::stack::wire;

namespace {

// RFC 1071 §4.1, one 16-bit word at a time.
std::uint32_t reference_sum(std::span<const std::uint8_t> b) {
  std::uint32_t sum = 0;
  for (std::size_t i = 0; i + 1 < b.size(); i += 2) sum += (std::uint32_t{b[i]} << 8) | b[i + 1];
  if (b.size() % 2 != 0) sum += std::uint32_t{b.back()} << 8;
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return sum;
}

}  // namespace

TEST_CASE("checksum matches the RFC 1071 example", "[wire][checksum]") {
  const std::array<std::uint8_t, 8> bytes = {0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7};
  CHECK(checksum_partial(bytes) == 0xddf2u);
  CHECK(checksum_fold(checksum_partial(bytes)) == 0x220d);
  CHECK(checksum_reduce(0x2ddf0u) == 0xddf2);
}

TEST_CASE("checksum pads an odd last byte with zero", "[wire][checksum]") {
  const std::array<std::uint8_t, 3> three = {0x01, 0x02, 0x03};
  CHECK(checksum_partial(std::span(three).first(1)) == 0x0100u);
  CHECK(checksum_partial(three) == 0x0402u);
  CHECK(checksum_partial({}) == 0u);
}

TEST_CASE("checksum equals the reference at every length and alignment", "[wire][checksum]") {
  const std::vector<std::uint8_t> data = test::pattern_bytes(200, 7);
  for (std::size_t offset = 0; offset < 8; ++offset) {
    for (std::size_t len = 0; len + offset <= data.size(); ++len) {
      const auto piece = std::span(data).subspan(offset, len);
      INFO("offset " << offset << " len " << len);
      REQUIRE(checksum_partial(piece) == reference_sum(piece));
    }
  }
}

TEST_CASE("checksum handles carries from all-ones data", "[wire][checksum]") {
  const std::vector<std::uint8_t> ones(1501, 0xff);
  CHECK(checksum_partial(ones) == reference_sum(ones));
  CHECK(checksum_partial(ones, 0xffffffffu) == checksum_reduce(reference_sum(ones) + 0xffffu));
}

TEST_CASE("a partial sum continues over a second span after an even first span",
          "[wire][checksum]") {
  const std::vector<std::uint8_t> data = test::pattern_bytes(101, 3);
  for (std::size_t split = 0; split <= data.size(); split += 2) {
    const std::uint32_t first = checksum_partial(std::span(data).first(split));
    CHECK(checksum_partial(std::span(data).subspan(split), first) == checksum_partial(data));
  }
}

TEST_CASE("checksum_fold of data holding its own checksum is zero", "[wire][checksum]") {
  std::vector<std::uint8_t> data = test::pattern_bytes(64, 11);
  data[10] = 0;
  data[11] = 0;
  const std::uint16_t c = checksum_fold(checksum_partial(data));
  data[10] = static_cast<std::uint8_t>(c >> 8);
  data[11] = static_cast<std::uint8_t>(c);
  CHECK(checksum_fold(checksum_partial(data)) == 0);
}

TEST_CASE("pseudo_header_sum adds addresses, protocol and length", "[wire][checksum]") {
  const Ipv4Addr src = Ipv4Addr::from_octets(198, 18, 1, 1);
  const Ipv4Addr dst = Ipv4Addr::from_octets(198, 18, 1, 2);
  // c612 + 0101 + c612 + 0102 + 0006 + 0028 = 0x18e55 -> 0x8e56
  CHECK(pseudo_header_sum(src, dst, 6, 40) == 0x8e56u);
  const std::array<std::uint8_t, 12> pseudo = {0xc6, 0x12, 0x01, 0x01, 0xc6, 0x12,
                                               0x01, 0x02, 0x00, 0x06, 0x00, 0x28};
  CHECK(pseudo_header_sum(src, dst, 6, 40) == checksum_partial(pseudo));
}
