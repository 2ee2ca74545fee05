// emit_tcp_frame: a whole Ethernet/IPv4/TCP frame from reprs and a payload in two
// pieces; checksums in software or left for the device; refusal when it cannot fit.
#include <catch2/catch.hpp>

#include <string_view>
#include <vector>

#include "stack/wire/checksum.h"
#include "stack/wire/frame.h"
#include "wire_test_util.h"

using namespace utcp::stack::wire;
using utcp::stack::SeqNum;

namespace {

const MacAddr kSrcMac{{0x02, 0, 0, 0, 0, 0x01}};
const MacAddr kDstMac{{0x02, 0, 0, 0, 0, 0x02}};

Ipv4Repr ip_repr() {
  Ipv4Repr ip;
  ip.src = Ipv4Addr::from_octets(198, 18, 1, 1);
  ip.dst = Ipv4Addr::from_octets(198, 18, 1, 2);
  ip.ident = 7;
  return ip;
}

TcpRepr tcp_repr() {
  TcpRepr r;
  r.src_port = 40000;
  r.dst_port = 80;
  r.seq = SeqNum(100);
  r.ack = SeqNum(200);
  r.flags = tcp_flags::kAck | tcp_flags::kPsh;
  r.window = 1000;
  r.options.timestamps = TcpTimestamps{5, 6};
  return r;
}

std::span<const std::uint8_t> as_bytes(std::string_view s) {
  return {reinterpret_cast<const std::uint8_t*>(s.data()), s.size()};
}

constexpr std::string_view kText = "hello, world";

}  // namespace

TEST_CASE("TCP frame has every layer filled in", "[wire][frame]") {
  std::vector<std::uint8_t> out(1514);
  const std::size_t len =
      emit_tcp_frame(out, kSrcMac, kDstMac, ip_repr(), tcp_repr(), as_bytes(kText), {}, {});
  REQUIRE(len == kTcpFrameL2L3Len + 32 + kText.size());
  out.resize(len);
  CHECK(test::parse_whole_frame(out) == ParseError::kNone);

  const auto eth = EthernetView::check(out);
  REQUIRE(eth);
  CHECK(eth->dst() == kDstMac);
  CHECK(eth->src() == kSrcMac);
  CHECK(eth->ethertype() == ethertype::kIpv4);
  const auto ip = Ipv4View::check(eth->payload());
  REQUIRE(ip);
  Ipv4Repr expected_ip = ip_repr();
  expected_ip.protocol = ip_protocol::kTcp;
  expected_ip.payload_len = static_cast<std::uint16_t>(32 + kText.size());
  CHECK(Ipv4Repr::parse(*ip, true) == expected_ip);
  CHECK(ip->dont_fragment());
  CHECK(ip->ttl() == 64);
  const auto tcp = TcpView::check(ip->payload());
  REQUIRE(tcp);
  CHECK(tcp->checksum_ok(ip->src(), ip->dst()));
  CHECK(parse_tcp(*tcp) == tcp_repr());
  CHECK(std::string_view(reinterpret_cast<const char*>(tcp->payload().data()),
                         tcp->payload().size()) == kText);
}

TEST_CASE("TCP frame is the same wherever the payload is split", "[wire][frame]") {
  std::vector<std::uint8_t> whole(1514);
  const std::size_t len =
      emit_tcp_frame(whole, kSrcMac, kDstMac, ip_repr(), tcp_repr(), as_bytes(kText), {}, {});
  REQUIRE(len > 0);
  whole.resize(len);
  for (std::size_t split = 0; split <= kText.size(); ++split) {
    std::vector<std::uint8_t> out(len);
    const auto text = as_bytes(kText);
    INFO("split " << split);
    REQUIRE(emit_tcp_frame(out, kSrcMac, kDstMac, ip_repr(), tcp_repr(), text.first(split),
                           text.subspan(split), {}) == len);
    CHECK(out == whole);
  }
}

TEST_CASE("TCP frame without payload is header only", "[wire][frame]") {
  TcpRepr syn = tcp_repr();
  syn.flags = tcp_flags::kSyn;
  syn.options.mss = 1460;
  syn.options.window_scale = 7;
  syn.options.sack_permitted = true;
  std::vector<std::uint8_t> out(kTcpFrameL2L3Len + 40);
  CHECK(emit_tcp_frame(out, kSrcMac, kDstMac, ip_repr(), syn, {}, {}, {}) == out.size());
  CHECK(test::parse_whole_frame(out) == ParseError::kNone);
}

TEST_CASE("TCP frame leaves checksums to the device when asked", "[wire][frame]") {
  std::vector<std::uint8_t> out(1514);
  const std::size_t len = emit_tcp_frame(out, kSrcMac, kDstMac, ip_repr(), tcp_repr(),
                                         as_bytes(kText), {}, FrameChecksums{true, true});
  REQUIRE(len > 0);
  out.resize(len);
  const auto ip = Ipv4View::check(EthernetView::check(out)->payload());
  REQUIRE(ip);
  CHECK(ip->checksum() == 0);
  const auto tcp = TcpView::check(ip->payload());
  REQUIRE(tcp);
  const auto l4_len = static_cast<std::uint16_t>(ip->payload().size());
  CHECK(tcp->checksum() == checksum_reduce(pseudo_header_sum(ip->src(), ip->dst(), 6, l4_len)));
}

TEST_CASE("TCP frame refuses a buffer one byte short and writes nothing", "[wire][frame]") {
  const std::size_t need = kTcpFrameL2L3Len + 32 + kText.size();
  std::vector<std::uint8_t> out(need - 1, 0xee);
  CHECK(emit_tcp_frame(out, kSrcMac, kDstMac, ip_repr(), tcp_repr(), as_bytes(kText), {}, {}) ==
        0);
  CHECK(out == std::vector<std::uint8_t>(need - 1, 0xee));
}

TEST_CASE("TCP frame refuses a datagram over 65535 bytes", "[wire][frame]") {
  const std::vector<std::uint8_t> big(65535 - 20 - 32 + 1, 0x55);
  std::vector<std::uint8_t> out(70000);
  CHECK(emit_tcp_frame(out, kSrcMac, kDstMac, ip_repr(), tcp_repr(), big, {}, {}) == 0);
  CHECK(emit_tcp_frame(out, kSrcMac, kDstMac, ip_repr(), tcp_repr(),
                       std::span(big).first(big.size() - 1), {}, {}) ==
        kEthernetHeaderLen + 65535);
}
