// Test helper: drives a CongestionControl with the ACK stream of a cwnd-limited sender
// in virtual time, one ACK per SMSS, so tests can count round trips (RFC 5681 §3.1).
// Invariant: every ACK reports bytes_in_flight = cwnd at the start of its round.
#pragma once

#include <algorithm>
#include <cstdint>

#include "stack/base/time.h"
#include "stack/cc/congestion.h"

namespace utcp::stack::cc::testing {

inline AckSample ack(std::uint32_t bytes_acked, std::uint32_t bytes_in_flight, Instant now,
                     Duration rtt = Duration::zero()) {
  return AckSample{.bytes_acked = bytes_acked, .bytes_in_flight = bytes_in_flight, .rtt = rtt,
                   .now = now};
}

// One round trip: cwnd / SMSS ACKs spread evenly over `rtt`. Returns the time after it.
inline Instant ack_round(CongestionControl& cc, Instant now, Duration rtt) {
  const std::uint32_t segments = std::max<std::uint32_t>(cc.cwnd() / cc.smss(), 1);
  const std::uint32_t flight = cc.cwnd();
  const Duration step = rtt / segments;
  for (std::uint32_t i = 0; i < segments; ++i) {
    now += step;
    cc.on_ack(ack(cc.smss(), flight, now, rtt));
  }
  return now;
}

// Round trips until virtual time reaches `until`.
inline Instant ack_rounds_until(CongestionControl& cc, Instant now, Instant until, Duration rtt) {
  while (now < until) {
    now = ack_round(cc, now, rtt);
  }
  return now;
}

}  // namespace utcp::stack::cc::testing
