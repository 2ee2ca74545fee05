// Raw frame builders and the one-engine fixture.
#include "stack/engine/support/frames.h"

#include <algorithm>
#include <catch2/catch.hpp>
#include <cstring>

#include "stack/engine/support/sim.h"
#include "stack/wire/ethernet.h"
#include "stack/wire/frame.h"

namespace utcp::stack::engine::test {

Frame arp_frame(wire::ArpOp op, const wire::MacAddr& eth_dst, const wire::MacAddr& sender_mac,
                wire::Ipv4Addr sender_ip, const wire::MacAddr& target_mac,
                wire::Ipv4Addr target_ip) {
  Frame f(wire::kEthernetMinFrameLen, 0);
  wire::EthernetRepr{eth_dst, sender_mac, wire::ethertype::kArp}.emit(f);
  wire::ArpRepr{op, sender_mac, sender_ip, target_mac, target_ip}.emit(
      std::span<std::uint8_t>(f).subspan(wire::kEthernetHeaderLen));
  return f;
}

Frame ipv4_frame(const wire::MacAddr& dst, const wire::MacAddr& src, const wire::Ipv4Repr& ip,
                 std::span<const std::uint8_t> payload) {
  constexpr std::size_t kL2L3 = wire::kEthernetHeaderLen + wire::Ipv4Repr::kHeaderLen;
  Frame f(std::max(kL2L3 + payload.size(), wire::kEthernetMinFrameLen), 0);
  wire::EthernetRepr{dst, src, wire::ethertype::kIpv4}.emit(f);
  wire::Ipv4Repr header = ip;
  header.payload_len = static_cast<std::uint16_t>(payload.size());
  header.emit(std::span<std::uint8_t>(f).subspan(wire::kEthernetHeaderLen), true);
  std::copy(payload.begin(), payload.end(), f.begin() + kL2L3);
  return f;
}

Frame icmp_echo_frame(const wire::MacAddr& dst, const wire::MacAddr& src, wire::Ipv4Addr ip_src,
                      wire::Ipv4Addr ip_dst, std::uint16_t ident, std::uint16_t seq_no,
                      std::span<const std::uint8_t> data) {
  const wire::IcmpRepr echo{wire::IcmpRepr::Kind::kEchoRequest, 0, ident, seq_no, 0, data};
  std::vector<std::uint8_t> icmp(echo.len());
  echo.emit(icmp);
  wire::Ipv4Repr ip;
  ip.src = ip_src;
  ip.dst = ip_dst;
  ip.protocol = wire::ip_protocol::kIcmp;
  return ipv4_frame(dst, src, ip, icmp);
}

Frame tcp_frame(const wire::MacAddr& dst, const wire::MacAddr& src, wire::Ipv4Addr ip_src,
                wire::Ipv4Addr ip_dst, const wire::TcpRepr& tcp,
                std::span<const std::uint8_t> payload) {
  Frame f(2048, 0);
  wire::Ipv4Repr ip;
  ip.src = ip_src;
  ip.dst = ip_dst;
  const std::size_t len =
      wire::emit_tcp_frame(f, src, dst, ip, tcp, payload, {}, wire::FrameChecksums{});
  REQUIRE(len > 0);
  f.resize(std::max(len, wire::kEthernetMinFrameLen));
  return f;
}

std::optional<wire::ArpRepr> as_arp(const Frame& f) {
  const auto eth = wire::EthernetView::check(f);
  if (!eth || eth->ethertype() != wire::ethertype::kArp) return std::nullopt;
  const auto view = wire::ArpView::check(eth->payload());
  if (!view) return std::nullopt;
  return wire::ArpRepr::parse(*view);
}

std::optional<ParsedTcp> as_tcp(std::span<const std::uint8_t> frame) {
  const auto eth = wire::EthernetView::check(frame);
  if (!eth || eth->ethertype() != wire::ethertype::kIpv4) return std::nullopt;
  const auto ipv = wire::Ipv4View::check(eth->payload());
  if (!ipv) return std::nullopt;
  const auto ip = wire::Ipv4Repr::parse(*ipv, true);
  if (!ip || ip->protocol != wire::ip_protocol::kTcp) return std::nullopt;
  const auto tv = wire::TcpView::check(ipv->payload());
  if (!tv || !tv->checksum_ok(ip->src, ip->dst)) return std::nullopt;
  const auto tcp = wire::parse_tcp(*tv);
  if (!tcp) return std::nullopt;
  return ParsedTcp{eth->dst(), *ip, *tcp, tv->payload()};
}

EngineConfig RawPeer::default_config() { return test_engine_config(kEngineIp, 7); }

RawPeer::RawPeer(EngineConfig cfg, io::MemoryLinkConfig link)
    : link_cfg_(link),
      link_(link_cfg_), now_(instant_from_us(1'000'000'000)), engine_(cfg, link_.b(), now_) {}

void RawPeer::send(const Frame& frame) {
  io::PacketBuf* buf = link_.a().alloc();
  REQUIRE(buf != nullptr);
  REQUIRE(frame.size() <= buf->capacity);
  std::memcpy(buf->data, frame.data(), frame.size());
  buf->len = static_cast<std::uint32_t>(frame.size());
  io::PacketBuf* const one[] = {buf};
  REQUIRE(link_.a().tx_burst(one, now_) == 1);
}

void RawPeer::introduce() {
  send(arp_frame(wire::ArpOp::kRequest, wire::MacAddr::broadcast(), peer_mac(), kPeerIp,
                 wire::MacAddr{}, kEngineIp));
  exchange();
}

void RawPeer::send_tcp(const wire::TcpRepr& tcp, std::span<const std::uint8_t> payload) {
  send(tcp_frame(engine_mac(), peer_mac(), kPeerIp, kEngineIp, tcp, payload));
}

std::vector<Frame> RawPeer::exchange() {
  engine_.poll(now_);
  std::vector<Frame> out;
  io::PacketBuf* bufs[32];
  for (;;) {
    const std::size_t n = link_.a().rx_burst(bufs, now_);
    for (std::size_t i = 0; i < n; ++i) {
      out.emplace_back(bufs[i]->data, bufs[i]->data + bufs[i]->len);
      link_.a().free(bufs[i]);
    }
    if (n < 32) return out;
  }
}

}  // namespace utcp::stack::engine::test
