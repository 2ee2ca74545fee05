// Round-trip time estimation and the retransmission timeout, RFC 6298 §2-5.
// Read RFC 6298 §2 (the formulas), §3 (Karn), §5.5 (backoff), RFC 7323 §4 (samples
// from timestamps). Invariant: min_rto <= rto() <= max_rto; values in microseconds.
#pragma once

#include <cstdint>

#include "stack/base/time.h"

namespace utcp::stack::cc {

class RttEstimator {
 public:
  RttEstimator(Duration initial_rto, Duration min_rto, Duration max_rto);

  // Karn's algorithm is the caller's: only samples from segments not retransmitted,
  // or from timestamps (RFC 7323 §4), come here. Non-positive samples are ignored.
  void on_sample(Duration rtt);
  // RFC 6298 §2 with the backoff applied, clamped to [min_rto, max_rto].
  Duration rto() const;
  // RFC 6298 §5.5: double the timer (capped at max_rto).
  void backoff();
  // The caller ends the backoff when an ACK acknowledges new data (as Linux does);
  // on_sample does not, so a timestamp sample during a timeout series keeps it.
  void reset_backoff();
  std::uint32_t backoffs() const { return backoffs_; }
  bool has_sample() const { return has_sample_; }
  Duration srtt() const { return srtt_; }
  Duration rttvar() const { return rttvar_; }
  // The smallest sample seen; zero before the first.
  Duration min_rtt() const { return min_rtt_; }

  // RFC 6298 §2: clock granularity G.
  static constexpr Duration kGranularity = std::chrono::milliseconds(1);

 private:
  Duration base_rto() const;

  Duration initial_rto_;
  Duration min_rto_;
  Duration max_rto_;
  Duration srtt_{0};
  Duration rttvar_{0};
  Duration min_rtt_{0};
  std::uint32_t backoffs_ = 0;
  bool has_sample_ = false;
};

}  // namespace utcp::stack::cc
