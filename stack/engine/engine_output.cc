// Frames out: the SegmentSink connections emit into, engine-built frames (RST, ARP,
// ICMP echo reply), the ARP wait queue (RFC 1122 §2.3.2.2) and the TX batch.
// Invariant: every PacketBuf allocated here is in exactly one place — tx_, the ArpCache,
// or back with the device (taken by tx_burst, or freed and counted).
#include <algorithm>
#include <cstring>

#include "stack/engine/engine.h"
#include "stack/tcp/handshake.h"
#include "stack/wire/arp.h"
#include "stack/wire/ethernet.h"
#include "stack/wire/frame.h"
#include "stack/wire/icmp.h"

namespace utcp::stack::engine {
namespace {

// Pads a frame to the Ethernet minimum (the device adds only the FCS).
std::uint32_t pad_frame(io::PacketBuf& buf, std::size_t len) {
  if (len < wire::kEthernetMinFrameLen) {
    std::memset(buf.data + len, 0, wire::kEthernetMinFrameLen - len);
    len = wire::kEthernetMinFrameLen;
  }
  return static_cast<std::uint32_t>(len);
}

}  // namespace

io::PacketBuf* Engine::alloc_frame() {
  io::PacketBuf* buf = io_.alloc();
  if (buf == nullptr) {
    ++counters_.alloc_failures;
    return nullptr;
  }
  if (buf->capacity < wire::kEthernetMinFrameLen) {
    io_.free(buf);
    ++counters_.tx_frame_too_big;
    return nullptr;
  }
  buf->tx_ip_checksum = false;
  buf->tx_l4_checksum = false;
  buf->tso_segsz = 0;
  return buf;
}

std::optional<wire::Ipv4Addr> Engine::next_hop(wire::Ipv4Addr dst) const {
  if (dst.in_subnet(cfg_.ip, cfg_.prefix_len)) {
    return dst;
  }
  return cfg_.gateway;
}

bool Engine::emit(const wire::FourTuple& tuple, const tcp::IpFields& fields, const wire::TcpRepr& repr,
                  std::span<const std::uint8_t> payload1,
                  std::span<const std::uint8_t> payload2) {
  const std::optional<wire::Ipv4Addr> hop = next_hop(tuple.remote.addr);
  if (!hop) {
    ++counters_.drop_no_route;
    return false;
  }
  io::PacketBuf* buf = alloc_frame();
  if (buf == nullptr) {
    return false;
  }
  const std::optional<wire::MacAddr> mac = arp_.lookup(*hop, now_);
  wire::Ipv4Repr ip;
  ip.src = tuple.local.addr;
  ip.dst = tuple.remote.addr;
  ip.ident = next_ip_ident_++;
  ip.tos = fields.tos;
  ip.ttl = fields.ttl;
  const wire::FrameChecksums csum{caps_.tx_ip_checksum, caps_.tx_l4_checksum};
  const std::size_t len =
      wire::emit_tcp_frame({buf->data, buf->capacity}, caps_.mac, mac.value_or(wire::MacAddr{}),
                           ip, repr, payload1, payload2, csum);
  if (len == 0) {
    io_.free(buf);
    ++counters_.tx_frame_too_big;
    return false;
  }
  buf->len = pad_frame(*buf, len);
  buf->tx_ip_checksum = caps_.tx_ip_checksum;
  buf->tx_l4_checksum = caps_.tx_l4_checksum;
  buf->l2_len = static_cast<std::uint8_t>(wire::kEthernetHeaderLen);
  buf->l3_len = static_cast<std::uint8_t>(wire::Ipv4Repr::kHeaderLen);
  buf->l4_len = static_cast<std::uint8_t>(repr.header_len());
  if (mac) {
    queue_tx(buf);
  } else {
    route_frame(*hop, buf);
  }
  return true;
}

void Engine::route_frame(wire::Ipv4Addr hop, io::PacketBuf* buf) {
  arp_dropped_.clear();
  if (arp_.enqueue(hop, buf, now_, arp_dropped_) == arp::ArpCache::Enqueue::kSendRequest &&
      send_arp(wire::ArpOp::kRequest, wire::MacAddr::broadcast(), wire::MacAddr{}, hop)) {
    ++counters_.arp_requests_out;
  }
  free_dropped();
}

void Engine::send_reset(const wire::FourTuple& tuple, const wire::TcpRepr& seg,
                        std::size_t payload_len) {
  const std::optional<wire::TcpRepr> rst = tcp::reset_for(seg, payload_len);
  if (!rst) {
    ++counters_.drop_rst_no_socket;
    return;
  }
  if (emit(tuple, tcp::IpFields{}, *rst, {}, {})) {
    ++counters_.rst_sent_no_socket;
  }
}

// An ICMP message in an IPv4 frame to dst_mac (all zero when ARP fills it in later).
io::PacketBuf* Engine::icmp_frame(const wire::MacAddr& dst_mac, wire::Ipv4Addr dst,
                                  const wire::IcmpRepr& icmp) {
  constexpr std::size_t kL2L3 = wire::kEthernetHeaderLen + wire::Ipv4Repr::kHeaderLen;
  io::PacketBuf* buf = alloc_frame();
  if (buf == nullptr) {
    return nullptr;
  }
  const std::size_t len = kL2L3 + icmp.len();
  if (len > buf->capacity || icmp.len() > 0xffff - wire::Ipv4Repr::kHeaderLen) {
    io_.free(buf);
    ++counters_.tx_frame_too_big;
    return nullptr;
  }
  const std::span<std::uint8_t> out{buf->data, buf->capacity};
  wire::EthernetRepr{dst_mac, caps_.mac, wire::ethertype::kIpv4}.emit(out);
  wire::Ipv4Repr ip;
  ip.src = cfg_.ip;
  ip.dst = dst;
  ip.protocol = wire::ip_protocol::kIcmp;
  ip.ident = next_ip_ident_++;
  ip.dont_fragment = false;
  ip.payload_len = static_cast<std::uint16_t>(icmp.len());
  ip.emit(out.subspan(wire::kEthernetHeaderLen), true);
  icmp.emit(out.subspan(kL2L3));
  buf->len = pad_frame(*buf, len);
  return buf;
}

void Engine::send_echo_reply(const wire::MacAddr& dst_mac, const wire::Ipv4Repr& request_ip,
                             std::uint16_t ident, std::uint16_t seq_no,
                             std::span<const std::uint8_t> data) {
  const wire::IcmpRepr reply{wire::IcmpRepr::Kind::kEchoReply, 0, ident, seq_no, 0, data};
  if (io::PacketBuf* buf = icmp_frame(dst_mac, request_ip.src, reply)) {
    queue_tx(buf);
    ++counters_.icmp_echo_out;
  }
}

Errno Engine::ping(wire::Ipv4Addr dst, std::uint16_t ident, std::uint16_t seq_no, Instant now) {
  now_ = now;
  const std::optional<wire::Ipv4Addr> hop = next_hop(dst);
  if (!hop) {
    ++counters_.drop_no_route;
    return ENETUNREACH;
  }
  static constexpr std::uint8_t kData[] = {'u', 't', 'c', 'p', ' ', 'p', 'i', 'n', 'g'};
  const wire::IcmpRepr request{wire::IcmpRepr::Kind::kEchoRequest, 0, ident, seq_no, 0, kData};
  const std::optional<wire::MacAddr> mac = arp_.lookup(*hop, now_);
  io::PacketBuf* buf = icmp_frame(mac.value_or(wire::MacAddr{}), dst, request);
  if (buf == nullptr) {
    return ENOBUFS;
  }
  ++counters_.icmp_echo_requests_out;
  if (mac) {
    queue_tx(buf);
  } else {
    route_frame(*hop, buf);
  }
  return 0;
}

bool Engine::send_arp(wire::ArpOp op, const wire::MacAddr& eth_dst,
                      const wire::MacAddr& target_mac, wire::Ipv4Addr target_ip) {
  io::PacketBuf* buf = alloc_frame();
  if (buf == nullptr) {
    return false;
  }
  const std::span<std::uint8_t> out{buf->data, buf->capacity};
  wire::EthernetRepr{eth_dst, caps_.mac, wire::ethertype::kArp}.emit(out);
  wire::ArpRepr{op, caps_.mac, cfg_.ip, target_mac, target_ip}.emit(
      out.subspan(wire::kEthernetHeaderLen));
  buf->len = pad_frame(*buf, wire::kEthernetHeaderLen + wire::ArpRepr::kLen);
  queue_tx(buf);
  return true;
}

void Engine::transmit_ready(const wire::MacAddr& mac) {
  for (io::PacketBuf* buf : arp_ready_) {
    std::memcpy(buf->data, mac.bytes.data(), mac.bytes.size());
    queue_tx(buf);
  }
  arp_ready_.clear();
}

void Engine::free_dropped() {
  for (io::PacketBuf* buf : arp_dropped_) {
    io_.free(buf);
    ++counters_.drop_arp_pending;
  }
  arp_dropped_.clear();
}

void Engine::on_arp_timer(Instant now) {
  arp_resend_.clear();
  arp_dropped_.clear();
  arp_.on_timer(now, arp_resend_, arp_dropped_);
  for (const wire::Ipv4Addr ip : arp_resend_) {
    if (send_arp(wire::ArpOp::kRequest, wire::MacAddr::broadcast(), wire::MacAddr{}, ip)) {
      ++counters_.arp_requests_out;
    }
  }
  free_dropped();
}

void Engine::queue_tx(io::PacketBuf* buf) {
  // Hand the device full bursts as they form; what it refuses stays queued.
  if (tx_.size() >= rx_.size()) {
    flush_tx();
  }
  if (tx_.size() >= tx_.capacity()) {
    io_.free(buf);
    ++counters_.tx_freed;
    return;
  }
  tx_.push_back(buf);
}

std::size_t Engine::flush_tx() {
  if (tx_.empty()) {
    return 0;
  }
  // Lengths are read before the hand-over: accepted buffers belong to the device.
  std::uint64_t bytes = 0;
  for (const io::PacketBuf* buf : tx_) {
    bytes += buf->len;
  }
  const std::size_t sent = io_.tx_burst(tx_, now_);
  for (std::size_t i = sent; i < tx_.size(); ++i) {
    bytes -= tx_[i]->len;
  }
  counters_.frames_out += sent;
  counters_.bytes_out += bytes;
  counters_.tx_refused += tx_.size() - sent;
  tx_.erase(tx_.begin(), tx_.begin() + static_cast<std::ptrdiff_t>(sent));
  return sent;
}

std::size_t Engine::finish_tx() {
  std::size_t sent = 0;
  while (!tx_.empty()) {
    const std::size_t n = flush_tx();
    if (n == 0) {
      break;
    }
    sent += n;
  }
  if (tx_.empty() || sent > 0) {
    tx_stalls_ = 0;
  } else if (++tx_stalls_ >= cfg_.tx_stall_polls) {
    // The device has taken nothing for a while (link down, peer stuck): give the
    // buffers back rather than hold the pool hostage. TCP retransmits.
    drop_held_tx();
  }
  return sent;
}

void Engine::drop_held_tx() {
  for (io::PacketBuf* buf : tx_) {
    io_.free(buf);
  }
  counters_.tx_freed += tx_.size();
  tx_.clear();
  tx_stalls_ = 0;
}

}  // namespace utcp::stack::engine
