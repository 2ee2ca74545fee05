// Ethernet II header parse and emit (IEEE 802.3 §3.2.6: EtherType >= 0x0600).
// Tagged frames (802.1Q, 802.1ad) are refused in check() so no caller mistakes a
// tag for an upper-layer protocol.
#include "stack/wire/ethernet.h"

#include "stack/wire/byte_order.h"

namespace utcp::stack::wire {
namespace {

constexpr std::uint16_t kLegacyQinQ = 0x9100;

bool is_vlan_tag(std::uint16_t type) {
  return type == ethertype::kVlan || type == ethertype::kQinQ || type == kLegacyQinQ;
}

}  // namespace

std::optional<EthernetView> EthernetView::check(std::span<const std::uint8_t> bytes,
                                                ParseError* why) {
  ParseError err = ParseError::kNone;
  if (bytes.size() < kEthernetHeaderLen) {
    err = ParseError::kTruncated;
  } else if (is_vlan_tag(load_be16(bytes.data() + 12))) {
    err = ParseError::kUnsupported;
  }
  if (why != nullptr) *why = err;
  if (err != ParseError::kNone) return std::nullopt;
  return EthernetView(bytes);
}

MacAddr EthernetView::dst() const { return load_mac(bytes_.data()); }
MacAddr EthernetView::src() const { return load_mac(bytes_.data() + 6); }
std::uint16_t EthernetView::ethertype() const { return load_be16(bytes_.data() + 12); }

void EthernetRepr::emit(std::span<std::uint8_t> out) const {
  if (out.size() < kEthernetHeaderLen) return;
  store_mac(out.data(), dst);
  store_mac(out.data() + 6, src);
  store_be16(out.data() + 12, ethertype);
}

std::optional<EthernetRepr> EthernetRepr::parse(const EthernetView& view) {
  return EthernetRepr{view.dst(), view.src(), view.ethertype()};
}

}  // namespace utcp::stack::wire
