// TCP header and options (RFC 9293 §3.1; options: MSS RFC 9293 §3.7.1, window scale
// and timestamps RFC 7323, SACK-permitted and SACK RFC 2018).
// TcpView is a checked view: once check() succeeds no accessor can read out of
// bounds. TcpRepr is the parsed value the TCP state machine works with; it never
// touches bytes. Malformed option lengths make parse() fail (the segment is dropped
// and counted by the caller); unknown options are skipped.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>

#include "stack/base/seq_num.h"
#include "stack/wire/addresses.h"
#include "stack/wire/parse_error.h"

namespace utcp::stack::wire {

namespace tcp_flags {
inline constexpr std::uint8_t kFin = 0x01;
inline constexpr std::uint8_t kSyn = 0x02;
inline constexpr std::uint8_t kRst = 0x04;
inline constexpr std::uint8_t kPsh = 0x08;
inline constexpr std::uint8_t kAck = 0x10;
inline constexpr std::uint8_t kUrg = 0x20;
inline constexpr std::uint8_t kEce = 0x40;
inline constexpr std::uint8_t kCwr = 0x80;
}  // namespace tcp_flags

inline constexpr std::size_t kTcpMinHeaderLen = 20;
inline constexpr std::size_t kTcpMaxHeaderLen = 60;
inline constexpr std::size_t kTcpMaxSackBlocks = 4;

struct SackBlock {
  SeqNum left;   // first sequence number of the block
  SeqNum right;  // sequence number just past the block
  friend constexpr bool operator==(const SackBlock&, const SackBlock&) = default;
};

struct TcpTimestamps {
  std::uint32_t tsval = 0;
  std::uint32_t tsecr = 0;
  friend constexpr bool operator==(const TcpTimestamps&, const TcpTimestamps&) = default;
};

struct TcpOptions {
  std::optional<std::uint16_t> mss;
  std::optional<std::uint8_t> window_scale;  // shift count as received (clamped to 14 by TCP, not here)
  bool sack_permitted = false;
  std::optional<TcpTimestamps> timestamps;
  std::uint8_t sack_count = 0;
  std::array<SackBlock, kTcpMaxSackBlocks> sack{};

  // Bytes these options take when emitted (with NOP padding to a multiple of 4).
  std::size_t emitted_len() const;
  friend bool operator==(const TcpOptions&, const TcpOptions&) = default;
};

// The parsed header. Ports are host order; window is the raw 16-bit field (the
// connection applies the scale).
struct TcpRepr {
  std::uint16_t src_port = 0;
  std::uint16_t dst_port = 0;
  SeqNum seq;
  SeqNum ack;
  std::uint8_t flags = 0;
  std::uint16_t window = 0;
  std::uint16_t urgent = 0;
  TcpOptions options;

  bool has(std::uint8_t f) const { return (flags & f) != 0; }
  std::size_t header_len() const { return kTcpMinHeaderLen + options.emitted_len(); }
  friend bool operator==(const TcpRepr&, const TcpRepr&) = default;
};

// A checked view over a TCP header plus payload (the IPv4 payload).
class TcpView {
 public:
  // Succeeds when the buffer holds at least the header the data-offset field
  // announces (20..60 bytes).
  static std::optional<TcpView> check(std::span<const std::uint8_t> bytes, ParseError* why = nullptr);

  std::uint16_t src_port() const;
  std::uint16_t dst_port() const;
  SeqNum seq() const;
  SeqNum ack() const;
  std::size_t header_len() const;
  std::uint8_t flags() const;
  std::uint16_t window() const;
  std::uint16_t checksum() const;
  std::uint16_t urgent() const;
  std::span<const std::uint8_t> options() const;
  std::span<const std::uint8_t> payload() const;
  std::span<const std::uint8_t> bytes() const { return bytes_; }

  // Verifies the checksum over the IPv4 pseudo-header + segment.
  bool checksum_ok(Ipv4Addr src, Ipv4Addr dst) const;

 private:
  explicit TcpView(std::span<const std::uint8_t> b) : bytes_(b) {}
  std::span<const std::uint8_t> bytes_;
};

// Parses the header and options of a checked view.
std::optional<TcpRepr> parse_tcp(const TcpView& view, ParseError* why = nullptr);

// Writes header + options into out (which must hold repr.header_len() bytes) and
// then, if requested, the checksum over pseudo-header, header and `payload`
// (which the caller has already placed right after the header, or will).
// When `fill_checksum` is false the checksum field is set to the pseudo-header
// sum only, as NICs with TCP checksum offload expect.
void emit_tcp(const TcpRepr& repr, std::span<std::uint8_t> out, Ipv4Addr src, Ipv4Addr dst,
              std::span<const std::uint8_t> payload, bool fill_checksum);

}  // namespace utcp::stack::wire
