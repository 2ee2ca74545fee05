// ICMP for IPv4 (RFC 792): echo, destination unreachable (with the next-hop MTU of
// RFC 1191 §4 for code 4) and time exceeded. Invariant: a checked IcmpView holds
// the 8-byte header; IcmpRepr's data span points into the parsed buffer (or, for
// emit, at the bytes to copy) and is never owned.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>

#include "stack/base/seq_num.h"
#include "stack/wire/addresses.h"
#include "stack/wire/parse_error.h"

namespace utcp::stack::wire {

inline constexpr std::size_t kIcmpHeaderLen = 8;

namespace icmp_type {
inline constexpr std::uint8_t kEchoReply = 0;
inline constexpr std::uint8_t kDestUnreachable = 3;
inline constexpr std::uint8_t kEchoRequest = 8;
inline constexpr std::uint8_t kTimeExceeded = 11;
}  // namespace icmp_type

namespace icmp_unreach {
inline constexpr std::uint8_t kNet = 0;
inline constexpr std::uint8_t kHost = 1;
inline constexpr std::uint8_t kProtocol = 2;
inline constexpr std::uint8_t kPort = 3;
inline constexpr std::uint8_t kFragNeeded = 4;  // RFC 1191: carries the next-hop MTU
inline constexpr std::uint8_t kAdminProhibited = 13;
}  // namespace icmp_unreach

class IcmpView {
 public:
  // Fails with kTruncated below 8 bytes. The message is the whole IPv4 payload.
  static std::optional<IcmpView> check(std::span<const std::uint8_t> bytes,
                                       ParseError* why = nullptr);

  std::uint8_t type() const;
  std::uint8_t code() const;
  std::uint16_t checksum() const;
  std::uint16_t ident() const;         // echo
  std::uint16_t seq_no() const;        // echo
  std::uint16_t next_hop_mtu() const;  // destination unreachable, code 4
  std::span<const std::uint8_t> data() const { return bytes_.subspan(kIcmpHeaderLen); }
  std::span<const std::uint8_t> bytes() const { return bytes_; }

  // Checksum over the whole ICMP message (RFC 792).
  bool checksum_ok() const;

 private:
  explicit IcmpView(std::span<const std::uint8_t> b) : bytes_(b) {}
  std::span<const std::uint8_t> bytes_;
};

struct IcmpRepr {
  enum class Kind : std::uint8_t { kEchoRequest, kEchoReply, kDestUnreachable, kTimeExceeded };

  Kind kind = Kind::kEchoRequest;
  std::uint8_t code = 0;
  std::uint16_t ident = 0;          // echo only
  std::uint16_t seq_no = 0;         // echo only
  std::uint16_t next_hop_mtu = 0;   // destination unreachable code 4 only
  // Echo: the data to echo. Errors: the quoted datagram (IPv4 header + >= 8 bytes).
  std::span<const std::uint8_t> data;

  std::size_t len() const { return kIcmpHeaderLen + data.size(); }
  // Writes header + data (copied with memmove, so data may already sit in place)
  // and the checksum. `out` must hold len() bytes (if it does not, nothing is written).
  void emit(std::span<std::uint8_t> out) const;
  // Fails with kUnsupported for other types, kBadChecksum when verify_checksum.
  static std::optional<IcmpRepr> parse(const IcmpView& view, bool verify_checksum,
                                       ParseError* why = nullptr);
};

// The connection an ICMP error is about, read from its quoted datagram.
struct QuotedTcp {
  Ipv4Addr src;  // as the original datagram had them: src is the sender (us)
  Ipv4Addr dst;
  std::uint16_t src_port = 0;
  std::uint16_t dst_port = 0;
  SeqNum seq;
  friend constexpr bool operator==(const QuotedTcp&, const QuotedTcp&) = default;
};

// RFC 792: errors quote the IPv4 header (any IHL) and at least 8 bytes of its
// payload. nullopt unless the quote is IPv4 carrying TCP with those 8 bytes.
std::optional<QuotedTcp> parse_quoted_tcp(std::span<const std::uint8_t> quoted);

}  // namespace utcp::stack::wire
