// SYN cookies (RFC 4987 §3.6), laid out as Linux does (net/ipv4/syncookies.c): a
// listener under SYN flood answers without keeping state and rebuilds the connection
// from the final ACK. Invariant: a cookie is accepted for its 64-s period and the next
// one only, for the same tuple and peer ISN, and carries one of kMssTable's MSS values.
#pragma once

#include <array>
#include <cstdint>
#include <optional>

#include "stack/base/seq_num.h"
#include "stack/base/time.h"
#include "stack/isn/isn.h"
#include "stack/wire/addresses.h"

namespace utcp::stack::isn {

// What a cookie-built connection knows of the peer's SYN options.
struct SynCookieOptions {
  std::uint16_t mss = 536;
  bool sack_permitted = false;
  std::int8_t window_scale = -1;  // -1: the peer sent no window scale option
  bool timestamps = false;
};

// cookie = H0(tuple) + peer_isn + (count << 24) + low24, count a 64-second counter and
// low24 = 22 bits of H1(tuple, peer_isn, count, mss_class) followed by the 2-bit MSS class.
// H1 covers the MSS class so that an ACK off by a few is rejected, not decoded as
// another class (Linux adds the class to the hash instead and accepts such ACKs).
class SynCookies {
 public:
  explicit SynCookies(const Secret& secret) : secret_(secret) {}

  // The largest entry <= the peer's MSS is encoded (the first when none is).
  static constexpr std::array<std::uint16_t, 4> kMssTable = {536, 1300, 1440, 1460};
  static constexpr std::int64_t kPeriodUs = 64'000'000;

  SeqNum make(const wire::FourTuple& tuple, SeqNum peer_isn, std::uint16_t peer_mss,
              Instant now) const;
  // From the third segment: cookie = ack - 1, peer_isn = seq - 1. Returns the encoded
  // MSS when the cookie is valid for the current or the previous period.
  std::optional<std::uint16_t> check(const wire::FourTuple& tuple, SeqNum peer_isn,
                                     SeqNum cookie, Instant now) const;

  // With peer timestamps, the low 6 bits of our TSval carry SACK-permitted and the
  // window scale (Linux cookie_init_timestamp); the final ACK echoes them in TSecr.
  // The result is never after tsval, so our timestamps do not run ahead.
  static std::uint32_t encode_ts_options(std::uint32_t tsval, bool sack_permitted,
                                         std::int8_t window_scale);
  static void decode_ts_options(std::uint32_t tsecr, bool& sack_permitted,
                                std::int8_t& window_scale);

 private:
  std::uint32_t base_hash(const wire::FourTuple& tuple) const;
  std::uint32_t class_hash(const wire::FourTuple& tuple, SeqNum peer_isn, std::uint32_t count,
                           std::uint32_t mss_class) const;

  Secret secret_;
};

}  // namespace utcp::stack::isn
