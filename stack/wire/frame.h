// Builds a whole outgoing TCP frame (Ethernet + IPv4 + TCP + payload) in one pass:
// the hot-path helper behind the engine's SegmentSink. Read RFC 9293 §3.1 for the
// checksum and DPDK's TX offload contract (pseudo-header sum in the TCP field).
// Invariant: either the whole frame is written, or nothing and 0 is returned.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

#include "stack/wire/addresses.h"
#include "stack/wire/ethernet.h"
#include "stack/wire/ipv4.h"
#include "stack/wire/tcp.h"

namespace utcp::stack::wire {

// Bytes in front of the TCP header of every frame emit_tcp_frame builds.
inline constexpr std::size_t kTcpFrameL2L3Len = kEthernetHeaderLen + Ipv4Repr::kHeaderLen;

struct FrameChecksums {
  bool ip_by_device = false;   // leave the IPv4 checksum 0
  bool tcp_by_device = false;  // store the pseudo-header sum in the TCP checksum
};

// Writes Ethernet + IPv4 + TCP header + options, then copies payload1 and payload2
// (the two halves of a ring-buffer region) right after the header. Uses ip.src,
// ip.dst, ip.tos, ip.ttl, ip.ident and ip.dont_fragment; protocol and payload_len are set
// here. Returns the frame length, or 0 if `out` is too small or the datagram would
// exceed 65535 bytes. Checksums are computed in software unless the device does them.
std::size_t emit_tcp_frame(std::span<std::uint8_t> out, const MacAddr& src_mac,
                           const MacAddr& dst_mac, const Ipv4Repr& ip, const TcpRepr& tcp,
                           std::span<const std::uint8_t> payload1,
                           std::span<const std::uint8_t> payload2, FrameChecksums csum);

}  // namespace utcp::stack::wire
