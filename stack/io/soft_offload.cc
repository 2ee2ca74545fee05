// Software offloads over raw Ethernet + IPv4 + TCP bytes, as a NIC sees them: field
// offsets from RFC 791 §3.1 and RFC 9293 §3.1. Every offset is checked against the
// frame length in locate() before any byte is touched.
// Invariant: a function that returns false has not modified the frame.
#include "stack/io/soft_offload.h"

#include <algorithm>
#include <cstring>
#include <optional>

#include "stack/wire/byte_order.h"
#include "stack/wire/checksum.h"

namespace utcp::stack::io {

namespace {

constexpr std::size_t kEthernetLen = 14;
constexpr std::uint16_t kEtherTypeIpv4 = 0x0800;
constexpr std::uint8_t kProtocolTcp = 6;
constexpr std::size_t kIpMinLen = 20, kTcpMinLen = 20;
// IPv4 header fields (RFC 791 §3.1), from the start of the header.
constexpr std::size_t kIpTotalLen = 2, kIpIdent = 4, kIpFragment = 6, kIpProtocol = 9,
                      kIpChecksum = 10, kIpSrc = 12, kIpDst = 16;
// TCP header fields (RFC 9293 §3.1), from the start of the header.
constexpr std::size_t kTcpSeq = 4, kTcpFlags = 13, kTcpChecksum = 16;
constexpr std::uint8_t kFin = 0x01, kPsh = 0x08, kCwr = 0x80;

// Where the headers of one IPv4 datagram sit in a frame.
struct Layout {
  std::size_t l3 = 0;   // IPv4 header start
  std::size_t l4 = 0;   // L4 header start
  std::size_t end = 0;  // datagram end: l3 + IPv4 total length (Ethernet padding excluded)
  std::uint8_t protocol = 0;
};

// The layout from the transmit metadata (l2_len, l3_len), checked against the frame.
std::optional<Layout> locate_tx(const PacketBuf& pkt) {
  Layout at;
  at.l3 = pkt.l2_len;
  at.l4 = at.l3 + pkt.l3_len;
  if (pkt.l3_len < kIpMinLen || at.l4 > pkt.len) return std::nullopt;
  at.end = at.l3 + wire::load_be16(pkt.data + at.l3 + kIpTotalLen);
  at.protocol = pkt.data[at.l3 + kIpProtocol];
  if (at.end < at.l4 || at.end > pkt.len) return std::nullopt;
  return at;
}

// The layout parsed from the bytes, as a receiving NIC must.
std::optional<Layout> locate_rx(const PacketBuf& pkt) {
  if (pkt.len < kEthernetLen + kIpMinLen) return std::nullopt;
  if (wire::load_be16(pkt.data + 12) != kEtherTypeIpv4) return std::nullopt;
  const std::uint8_t version_ihl = pkt.data[kEthernetLen];
  if ((version_ihl >> 4) != 4) return std::nullopt;
  Layout at;
  at.l3 = kEthernetLen;
  at.l4 = at.l3 + std::size_t{version_ihl & 0x0fu} * 4;
  if (at.l4 < at.l3 + kIpMinLen || at.l4 > pkt.len) return std::nullopt;
  at.end = at.l3 + wire::load_be16(pkt.data + at.l3 + kIpTotalLen);
  at.protocol = pkt.data[at.l3 + kIpProtocol];
  if (at.end < at.l4 || at.end > pkt.len) return std::nullopt;
  return at;
}

std::span<std::uint8_t> range(std::uint8_t* data, std::size_t from, std::size_t to) {
  return {data + from, to - from};
}

void store_ip_checksum(std::uint8_t* data, const Layout& at) {
  wire::store_be16(data + at.l3 + kIpChecksum, 0);
  wire::store_be16(data + at.l3 + kIpChecksum,
                   wire::checksum_fold(wire::checksum_partial(range(data, at.l3, at.l4))));
}

// The full TCP checksum, pseudo-header included, over [l4, end).
void store_tcp_checksum(std::uint8_t* data, const Layout& at) {
  const wire::Ipv4Addr src = wire::load_ipv4(data + at.l3 + kIpSrc);
  const wire::Ipv4Addr dst = wire::load_ipv4(data + at.l3 + kIpDst);
  const auto l4_len = static_cast<std::uint16_t>(at.end - at.l4);
  wire::store_be16(data + at.l4 + kTcpChecksum, 0);
  const std::uint32_t sum = wire::pseudo_header_sum(src, dst, kProtocolTcp, l4_len);
  wire::store_be16(data + at.l4 + kTcpChecksum,
                   wire::checksum_fold(wire::checksum_partial(range(data, at.l4, at.end), sum)));
}

bool is_fragment(const std::uint8_t* data, const Layout& at) {
  // More-fragments flag or a nonzero offset (RFC 791 §3.1).
  return (wire::load_be16(data + at.l3 + kIpFragment) & 0x3fffu) != 0;
}

struct TsoPlan {
  Layout at;
  std::size_t headers = 0;  // l2 + l3 + l4 header bytes copied into every segment
  std::size_t payload = 0;
  std::size_t count = 0;
};

std::optional<TsoPlan> plan_tso(const PacketBuf& pkt) {
  const auto at = locate_tx(pkt);
  if (!at || at->protocol != kProtocolTcp || pkt.tso_segsz == 0) return std::nullopt;
  if (pkt.l4_len < kTcpMinLen || at->l4 + pkt.l4_len > at->end) return std::nullopt;
  TsoPlan plan;
  plan.at = *at;
  plan.headers = at->l4 + pkt.l4_len;
  plan.payload = at->end - plan.headers;
  plan.count = std::max<std::size_t>(1, (plan.payload + pkt.tso_segsz - 1) / pkt.tso_segsz);
  return plan;
}

void write_segment(const PacketBuf& pkt, const TsoPlan& plan, std::size_t i, PacketBuf& seg) {
  const std::size_t offset = i * pkt.tso_segsz;
  const std::size_t chunk = std::min<std::size_t>(pkt.tso_segsz, plan.payload - offset);
  std::memcpy(seg.data, pkt.data, plan.headers);
  std::memcpy(seg.data + plan.headers, pkt.data + plan.headers + offset, chunk);
  seg.len = static_cast<std::uint32_t>(plan.headers + chunk);

  Layout at = plan.at;
  at.end = seg.len;
  std::uint8_t* ip = seg.data + at.l3;
  wire::store_be16(ip + kIpTotalLen, static_cast<std::uint16_t>(at.end - at.l3));
  wire::store_be16(ip + kIpIdent, static_cast<std::uint16_t>(wire::load_be16(ip + kIpIdent) + i));
  store_ip_checksum(seg.data, at);

  std::uint8_t* tcp = seg.data + at.l4;
  wire::store_be32(tcp + kTcpSeq,
                   wire::load_be32(tcp + kTcpSeq) + static_cast<std::uint32_t>(offset));
  std::uint8_t flags = tcp[kTcpFlags];
  if (i + 1 != plan.count) flags &= static_cast<std::uint8_t>(~(kFin | kPsh));
  if (i != 0) flags &= static_cast<std::uint8_t>(~kCwr);
  tcp[kTcpFlags] = flags;
  store_tcp_checksum(seg.data, at);
}

}  // namespace

bool fill_tx_checksums(PacketBuf& pkt) {
  const auto at = locate_tx(pkt);
  if (!at) return false;
  if (pkt.tx_l4_checksum && (at->protocol != kProtocolTcp || at->end - at->l4 < kTcpMinLen)) {
    return false;
  }
  if (pkt.tx_ip_checksum) store_ip_checksum(pkt.data, *at);
  if (pkt.tx_l4_checksum) {
    // DPDK's contract: the field already holds the pseudo-header sum, so the device
    // sums the segment as it is and stores the complement.
    const auto segment = range(pkt.data, at->l4, at->end);
    wire::store_be16(pkt.data + at->l4 + kTcpChecksum,
                     wire::checksum_fold(wire::checksum_partial(segment)));
  }
  pkt.tx_ip_checksum = false;
  pkt.tx_l4_checksum = false;
  return true;
}

void verify_rx_checksums(PacketBuf& pkt, const IoCapabilities& caps) {
  pkt.rx_ip_checksum_ok = false;
  pkt.rx_l4_checksum_ok = false;
  const auto at = locate_rx(pkt);
  if (!at) return;
  const bool ip_ok = wire::checksum_fold(wire::checksum_partial(range(pkt.data, at->l3, at->l4))) == 0;
  pkt.rx_ip_checksum_ok = caps.rx_ip_checksum && ip_ok;
  if (!caps.rx_l4_checksum || at->protocol != kProtocolTcp || is_fragment(pkt.data, *at) ||
      at->end - at->l4 < kTcpMinLen) {
    return;
  }
  const std::uint32_t pseudo = wire::pseudo_header_sum(
      wire::load_ipv4(pkt.data + at->l3 + kIpSrc), wire::load_ipv4(pkt.data + at->l3 + kIpDst),
      kProtocolTcp, static_cast<std::uint16_t>(at->end - at->l4));
  pkt.rx_l4_checksum_ok =
      wire::checksum_fold(wire::checksum_partial(range(pkt.data, at->l4, at->end), pseudo)) == 0;
}

std::size_t tso_segment_count(const PacketBuf& pkt) {
  const auto plan = plan_tso(pkt);
  return plan ? plan->count : 0;
}

bool tso_segment(const PacketBuf& pkt, std::span<PacketBuf* const> segs) {
  const auto plan = plan_tso(pkt);
  if (!plan || segs.size() != plan->count) return false;
  const std::size_t need = plan->headers + std::min<std::size_t>(pkt.tso_segsz, plan->payload);
  for (const PacketBuf* seg : segs) {
    if (seg->capacity < need) return false;
  }
  for (std::size_t i = 0; i < plan->count; ++i) write_segment(pkt, *plan, i, *segs[i]);
  return true;
}

}  // namespace utcp::stack::io
