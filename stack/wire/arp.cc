// ARP packet parse and emit for Ethernet/IPv4 (RFC 826 "Packet format").
// Invariant: ArpView's span is exactly ArpRepr::kLen bytes, so Ethernet padding
// after the packet is never read.
#include "stack/wire/arp.h"

#include "stack/wire/byte_order.h"
#include "stack/wire/ethernet.h"

namespace utcp::stack::wire {
namespace {

constexpr std::uint16_t kHardwareEthernet = 1;
constexpr std::uint8_t kMacLen = 6;
constexpr std::uint8_t kIpv4Len = 4;

}  // namespace

std::optional<ArpView> ArpView::check(std::span<const std::uint8_t> bytes, ParseError* why) {
  ParseError err = ParseError::kNone;
  if (bytes.size() < ArpRepr::kLen) {
    err = ParseError::kTruncated;
  } else if (load_be16(bytes.data()) != kHardwareEthernet ||
             load_be16(bytes.data() + 2) != ethertype::kIpv4 || bytes[4] != kMacLen ||
             bytes[5] != kIpv4Len) {
    err = ParseError::kUnsupported;
  }
  if (why != nullptr) *why = err;
  if (err != ParseError::kNone) return std::nullopt;
  return ArpView(bytes.first(ArpRepr::kLen));
}

std::uint16_t ArpView::hardware_type() const { return load_be16(bytes_.data()); }
std::uint16_t ArpView::protocol_type() const { return load_be16(bytes_.data() + 2); }
std::uint16_t ArpView::operation() const { return load_be16(bytes_.data() + 6); }
MacAddr ArpView::sender_mac() const { return load_mac(bytes_.data() + 8); }
Ipv4Addr ArpView::sender_ip() const { return load_ipv4(bytes_.data() + 14); }
MacAddr ArpView::target_mac() const { return load_mac(bytes_.data() + 18); }
Ipv4Addr ArpView::target_ip() const { return load_ipv4(bytes_.data() + 24); }

void ArpRepr::emit(std::span<std::uint8_t> out) const {
  if (out.size() < kLen) return;
  std::uint8_t* p = out.data();
  store_be16(p, kHardwareEthernet);
  store_be16(p + 2, ethertype::kIpv4);
  p[4] = kMacLen;
  p[5] = kIpv4Len;
  store_be16(p + 6, static_cast<std::uint16_t>(op));
  store_mac(p + 8, sender_mac);
  store_ipv4(p + 14, sender_ip);
  store_mac(p + 18, target_mac);
  store_ipv4(p + 24, target_ip);
}

std::optional<ArpRepr> ArpRepr::parse(const ArpView& view) {
  const std::uint16_t op = view.operation();
  if (op != static_cast<std::uint16_t>(ArpOp::kRequest) &&
      op != static_cast<std::uint16_t>(ArpOp::kReply)) {
    return std::nullopt;
  }
  return ArpRepr{static_cast<ArpOp>(op), view.sender_mac(), view.sender_ip(), view.target_mac(),
                 view.target_ip()};
}

}  // namespace utcp::stack::wire
