// Frame dispatch: Ethernet -> ARP (RFC 826) | IPv4 (RFC 791, RFC 1122 §3.2.1) -> ICMP
// (RFC 792, RFC 5927) | TCP (RFC 9293 §3.10.7). Invariant: every rejected frame lands
// in exactly one counter and nothing trusts an unchecked length. Order: input ->
// input_arp | input_ipv4 -> input_icmp | input_tcp -> dispatch_segment.
#include "stack/engine/engine.h"
#include "stack/wire/arp.h"
#include "stack/wire/ethernet.h"
#include "stack/wire/icmp.h"
#include "stack/wire/tcp.h"

namespace utcp::stack::engine {

void Engine::drop(wire::ParseError why) {
  ++counters_.parse_drops[static_cast<std::size_t>(why)];
}

void Engine::input(io::PacketBuf& buf) {
  ++counters_.frames_in;
  counters_.bytes_in += buf.len;
  wire::ParseError why = wire::ParseError::kNone;
  const std::optional<wire::EthernetView> eth = wire::EthernetView::check(buf.bytes(), &why);
  if (!eth) {
    drop(why);
    return;
  }
  const wire::MacAddr dst = eth->dst();
  if (!(dst == caps_.mac) && !dst.is_broadcast()) {
    ++counters_.drop_mac_not_for_us;
    return;
  }
  switch (eth->ethertype()) {
    case wire::ethertype::kArp:
      input_arp(eth->payload());
      return;
    case wire::ethertype::kIpv4:
      input_ipv4(eth->src(), eth->payload(), buf);
      return;
    default:
      drop(wire::ParseError::kUnsupported);
  }
}

void Engine::input_arp(std::span<const std::uint8_t> bytes) {
  wire::ParseError why = wire::ParseError::kNone;
  const std::optional<wire::ArpView> view = wire::ArpView::check(bytes, &why);
  if (!view) {
    drop(why);
    return;
  }
  const std::optional<wire::ArpRepr> arp = wire::ArpRepr::parse(*view);
  if (!arp) {
    drop(wire::ParseError::kUnsupported);
    return;
  }
  const bool request = arp->op == wire::ArpOp::kRequest;
  ++(request ? counters_.arp_requests_in : counters_.arp_replies_in);
  // Our own address or MAC coming back is a loop or a conflict, never a mapping.
  if (arp->sender_ip == cfg_.ip || arp->sender_mac == caps_.mac) {
    ++counters_.drop_bad_source;
    return;
  }
  // RFC 826 "Packet Reception": merge first (refresh a known sender), then, if
  // the packet is for us, add the sender and answer a request.
  arp_ready_.clear();
  const bool merged = arp_.refresh_if_present(arp->sender_ip, arp->sender_mac, now_, arp_ready_);
  if (arp->target_ip == cfg_.ip) {
    if (!merged) {
      arp_.update(arp->sender_ip, arp->sender_mac, now_, arp_ready_);
    }
    if (request && send_arp(wire::ArpOp::kReply, arp->sender_mac, arp->sender_mac,
                            arp->sender_ip)) {
      ++counters_.arp_replies_out;
    }
  } else if (request) {
    ++counters_.arp_for_others;
  }
  transmit_ready(arp->sender_mac);
}

void Engine::input_ipv4(const wire::MacAddr& eth_src, std::span<const std::uint8_t> bytes,
                        const io::PacketBuf& buf) {
  wire::ParseError why = wire::ParseError::kNone;
  const std::optional<wire::Ipv4View> view = wire::Ipv4View::check(bytes, &why);
  if (!view) {
    drop(why);
    return;
  }
  const std::optional<wire::Ipv4Repr> ip =
      wire::Ipv4Repr::parse(*view, !buf.rx_ip_checksum_ok, &why);
  if (!ip) {
    drop(why);
    return;
  }
  if (ip->dst != cfg_.ip) {
    ++counters_.drop_ip_not_for_us;
    return;
  }
  // RFC 1122 §3.2.1.3: a datagram from a broadcast, multicast, loopback or our own
  // address is bogus; answering it would reflect traffic.
  if (ip->src.is_unspecified() || ip->src.is_broadcast() || ip->src.is_multicast() ||
      ip->src.is_loopback() || ip->src == cfg_.ip) {
    ++counters_.drop_bad_source;
    return;
  }
  switch (ip->protocol) {
    case wire::ip_protocol::kTcp:
      input_tcp(*ip, view->payload(), buf);
      return;
    case wire::ip_protocol::kIcmp:
      input_icmp(eth_src, *ip, view->payload());
      return;
    default:
      drop(wire::ParseError::kUnsupported);
  }
}

void Engine::input_icmp(const wire::MacAddr& eth_src, const wire::Ipv4Repr& ip,
                        std::span<const std::uint8_t> bytes) {
  wire::ParseError why = wire::ParseError::kNone;
  const std::optional<wire::IcmpView> view = wire::IcmpView::check(bytes, &why);
  if (!view) {
    drop(why);
    return;
  }
  const std::optional<wire::IcmpRepr> icmp = wire::IcmpRepr::parse(*view, true, &why);
  if (!icmp) {
    if (why == wire::ParseError::kUnsupported) {
      ++counters_.drop_icmp_unhandled;
    } else {
      drop(why);
    }
    return;
  }
  switch (icmp->kind) {
    case wire::IcmpRepr::Kind::kEchoRequest:
      ++counters_.icmp_echo_in;
      // The reply goes back to the MAC the request came from: right for a
      // neighbour and for a router alike, and needs no ARP round trip.
      send_echo_reply(eth_src, ip, icmp->ident, icmp->seq_no, icmp->data);
      return;
    case wire::IcmpRepr::Kind::kEchoReply:
      ++counters_.icmp_echo_replies_in;  // to ping()
      return;
    case wire::IcmpRepr::Kind::kDestUnreachable:
      input_icmp_error(icmp->code, icmp->next_hop_mtu, icmp->data);
      return;
    default:
      // Time exceeded (RFC 1122 §4.2.3.9: a soft error TCP may ignore).
      ++counters_.drop_icmp_unhandled;
  }
}

void Engine::input_icmp_error(std::uint8_t code, std::uint16_t mtu,
                              std::span<const std::uint8_t> quoted) {
  const std::optional<wire::QuotedTcp> q = wire::parse_quoted_tcp(quoted);
  if (!q || q->src != cfg_.ip) {
    ++counters_.icmp_errors_rejected;
    return;
  }
  const wire::FourTuple tuple{{q->src, q->src_port}, {q->dst, q->dst_port}};
  const std::optional<std::uint32_t> index = flows_.find(tuple);
  if (!index) {
    ++counters_.icmp_errors_rejected;
    return;
  }
  ++counters_.icmp_errors_accepted;
  // The quoted sequence number is checked by the connection (RFC 5927 §4.1).
  sockets_.at(*index).conn->on_icmp_unreachable(q->seq, code, mtu, now_);
  settle(*index);
}

void Engine::input_tcp(const wire::Ipv4Repr& ip, std::span<const std::uint8_t> bytes,
                       const io::PacketBuf& buf) {
  wire::ParseError why = wire::ParseError::kNone;
  const std::optional<wire::TcpView> view = wire::TcpView::check(bytes, &why);
  if (!view) {
    drop(why);
    return;
  }
  if (!buf.rx_l4_checksum_ok && !view->checksum_ok(ip.src, ip.dst)) {
    drop(wire::ParseError::kBadChecksum);
    return;
  }
  const std::optional<wire::TcpRepr> seg = wire::parse_tcp(*view, &why);
  if (!seg) {
    drop(why);
    return;
  }
  const wire::FourTuple tuple{{ip.dst, seg->dst_port}, {ip.src, seg->src_port}};
  dispatch_segment(tuple, *seg, view->payload());
}

void Engine::dispatch_segment(const wire::FourTuple& tuple, const wire::TcpRepr& seg,
                              std::span<const std::uint8_t> payload) {
  if (const std::optional<std::uint32_t> index = flows_.find(tuple)) {
    if (take_over_time_wait(*index, tuple, seg)) {
      return;
    }
    Socket& s = sockets_.at(*index);
    if (drop_final_ack_on_overflow(s, seg)) {
      return;
    }
    s.conn->on_segment(seg, payload, now_);
    settle(*index);
    return;
  }
  const std::uint32_t listener = ports_.listener(tuple.local.port);
  if (listener != kNoIndex) {
    listen_segment(listener, tuple, seg, payload);
    return;
  }
  // RFC 9293 §3.10.7.1 (CLOSED): answer with a reset (never a reset to a reset).
  send_reset(tuple, seg, payload.size());
}

}  // namespace utcp::stack::engine
