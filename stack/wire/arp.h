// ARP for Ethernet/IPv4 only (RFC 826): htype 1, ptype 0x0800, hlen 6, plen 4.
// Anything else is well-formed but kUnsupported. Invariant: a checked ArpView holds
// ArpRepr::kLen bytes with those four fields; trailing Ethernet padding is ignored.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>

#include "stack/wire/addresses.h"
#include "stack/wire/parse_error.h"

namespace utcp::stack::wire {

enum class ArpOp : std::uint16_t { kRequest = 1, kReply = 2 };

class ArpView {
 public:
  static std::optional<ArpView> check(std::span<const std::uint8_t> bytes,
                                      ParseError* why = nullptr);

  std::uint16_t hardware_type() const;
  std::uint16_t protocol_type() const;
  std::uint16_t operation() const;  // raw; ArpRepr::parse accepts only 1 and 2
  MacAddr sender_mac() const;
  Ipv4Addr sender_ip() const;
  MacAddr target_mac() const;
  Ipv4Addr target_ip() const;
  std::span<const std::uint8_t> bytes() const { return bytes_; }

 private:
  explicit ArpView(std::span<const std::uint8_t> b) : bytes_(b) {}
  std::span<const std::uint8_t> bytes_;
};

struct ArpRepr {
  static constexpr std::size_t kLen = 28;

  ArpOp op = ArpOp::kRequest;
  MacAddr sender_mac;
  Ipv4Addr sender_ip;
  MacAddr target_mac;
  Ipv4Addr target_ip;

  // Writes kLen bytes; `out` must hold them (if it does not, nothing is written).
  void emit(std::span<std::uint8_t> out) const;
  // Fails (nullopt) for operations other than request and reply.
  static std::optional<ArpRepr> parse(const ArpView& view);
  friend constexpr bool operator==(const ArpRepr&, const ArpRepr&) = default;
};

}  // namespace utcp::stack::wire
