// IPv4 (RFC 791 §3.1): literal round trip, options carried, every length mismatch
// refused with the right error, Ethernet padding trimmed, fragments and bad
// checksums refused.
#include <catch2/catch.hpp>

#include <array>
#include <vector>

#include "stack/wire/checksum.h"
#include "stack/wire/ethernet.h"
#include "stack/wire/ipv4.h"
#include "stack/wire/tcp.h"
#include "wire_test_util.h"

using namespace utcp::stack::wire;

namespace {

// 198.18.1.1 -> 198.18.1.2, TCP, ident 0x1234, DF, ttl 64, 20 bytes of payload.
std::vector<std::uint8_t> datagram() {
  std::vector<std::uint8_t> d = {0x45, 0x00, 0x00, 0x28, 0x12, 0x34, 0x40, 0x00, 0x40, 0x06,
                                 0x9a, 0x74, 0xc6, 0x12, 0x01, 0x01, 0xc6, 0x12, 0x01, 0x02};
  // A bare TCP header (data offset 5) as payload.
  const std::array<std::uint8_t, 20> tcp = {0x30, 0x39, 0x13, 0x89, 0, 0, 0, 1, 0, 0,
                                            0,    0,    0x50, 0x02, 0xff, 0xff, 0, 0, 0, 0};
  d.insert(d.end(), tcp.begin(), tcp.end());
  return d;
}

const Ipv4Repr kRepr{Ipv4Addr::from_octets(198, 18, 1, 1), Ipv4Addr::from_octets(198, 18, 1, 2),
                     ip_protocol::kTcp, 64, 0x1234, true, 20};

void set_u16(std::vector<std::uint8_t>& b, std::size_t at, std::uint16_t v) {
  b[at] = static_cast<std::uint8_t>(v >> 8);
  b[at + 1] = static_cast<std::uint8_t>(v);
}

void fix_checksum(std::vector<std::uint8_t>& d) {
  set_u16(d, 10, 0);
  const std::size_t header_len = std::size_t{d[0] & 0x0fu} * 4;
  set_u16(d, 10, checksum_fold(checksum_partial(std::span(d).first(header_len))));
}

ParseError check_error(const std::vector<std::uint8_t>& d) {
  ParseError why = ParseError::kNone;
  const auto view = Ipv4View::check(d, &why);
  CHECK(view.has_value() == (why == ParseError::kNone));
  return why;
}

}  // namespace

TEST_CASE("IPv4 header parses from bytes", "[wire][ipv4]") {
  const auto d = datagram();
  const auto view = Ipv4View::check(d);
  REQUIRE(view);
  CHECK(view->header_len() == 20);
  CHECK(view->total_len() == 40);
  CHECK(view->ident() == 0x1234);
  CHECK(view->dont_fragment());
  CHECK_FALSE(view->more_fragments());
  CHECK(view->frag_offset() == 0);
  CHECK_FALSE(view->is_fragment());
  CHECK(view->ttl() == 64);
  CHECK(view->protocol() == ip_protocol::kTcp);
  CHECK(view->checksum() == 0x9a74);
  CHECK(view->checksum_ok());
  CHECK(view->options().empty());
  CHECK(view->payload().size() == 20);
  ParseError why = ParseError::kTruncated;
  CHECK(Ipv4Repr::parse(*view, true, &why) == kRepr);
  CHECK(why == ParseError::kNone);
}

TEST_CASE("IPv4 header emits the same bytes", "[wire][ipv4]") {
  const auto d = datagram();
  std::vector<std::uint8_t> out(Ipv4Repr::kHeaderLen);
  kRepr.emit(out, true);
  CHECK(out == std::vector<std::uint8_t>(d.begin(), d.begin() + 20));
}

TEST_CASE("IPv4 emit without checksum leaves the field zero for the NIC", "[wire][ipv4]") {
  std::vector<std::uint8_t> out(Ipv4Repr::kHeaderLen, 0xee);
  kRepr.emit(out, false);
  CHECK(out[10] == 0);
  CHECK(out[11] == 0);
}

TEST_CASE("IPv4 emit clears DF when asked", "[wire][ipv4]") {
  Ipv4Repr r = kRepr;
  r.dont_fragment = false;
  std::vector<std::uint8_t> out(r.total_len());
  r.emit(out, true);
  const auto full = Ipv4View::check(out);
  REQUIRE(full);
  CHECK_FALSE(full->dont_fragment());
  CHECK(full->checksum_ok());
}

TEST_CASE("IPv4 options are carried, not interpreted", "[wire][ipv4]") {
  auto d = datagram();
  d[0] = 0x46;
  d.insert(d.begin() + 20, {0x01, 0x01, 0x01, 0x00});  // NOP NOP NOP EOL
  set_u16(d, 2, 44);
  fix_checksum(d);
  const auto view = Ipv4View::check(d);
  REQUIRE(view);
  CHECK(view->header_len() == 24);
  CHECK(view->options().size() == 4);
  CHECK(view->options()[3] == 0x00);
  CHECK(view->payload().size() == 20);
  CHECK(view->payload()[0] == 0x30);
  const auto repr = Ipv4Repr::parse(*view, true);
  REQUIRE(repr);
  CHECK(repr->payload_len == 20);
}

TEST_CASE("IPv4 truncated at every length fails cleanly", "[wire][ipv4]") {
  const auto d = datagram();
  for (std::size_t len = 0; len < d.size(); ++len) {
    const auto bytes = test::copy_of(std::span(d).first(len));
    INFO("len " << len);
    CHECK(check_error(bytes) ==
          (len < 20 ? ParseError::kTruncated : ParseError::kBadTotalLength));
  }
}

TEST_CASE("IPv4 version other than 4 is refused", "[wire][ipv4]") {
  auto d = datagram();
  d[0] = 0x65;
  CHECK(check_error(d) == ParseError::kBadVersion);
}

TEST_CASE("IPv4 IHL against total length and buffer", "[wire][ipv4]") {
  // A 60-byte buffer whose total length says 40.
  auto base = datagram();
  base.resize(60, 0x01);
  for (std::uint8_t ihl = 0; ihl < 16; ++ihl) {
    auto d = base;
    d[0] = static_cast<std::uint8_t>(0x40 | ihl);
    INFO("ihl " << int{ihl});
    ParseError expected = ParseError::kNone;
    if (ihl < 5) {
      expected = ParseError::kBadHeaderLength;
    } else if (ihl * 4 > 40) {
      expected = ParseError::kBadTotalLength;
    }
    CHECK(check_error(d) == expected);
  }
}

TEST_CASE("IPv4 IHL past the buffer is a bad header length", "[wire][ipv4]") {
  auto d = datagram();
  d.resize(24);
  set_u16(d, 2, 24);
  d[0] = 0x47;  // 28-byte header in a 24-byte buffer
  CHECK(check_error(d) == ParseError::kBadHeaderLength);
}

TEST_CASE("IPv4 total length below the header or past the buffer is refused", "[wire][ipv4]") {
  for (std::uint16_t total : {0, 1, 19, 41, 1500, 65535}) {
    auto d = datagram();
    set_u16(d, 2, total);
    INFO("total " << total);
    CHECK(check_error(d) == ParseError::kBadTotalLength);
  }
}

TEST_CASE("IPv4 ignores Ethernet padding past total length", "[wire][ipv4]") {
  // A minimum 60-byte Ethernet frame carrying a 40-byte datagram: 6 padding bytes.
  std::vector<std::uint8_t> frame(kEthernetHeaderLen, 0);
  frame[12] = 0x08;
  const auto d = datagram();
  frame.insert(frame.end(), d.begin(), d.end());
  frame.resize(kEthernetMinFrameLen, 0xee);
  const auto eth = EthernetView::check(frame);
  REQUIRE(eth);
  CHECK(eth->payload().size() == 46);
  const auto ip = Ipv4View::check(eth->payload());
  REQUIRE(ip);
  CHECK(ip->total_len() == 40);
  CHECK(ip->bytes().size() == 40);
  CHECK(ip->payload().size() == 20);
  const auto repr = Ipv4Repr::parse(*ip, true);
  REQUIRE(repr);
  CHECK(repr->payload_len == 20);
  const auto tcp = TcpView::check(ip->payload());
  REQUIRE(tcp);
  CHECK(tcp->payload().empty());
}

TEST_CASE("IPv4 fragments are refused", "[wire][ipv4]") {
  // flags+offset field: MF; offset 1; MF + offset; the last fragment (offset, no MF).
  for (std::uint16_t field : {0x2000, 0x0001, 0x2001, 0x4000 | 0x00b9}) {
    auto d = datagram();
    set_u16(d, 6, field);
    fix_checksum(d);
    const auto view = Ipv4View::check(d);
    REQUIRE(view);
    CHECK(view->is_fragment());
    ParseError why = ParseError::kNone;
    CHECK_FALSE(Ipv4Repr::parse(*view, true, &why));
    CHECK(why == ParseError::kFragment);
  }
}

TEST_CASE("IPv4 bad header checksum is detected", "[wire][ipv4]") {
  auto d = datagram();
  d[8] = 63;  // ttl changed without fixing the checksum
  const auto view = Ipv4View::check(d);
  REQUIRE(view);
  CHECK_FALSE(view->checksum_ok());
  ParseError why = ParseError::kNone;
  CHECK_FALSE(Ipv4Repr::parse(*view, true, &why));
  CHECK(why == ParseError::kBadChecksum);
  // The device verified it (or the caller trusts it): no verification asked.
  CHECK(Ipv4Repr::parse(*view, false, &why));
  CHECK(why == ParseError::kNone);
}
