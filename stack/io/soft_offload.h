// NIC offloads in software, over Ethernet + IPv4 + TCP: TX checksum fill, TSO, RX
// checksum verification. Read RFC 1071, RFC 791 §3.1, RFC 9293 §3.1 and DPDK's TX
// offload contract (the TCP checksum field holds the pseudo-header sum).
// Invariant: nothing is read or written outside [data, data + len) / capacity.
#pragma once

#include <cstddef>
#include <span>

#include "stack/io/packet_io.h"

namespace utcp::stack::io {

// Computes the checksums `pkt` asks the device for (tx_ip_checksum, tx_l4_checksum,
// located by l2_len/l3_len) and clears those requests. False, with the frame left as
// it was, when the header lengths do not fit the frame or the L4 protocol is not TCP.
bool fill_tx_checksums(PacketBuf& pkt);

// Sets rx_ip_checksum_ok / rx_l4_checksum_ok for the checks `caps` claims
// (rx_ip_checksum / rx_l4_checksum): true only when the IPv4 header / TCP checksum
// verifies. Anything else (not IPv4, not TCP, a fragment, truncated) reads false,
// which tells the stack to check in software, as a NIC reports "unknown".
void verify_rx_checksums(PacketBuf& pkt, const IoCapabilities& caps);

// Segments a frame that asks for TSO (tso_segsz > 0, header lengths in l2/l3/l4_len).
// tso_segment_count: how many segments it makes, 0 when it cannot be segmented.
std::size_t tso_segment_count(const PacketBuf& pkt);
// Writes the segments into `segs` (tso_segment_count(pkt) buffers, each with room for
// the headers plus tso_segsz bytes): sequence numbers advance, IPv4 ids count up,
// FIN and PSH stay on the last segment only and CWR on the first only (what NICs and
// Linux GSO do), and both checksums are computed. False if it cannot.
bool tso_segment(const PacketBuf& pkt, std::span<PacketBuf* const> segs);

}  // namespace utcp::stack::io
