// emit_tcp_frame: one outgoing TCP frame in one buffer, for the engine's hot path.
// Layout: Ethernet (14) | IPv4 (20, no options) | TCP header + options | payload.
// Invariant: nothing is written unless the whole frame fits, and no heap is used.
#include "stack/wire/frame.h"

#include <cstring>

namespace utcp::stack::wire {
namespace {

constexpr std::size_t kMaxIpv4TotalLen = 0xffff;

void copy_payload(std::uint8_t* dst, std::span<const std::uint8_t> payload1,
                  std::span<const std::uint8_t> payload2) {
  if (!payload1.empty()) std::memcpy(dst, payload1.data(), payload1.size());
  if (!payload2.empty()) std::memcpy(dst + payload1.size(), payload2.data(), payload2.size());
}

}  // namespace

std::size_t emit_tcp_frame(std::span<std::uint8_t> out, const MacAddr& src_mac,
                           const MacAddr& dst_mac, const Ipv4Repr& ip, const TcpRepr& tcp,
                           std::span<const std::uint8_t> payload1,
                           std::span<const std::uint8_t> payload2, FrameChecksums csum) {
  const std::size_t tcp_header_len = tcp.header_len();
  const std::size_t l4_len = tcp_header_len + payload1.size() + payload2.size();
  if (Ipv4Repr::kHeaderLen + l4_len > kMaxIpv4TotalLen) return 0;
  const std::size_t frame_len = kTcpFrameL2L3Len + l4_len;
  if (out.size() < frame_len) return 0;

  EthernetRepr{dst_mac, src_mac, ethertype::kIpv4}.emit(out);
  Ipv4Repr ipr = ip;
  ipr.protocol = ip_protocol::kTcp;
  ipr.payload_len = static_cast<std::uint16_t>(l4_len);
  ipr.emit(out.subspan(kEthernetHeaderLen), !csum.ip_by_device);

  // Copying the payload first lets the checksum run over one contiguous span,
  // whatever the parity of payload1's length.
  const std::span<std::uint8_t> segment = out.subspan(kTcpFrameL2L3Len, l4_len);
  copy_payload(segment.data() + tcp_header_len, payload1, payload2);
  emit_tcp(tcp, segment, ipr.src, ipr.dst, segment.subspan(tcp_header_len), !csum.tcp_by_device);
  return frame_len;
}

}  // namespace utcp::stack::wire
