// Frame classification for software RSS (rules in steering.h). Reads only the few
// header bytes it needs, each behind an explicit length check; a frame too short for
// a rule falls through to engine 0, where the stack counts and drops it.
#include "dpdk_io/steering.h"

#include "stack/wire/arp.h"
#include "stack/wire/byte_order.h"
#include "stack/wire/ethernet.h"
#include "stack/wire/icmp.h"
#include "stack/wire/ipv4.h"

namespace utcp::dpdk_io {
namespace {

namespace wire = stack::wire;

constexpr std::size_t kEthLen = wire::kEthernetHeaderLen;

// Callers have checked the length: these read inside `b`.
std::uint16_t be16(std::span<const std::uint8_t> b, std::size_t at) {
  return wire::load_be16(b.data() + at);
}
std::uint32_t be32(std::span<const std::uint8_t> b, std::size_t at) {
  return wire::load_be32(b.data() + at);
}

bool is_icmp_error(std::uint8_t type) {
  // RFC 792: destination unreachable, source quench, redirect, time exceeded,
  // parameter problem all quote the offending datagram.
  return type == 3 || type == 4 || type == 5 || type == 11 || type == 12;
}

}  // namespace

SteerTarget Steering::for_hash(std::uint32_t hash) const {
  SteerTarget t;
  t.engine = reta_.queue_for(hash);
  t.hash = hash;
  t.hash_valid = true;
  return t;
}

SteerTarget Steering::classify(std::span<const std::uint8_t> frame,
                               const std::uint32_t* tcp_hash) const {
  SteerTarget to_zero;
  if (frame.size() < kEthLen) return to_zero;
  const std::uint16_t ethertype = be16(frame, 12);

  if (ethertype == wire::ethertype::kArp) {
    // RFC 826 packet: op at 6, sender IP at 14, target IP at 24.
    if (frame.size() < kEthLen + 28) return to_zero;
    const bool reply = be16(frame, kEthLen + 6) == static_cast<std::uint16_t>(wire::ArpOp::kReply);
    const bool gratuitous = be32(frame, kEthLen + 14) == be32(frame, kEthLen + 24);
    if (reply || gratuitous) to_zero.kind = SteerTarget::Kind::kAllEngines;
    return to_zero;
  }
  if (ethertype != wire::ethertype::kIpv4 || frame.size() < kEthLen + 20) return to_zero;

  const std::span<const std::uint8_t> ip = frame.subspan(kEthLen);
  const std::size_t ihl = std::size_t{ip[0] & 0x0fu} * 4;
  if ((ip[0] >> 4) != 4 || ihl < 20 || ip.size() < ihl) return to_zero;
  // A fragment carries no ports (or not the first 8 bytes of them): the stack drops
  // fragments anyway (we send DF and clamp the MSS).
  if ((be16(ip, 6) & 0x3fffu) != 0) return to_zero;
  const std::uint8_t proto = ip[9];
  const wire::Ipv4Addr src{be32(ip, 12)}, dst{be32(ip, 16)};
  const std::span<const std::uint8_t> l4 = ip.subspan(ihl);

  if (proto == wire::ip_protocol::kTcp) {
    if (l4.size() < 4) return to_zero;
    SteerTarget t = tcp_hash != nullptr
                        ? for_hash(*tcp_hash)
                        : for_hash(stack::rss::hash_ipv4_tcp(key_, src, dst, be16(l4, 0),
                                                              be16(l4, 2)));
    t.is_tcp = true;
    return t;
  }
  if (proto == wire::ip_protocol::kIcmp && l4.size() >= wire::kIcmpHeaderLen && is_icmp_error(l4[0])) {
    if (auto quoted = wire::parse_quoted_tcp(l4.subspan(wire::kIcmpHeaderLen))) {
      // The key is symmetric, so the quoted (outgoing) direction hashes like replies.
      SteerTarget t = for_hash(stack::rss::hash_ipv4_tcp(key_, quoted->src, quoted->dst,
                                                         quoted->src_port, quoted->dst_port));
      t.hash_valid = false;  // a hash of the quoted flow, not of this packet
      return t;
    }
  }
  return to_zero;
}

}  // namespace utcp::dpdk_io
