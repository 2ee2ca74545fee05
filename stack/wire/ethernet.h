// Ethernet II frames (IEEE 802.3 with an EtherType). No FCS: devices strip it.
// VLAN-tagged frames are rejected with kUnsupported: the engine owns an untagged
// port. Invariant: a checked EthernetView holds at least kEthernetHeaderLen bytes.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>

#include "stack/wire/addresses.h"
#include "stack/wire/parse_error.h"

namespace utcp::stack::wire {

inline constexpr std::size_t kEthernetHeaderLen = 14;
// The smallest frame on the wire without FCS; shorter payloads are padded to it.
inline constexpr std::size_t kEthernetMinFrameLen = 60;

namespace ethertype {
inline constexpr std::uint16_t kIpv4 = 0x0800;
inline constexpr std::uint16_t kArp = 0x0806;
inline constexpr std::uint16_t kVlan = 0x8100;
inline constexpr std::uint16_t kQinQ = 0x88a8;
}  // namespace ethertype

class EthernetView {
 public:
  // Fails with kTruncated below 14 bytes and kUnsupported for VLAN tags.
  static std::optional<EthernetView> check(std::span<const std::uint8_t> bytes,
                                           ParseError* why = nullptr);

  MacAddr dst() const;
  MacAddr src() const;
  std::uint16_t ethertype() const;
  std::span<const std::uint8_t> payload() const { return bytes_.subspan(kEthernetHeaderLen); }
  std::span<const std::uint8_t> bytes() const { return bytes_; }

 private:
  explicit EthernetView(std::span<const std::uint8_t> b) : bytes_(b) {}
  std::span<const std::uint8_t> bytes_;
};

struct EthernetRepr {
  MacAddr dst;
  MacAddr src;
  std::uint16_t ethertype = 0;

  // Writes the 14-byte header; `out` must hold kEthernetHeaderLen bytes (if it
  // does not, nothing is written).
  void emit(std::span<std::uint8_t> out) const;
  static std::optional<EthernetRepr> parse(const EthernetView& view);
  friend constexpr bool operator==(const EthernetRepr&, const EthernetRepr&) = default;
};

}  // namespace utcp::stack::wire
