// CUBIC, RFC 9438 §4: the window follows W_cubic(t) = C*(t-K)^3 + W_max in congestion
// avoidance, never below the Reno-friendly estimate W_est (§4.3). Read §4.1-4.10, §5.8.
// Invariants: all windows in bytes (segments = bytes / SMSS in the formulas); t never
// counts application-limited time; slow start is RFC 5681's (no HyStart++).
#pragma once

#include <cstdint>
#include <optional>

#include "stack/cc/congestion.h"

namespace utcp::stack::cc {

class Cubic final : public CongestionControl {
 public:
  // RFC 9438 §4.1.1 constants.
  static constexpr double kC = 0.4;         // segments / second^3
  static constexpr double kBeta = 0.7;      // beta_cubic
  static constexpr double kAlpha = 3.0 * (1.0 - kBeta) / (1.0 + kBeta);  // §4.3

  // Fast convergence (§4.7) SHOULD be on, and SHOULD be off for a lone flow.
  Cubic(std::uint32_t smss, std::uint32_t initial_window_segments,
        bool fast_convergence = true);

  Algorithm algorithm() const override { return Algorithm::kCubic; }
  const char* name() const override { return "cubic"; }

  void on_ack(const AckSample& s) override;
  void on_congestion_event(std::uint32_t flight_size, Instant now) override;
  void on_rto(std::uint32_t flight_size, Instant now) override;
  void on_idle_restart(Instant now) override;

  // RFC 9438 §4.1.2 state, for the sender's statistics and for tests.
  std::uint32_t w_max() const { return w_max_; }            // bytes; 0 before a loss
  std::uint32_t cwnd_prior() const { return cwnd_prior_; }  // bytes
  double w_est() const { return w_est_; }                   // bytes
  double k_seconds() const { return k_; }
  std::optional<Instant> epoch_start() const { return epoch_start_; }
  // The smoothed RTT CUBIC predicts with (RFC 9438 §4.2: "RTT is the smoothed
  // round-trip time"), kept from AckSample::rtt by RFC 6298 §2.3; zero before a sample.
  Duration srtt() const { return srtt_; }
  // W_cubic(t) of the current epoch, in bytes (RFC 9438 eq. 1).
  double w_cubic(Duration t) const;

 private:
  void update_srtt(Duration rtt);
  void start_epoch(Instant now);
  void congestion_avoidance(const AckSample& s, std::uint32_t bytes_acked);
  void skip_app_limited_time(Instant now);
  void reduce(std::uint32_t flight_size);

  bool fast_convergence_;
  std::uint32_t w_max_ = 0;
  std::uint32_t cwnd_prior_ = 0;
  double k_ = 0.0;
  double w_est_ = 0.0;
  double alpha_ = kAlpha;
  double pending_increase_ = 0.0;  // fraction of a byte not yet added to cwnd
  std::optional<Instant> epoch_start_;
  std::optional<Instant> last_ack_;
  Duration srtt_{0};
  bool after_timeout_ = false;
};

}  // namespace utcp::stack::cc
