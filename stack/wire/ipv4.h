// IPv4 headers (RFC 791 §3.1; checksum RFC 1071). Options are carried but never
// interpreted; fragments are rejected because we send DF and clamp the MSS.
// Invariant: a checked Ipv4View satisfies 20 <= header_len <= total_len <= buffer,
// so payload() ends at total_len and Ethernet padding past it is ignored.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>

#include "stack/wire/addresses.h"
#include "stack/wire/parse_error.h"

namespace utcp::stack::wire {

namespace ip_protocol {
inline constexpr std::uint8_t kIcmp = 1;
inline constexpr std::uint8_t kTcp = 6;
inline constexpr std::uint8_t kUdp = 17;
}  // namespace ip_protocol

class Ipv4View {
 public:
  // kTruncated (< 20 bytes), kBadVersion, kBadHeaderLength (IHL < 5 or past the
  // buffer), kBadTotalLength (total length < header or > buffer).
  static std::optional<Ipv4View> check(std::span<const std::uint8_t> bytes,
                                       ParseError* why = nullptr);

  std::size_t header_len() const;
  std::size_t total_len() const;
  std::uint8_t tos() const;
  std::uint16_t ident() const;
  bool dont_fragment() const;
  bool more_fragments() const;
  std::uint16_t frag_offset() const;  // in 8-byte units, as on the wire
  std::uint8_t ttl() const;
  std::uint8_t protocol() const;
  std::uint16_t checksum() const;
  Ipv4Addr src() const;
  Ipv4Addr dst() const;
  std::span<const std::uint8_t> options() const;
  std::span<const std::uint8_t> header() const { return bytes_.first(header_len()); }
  std::span<const std::uint8_t> payload() const;
  std::span<const std::uint8_t> bytes() const { return bytes_; }

  bool checksum_ok() const;
  bool is_fragment() const { return more_fragments() || frag_offset() != 0; }

 private:
  explicit Ipv4View(std::span<const std::uint8_t> b) : bytes_(b) {}
  std::span<const std::uint8_t> bytes_;
};

struct Ipv4Repr {
  static constexpr std::size_t kHeaderLen = 20;

  Ipv4Addr src;
  Ipv4Addr dst;
  std::uint8_t protocol = 0;
  std::uint8_t ttl = 64;
  std::uint16_t ident = 0;
  bool dont_fragment = true;
  std::uint16_t payload_len = 0;  // at most 65535 - kHeaderLen
  std::uint8_t tos = 0;  // DSCP and ECN (RFC 2474, RFC 3168); a socket's IP_TOS

  std::size_t total_len() const { return kHeaderLen + payload_len; }
  // Writes a 20-byte header without options; `out` must hold kHeaderLen bytes (if
  // it does not, nothing is written). fill_checksum=false leaves 0 for the NIC.
  void emit(std::span<std::uint8_t> out, bool fill_checksum) const;
  // Fails with kFragment for fragments and, when verify_checksum, kBadChecksum.
  static std::optional<Ipv4Repr> parse(const Ipv4View& view, bool verify_checksum,
                                       ParseError* why = nullptr);
  friend constexpr bool operator==(const Ipv4Repr&, const Ipv4Repr&) = default;
};

}  // namespace utcp::stack::wire
