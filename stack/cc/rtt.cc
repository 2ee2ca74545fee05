// RttEstimator: RFC 6298 §2 smoothing in integer microseconds, §5.5 backoff.
// Invariant: min_rto_ <= max_rto_; srtt_/rttvar_ are meaningful once has_sample_.
#include "stack/cc/rtt.h"

#include <algorithm>
#include <limits>

namespace utcp::stack::cc {

RttEstimator::RttEstimator(Duration initial_rto, Duration min_rto, Duration max_rto)
    : initial_rto_(initial_rto), min_rto_(min_rto), max_rto_(std::max(min_rto, max_rto)) {}

void RttEstimator::on_sample(Duration rtt) {
  if (rtt < Duration::zero()) {
    return;
  }
  if (!has_sample_) {
    // RFC 6298 §2.2: "SRTT <- R, RTTVAR <- R/2".
    srtt_ = rtt;
    rttvar_ = rtt / 2;
    min_rtt_ = rtt;
    has_sample_ = true;
    return;
  }
  // RFC 6298 §2.3, in this order (RTTVAR uses the old SRTT):
  // "RTTVAR <- (1 - beta) * RTTVAR + beta * |SRTT - R'|" with beta = 1/4,
  // "SRTT <- (1 - alpha) * SRTT + alpha * R'" with alpha = 1/8.
  const Duration err = srtt_ > rtt ? srtt_ - rtt : rtt - srtt_;
  rttvar_ = (3 * rttvar_ + err) / 4;
  srtt_ = (7 * srtt_ + rtt) / 8;
  min_rtt_ = std::min(min_rtt_, rtt);
}

Duration RttEstimator::base_rto() const {
  if (!has_sample_) {
    return initial_rto_;  // RFC 6298 §2.1
  }
  // RFC 6298 §2.2-2.3: "RTO <- SRTT + max (G, K*RTTVAR)" with K = 4.
  return srtt_ + std::max(kGranularity, 4 * rttvar_);
}

Duration RttEstimator::rto() const {
  // RFC 6298 §2.4 sets the floor (configurable here, Linux-style) before §5.5 doubles.
  Duration r = std::clamp(base_rto(), min_rto_, max_rto_);
  for (std::uint32_t i = 0; i < backoffs_; ++i) {
    if (r > max_rto_ / 2) {
      return max_rto_;  // also keeps the doubling from overflowing
    }
    if (r <= Duration::zero()) {
      break;  // doubling zero never reaches the cap
    }
    r *= 2;
  }
  return r;
}

void RttEstimator::backoff() {
  // RFC 6298 §5.5: "The host MUST set RTO <- RTO * 2"; §2.5 allows the maximum.
  if (backoffs_ < std::numeric_limits<std::uint32_t>::max()) {
    ++backoffs_;
  }
}

void RttEstimator::reset_backoff() { backoffs_ = 0; }

}  // namespace utcp::stack::cc
