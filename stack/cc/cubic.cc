// CUBIC window arithmetic, RFC 9438 §4.2-4.8 and §5.8. Windows are bytes here and
// segments (bytes / SMSS) inside the RFC's formulas; times are seconds as doubles.
// Invariant: epoch_start_ is set exactly while a congestion avoidance stage runs.
#include "stack/cc/cubic.h"

#include <algorithm>
#include <chrono>
#include <cmath>

namespace utcp::stack::cc {
namespace {

double seconds(Duration d) { return std::chrono::duration<double>(d).count(); }

// Converting a double above 2^32 to an integer is undefined; windows stop at kMaxCwnd.
std::uint32_t to_window(double bytes) {
  return static_cast<std::uint32_t>(std::clamp(bytes, 0.0, double{kMaxCwnd}));
}

}  // namespace

Cubic::Cubic(std::uint32_t smss, std::uint32_t initial_window_segments, bool fast_convergence)
    : CongestionControl(smss, initial_window_segments), fast_convergence_(fast_convergence) {}

double Cubic::w_cubic(Duration t) const {
  // RFC 9438 eq. 1: W_cubic(t) = C*(t-K)^3 + W_max in segments, returned in bytes.
  const double d = seconds(t) - k_;
  return (kC * d * d * d) * smss() + w_max_;
}

void Cubic::on_ack(const AckSample& s) {
  update_srtt(s.rtt);
  if (s.bytes_acked == 0) {
    return;
  }
  end_rto_series();
  if (!cwnd_limited(s)) {
    // RFC 9438 §5.8: "CUBIC does not increase its congestion window if a flow is
    // application-limited", and t "MUST NOT include" such periods (§4.2).
    skip_app_limited_time(s.now);
    last_ack_ = s.now;
    return;
  }
  last_ack_ = s.now;
  std::uint32_t left = s.bytes_acked;
  if (in_slow_start()) {
    left = slow_start(left);
  }
  if (left > 0) {
    congestion_avoidance(s, left);
  }
}

void Cubic::update_srtt(Duration rtt) {
  if (rtt <= Duration::zero()) {
    return;
  }
  // RFC 6298 §2.2-2.3 smoothing (alpha = 1/8); RFC 9438 §4.1.2 asks for this RTT.
  srtt_ = srtt_ == Duration::zero() ? rtt : (7 * srtt_ + rtt) / 8;
}

void Cubic::skip_app_limited_time(Instant now) {
  if (epoch_start_ && last_ack_ && now > *last_ack_) {
    *epoch_start_ += now - *last_ack_;
  }
}

void Cubic::start_epoch(Instant now) {
  const std::uint32_t cwnd_epoch = cwnd();
  epoch_start_ = now;
  pending_increase_ = 0.0;
  // RFC 9438 §4.8 (after a timeout) and §4.10 (W_max undefined): K = 0 and W_max =
  // cwnd_epoch. A W_max below cwnd_epoch would give a negative K; the same rule
  // applies (Linux: bic_origin_point = cwnd).
  if (after_timeout_ || w_max_ <= cwnd_epoch) {
    w_max_ = cwnd_epoch;
    k_ = 0.0;
  } else {
    // RFC 9438 eq. 2: K = cbrt((W_max - cwnd_epoch) / C), in segments.
    k_ = std::cbrt((static_cast<double>(w_max_ - cwnd_epoch) / smss()) / kC);
  }
  after_timeout_ = false;
  // RFC 9438 §4.3: "W_est is set equal to cwnd_epoch at the start of the congestion
  // avoidance stage."
  w_est_ = cwnd_epoch;
  alpha_ = w_est_ >= cwnd_prior_ ? 1.0 : kAlpha;
}

void Cubic::congestion_avoidance(const AckSample& s, std::uint32_t bytes_acked) {
  if (!epoch_start_) {
    start_epoch(s.now);
  }
  const double cwnd_bytes = cwnd();
  const Duration t = s.now - *epoch_start_;
  // RFC 9438 eq. 4 with ABC: W_est += alpha_cubic * segments_acked / cwnd.
  w_est_ += alpha_ * bytes_acked * smss() / cwnd_bytes;
  if (w_est_ >= cwnd_prior_) {
    alpha_ = 1.0;  // §4.3: "the sender SHOULD set alpha_cubic to 1"
  }
  if (w_cubic(t) < w_est_) {
    // §4.3: Reno-friendly region, "cwnd SHOULD be set to W_est". Never lower cwnd
    // outside a congestion event.
    set_cwnd(to_window(std::max(cwnd_bytes, std::floor(w_est_))));
    pending_increase_ = 0.0;
    return;
  }
  // §4.2: target = W_cubic(t + RTT), clamped to [cwnd, 1.5*cwnd]; §4.4-4.5: cwnd +=
  // (target - cwnd) / cwnd per segment acknowledged.
  const double target = std::clamp(w_cubic(t + srtt_), cwnd_bytes, 1.5 * cwnd_bytes);
  pending_increase_ += (target - cwnd_bytes) * bytes_acked / cwnd_bytes;
  const double whole = std::floor(pending_increase_);
  pending_increase_ -= whole;
  set_cwnd(to_window(cwnd_bytes + whole));
}

void Cubic::reduce(std::uint32_t flight_size) {
  const std::uint32_t cwnd_before = cwnd();
  // §4.7 fast convergence: "W_max = cwnd * (1 + beta_cubic) / 2" if cwnd < W_max.
  if (fast_convergence_ && cwnd_before < w_max_) {
    w_max_ = static_cast<std::uint32_t>(cwnd_before * (1.0 + kBeta) / 2.0);
  } else {
    w_max_ = cwnd_before;
  }
  // §4.6: "ssthresh = flight_size * beta_cubic", "cwnd_prior = cwnd"; ssthresh is at
  // least 2 segments (set_ssthresh enforces it).
  cwnd_prior_ = cwnd_before;
  set_ssthresh(static_cast<std::uint32_t>(flight_size * kBeta));
  epoch_start_.reset();
}

void Cubic::on_congestion_event(std::uint32_t flight_size, Instant) {
  end_rto_series();
  reduce(flight_size);
  // §4.6: "cwnd = max(ssthresh, 2)" on loss.
  set_cwnd(ssthresh());
}

void Cubic::on_rto(std::uint32_t flight_size, Instant) {
  // §4.8: "CUBIC follows Reno to reduce cwnd [RFC5681], but sets ssthresh using
  // beta_cubic"; the first stage afterwards runs with K = 0 and W_max = cwnd_epoch.
  // RFC 5681 §3.1 holds ssthresh constant when the timeout repeats.
  if (!in_rto_series()) {
    reduce(flight_size);
  }
  epoch_start_.reset();
  enter_loss_window(ssthresh());
  after_timeout_ = true;
}

void Cubic::on_idle_restart(Instant now) {
  CongestionControl::on_idle_restart(now);
  // §5.8: t must not include idle periods; a new stage starts with the next ACK.
  epoch_start_.reset();
  last_ack_.reset();
}

}  // namespace utcp::stack::cc
