// NewReno: RFC 5681 §3.1 window growth with RFC 3465 byte counting, and the RFC 5681
// equation (4) reduction for fast recovery and timeouts.
// Invariant: bytes_acked_ only counts in congestion avoidance and restarts at every loss.
#include "stack/cc/newreno.h"

namespace utcp::stack::cc {

NewReno::NewReno(std::uint32_t smss, std::uint32_t initial_window_segments)
    : CongestionControl(smss, initial_window_segments) {}

void NewReno::on_ack(const AckSample& s) {
  if (s.bytes_acked == 0) {
    return;
  }
  end_rto_series();
  if (!cwnd_limited(s)) {
    return;
  }
  std::uint32_t left = s.bytes_acked;
  if (in_slow_start()) {
    left = slow_start(left);
  }
  if (left > 0) {
    congestion_avoidance(left);
  }
}

void NewReno::congestion_avoidance(std::uint32_t bytes_acked) {
  // RFC 3465 §2.1: "When bytes_acked becomes greater than or equal to the value of
  // the congestion window, bytes_acked is reduced by the value of cwnd. Next, cwnd is
  // incremented by a full-sized segment (SMSS)."
  bytes_acked_ += bytes_acked;
  if (bytes_acked_ >= cwnd()) {
    bytes_acked_ -= cwnd();
    set_cwnd(cwnd() + smss());
  }
  // One increase per ACK: RFC 5681 §3.1 lets cwnd grow "by up to SMSS bytes" each
  // time the acknowledged bytes reach cwnd, so a stretch ACK of several windows must
  // not carry its excess into later ACKs.
  if (bytes_acked_ >= cwnd()) {
    bytes_acked_ = cwnd() - 1;
  }
}

void NewReno::on_congestion_event(std::uint32_t flight_size, Instant) {
  end_rto_series();
  // RFC 5681 §3.2 step 2: "ssthresh = max (FlightSize / 2, 2*SMSS)" (equation 4);
  // the sender adds the 3*SMSS inflation of step 3 itself.
  set_ssthresh(half_flight(flight_size));
  set_cwnd(ssthresh());
  bytes_acked_ = 0;
}

void NewReno::on_rto(std::uint32_t flight_size, Instant) {
  // RFC 5681 §3.1: equation (4), then cwnd = LW = 1 SMSS. RFC 3465 §2.1 restarts
  // byte counting.
  enter_loss_window(half_flight(flight_size));
  bytes_acked_ = 0;
}

}  // namespace utcp::stack::cc
