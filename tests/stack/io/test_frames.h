// Frames for the stack/io tests: numbered raw frames, and Ethernet + IPv4 + TCP frames
// written byte by byte (RFC 791 §3.1, RFC 9293 §3.1) so these tests do not lean on the
// wire/ emitters they are meant to carry. Checks recompute checksums from scratch.
#pragma once

#include <cstdint>
#include <cstring>
#include <vector>

#include "stack/io/packet_io.h"
#include "stack/wire/byte_order.h"
#include "stack/wire/checksum.h"

namespace utcp::stack::io::testing {

inline constexpr std::size_t kEth = 14, kIp = 20, kTcp = 20;
inline constexpr std::size_t kIdOffset = 14;  // where a numbered frame keeps its number

// A frame of `len` (>= 22) bytes whose number sits after the Ethernet header, then
// again complemented, with the other bytes following from it: any single-bit change,
// also one in the number, makes it differ from numbered_bytes(frame_id(frame)).
inline PacketBuf* numbered_frame(PacketIo& io, std::uint32_t id, std::uint32_t len = 64) {
  PacketBuf* pkt = io.alloc();
  if (pkt == nullptr) return nullptr;
  pkt->len = len;
  for (std::uint32_t i = 0; i < len; ++i) pkt->data[i] = static_cast<std::uint8_t>(id * 31 + i);
  wire::store_be16(pkt->data + 12, 0x88b5);  // IEEE local experimental EtherType
  wire::store_be32(pkt->data + kIdOffset, id);
  wire::store_be32(pkt->data + kIdOffset + 4, ~id);
  return pkt;
}

inline std::uint32_t frame_id(const PacketBuf& pkt) {
  return wire::load_be32(pkt.data + kIdOffset);
}

// The bytes numbered_frame(id, len) wrote.
inline std::vector<std::uint8_t> numbered_bytes(std::uint32_t id, std::uint32_t len = 64) {
  std::vector<std::uint8_t> bytes(len);
  for (std::uint32_t i = 0; i < len; ++i) bytes[i] = static_cast<std::uint8_t>(id * 31 + i);
  wire::store_be16(bytes.data() + 12, 0x88b5);
  wire::store_be32(bytes.data() + kIdOffset, id);
  wire::store_be32(bytes.data() + kIdOffset + 4, ~id);
  return bytes;
}

struct TcpFrame {
  std::uint32_t seq = 1000;
  std::uint8_t flags = 0x18;  // PSH|ACK
  std::uint16_t ident = 7;
  std::size_t payload = 100;
  bool ip_checksum = true;   // false: leave 0 and ask the device
  bool tcp_checksum = true;  // false: store the pseudo-header sum and ask the device
};

inline constexpr wire::Ipv4Addr kSrc = wire::Ipv4Addr::from_octets(198, 18, 0, 1);
inline constexpr wire::Ipv4Addr kDst = wire::Ipv4Addr::from_octets(198, 18, 0, 2);

inline std::uint8_t payload_byte(std::size_t i) { return static_cast<std::uint8_t>(i * 7 + 3); }

// Writes the frame into pkt and sets len and the offload requests.
inline void write_tcp_frame(PacketBuf& pkt, const TcpFrame& f) {
  std::uint8_t* p = pkt.data;
  const std::size_t total = kIp + kTcp + f.payload;
  std::memset(p, 0, kEth + kIp + kTcp);
  for (int i = 0; i < 6; ++i) {
    p[i] = 0x02;
    p[6 + i] = 0x04;
  }
  wire::store_be16(p + 12, 0x0800);
  std::uint8_t* ip = p + kEth;
  ip[0] = 0x45;
  wire::store_be16(ip + 2, static_cast<std::uint16_t>(total));
  wire::store_be16(ip + 4, f.ident);
  wire::store_be16(ip + 6, 0x4000);  // DF
  ip[8] = 64;
  ip[9] = 6;
  wire::store_ipv4(ip + 12, kSrc);
  wire::store_ipv4(ip + 16, kDst);
  std::uint8_t* tcp = ip + kIp;
  wire::store_be16(tcp, 40000);
  wire::store_be16(tcp + 2, 80);
  wire::store_be32(tcp + 4, f.seq);
  wire::store_be32(tcp + 8, 1);
  tcp[12] = 5 << 4;
  tcp[13] = f.flags;
  wire::store_be16(tcp + 14, 65535);
  for (std::size_t i = 0; i < f.payload; ++i) tcp[kTcp + i] = payload_byte(i);
  pkt.len = static_cast<std::uint32_t>(kEth + total);
  pkt.l2_len = kEth;
  pkt.l3_len = kIp;
  pkt.l4_len = kTcp;

  if (f.ip_checksum) {
    wire::store_be16(ip + 10, wire::checksum_fold(wire::checksum_partial({ip, kIp})));
  }
  pkt.tx_ip_checksum = !f.ip_checksum;
  const std::uint32_t pseudo =
      wire::pseudo_header_sum(kSrc, kDst, 6, static_cast<std::uint16_t>(kTcp + f.payload));
  if (f.tcp_checksum) {
    wire::store_be16(tcp + 16,
                     wire::checksum_fold(wire::checksum_partial({tcp, kTcp + f.payload}, pseudo)));
  } else {
    wire::store_be16(tcp + 16, wire::checksum_reduce(pseudo));
  }
  pkt.tx_l4_checksum = !f.tcp_checksum;
}

inline bool ip_checksum_valid(const PacketBuf& pkt) {
  return wire::checksum_fold(wire::checksum_partial({pkt.data + kEth, kIp})) == 0;
}

inline bool tcp_checksum_valid(const PacketBuf& pkt) {
  const std::size_t l4_len = pkt.len - kEth - kIp;
  const std::uint32_t pseudo =
      wire::pseudo_header_sum(kSrc, kDst, 6, static_cast<std::uint16_t>(l4_len));
  return wire::checksum_fold(wire::checksum_partial({pkt.data + kEth + kIp, l4_len}, pseudo)) == 0;
}

}  // namespace utcp::stack::io::testing
