// Helpers shared by the wire/ tests: exact-size heap copies (so ASan flags any read
// past the end), a whole-frame parse pipeline, and a deterministic byte generator.
// Invariant: nothing here depends on time, randomness or the host.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "stack/wire/arp.h"
#include "stack/wire/ethernet.h"
#include "stack/wire/icmp.h"
#include "stack/wire/ipv4.h"
#include "stack/wire/parse_error.h"
#include "stack/wire/tcp.h"

namespace utcp::stack::wire::test {

inline std::vector<std::uint8_t> copy_of(std::span<const std::uint8_t> bytes) {
  return {bytes.begin(), bytes.end()};
}

// The first error any layer reports for a whole Ethernet frame, kNone if every
// layer (Ethernet, then ARP or IPv4 + TCP/ICMP, checksums included) accepts it.
inline ParseError parse_whole_frame(std::span<const std::uint8_t> frame) {
  ParseError why = ParseError::kNone;
  const auto eth = EthernetView::check(frame, &why);
  if (!eth) return why;
  if (eth->ethertype() == ethertype::kArp) {
    const auto arp = ArpView::check(eth->payload(), &why);
    if (!arp) return why;
    return ArpRepr::parse(*arp) ? ParseError::kNone : ParseError::kUnsupported;
  }
  if (eth->ethertype() != ethertype::kIpv4) return ParseError::kUnsupported;
  const auto ip_view = Ipv4View::check(eth->payload(), &why);
  if (!ip_view) return why;
  const auto ip = Ipv4Repr::parse(*ip_view, true, &why);
  if (!ip) return why;
  if (ip->protocol == ip_protocol::kIcmp) {
    const auto icmp = IcmpView::check(ip_view->payload(), &why);
    if (!icmp) return why;
    return IcmpRepr::parse(*icmp, true, &why) ? ParseError::kNone : why;
  }
  if (ip->protocol != ip_protocol::kTcp) return ParseError::kUnsupported;
  const auto tcp = TcpView::check(ip_view->payload(), &why);
  if (!tcp) return why;
  if (!tcp->checksum_ok(ip->src, ip->dst)) return ParseError::kBadChecksum;
  return parse_tcp(*tcp, &why) ? ParseError::kNone : why;
}

// A fixed pseudo-random byte sequence (a 32-bit LCG), for checksum comparisons.
inline std::vector<std::uint8_t> pattern_bytes(std::size_t n, std::uint32_t seed) {
  std::vector<std::uint8_t> out(n);
  for (auto& b : out) {
    seed = seed * 1664525u + 1013904223u;
    b = static_cast<std::uint8_t>(seed >> 24);
  }
  return out;
}

}  // namespace utcp::stack::wire::test
