// CongestionControl: the window bookkeeping every strategy shares (initial window,
// clamps, ABC slow start, timeout series) and the factory. RFC 5681 §3.1, §4.1,
// RFC 3465 §2.2, RFC 6928 §2. Invariant: smss_ <= cwnd_ <= kMaxCwnd.
#include "stack/cc/congestion.h"

#include <algorithm>
#include <limits>

#include "stack/cc/cubic.h"
#include "stack/cc/newreno.h"

namespace utcp::stack::cc {
namespace {

// RFC 5681 §3.1: "The initial value of ssthresh SHOULD be set arbitrarily high".
constexpr std::uint32_t kInitialSsthresh = std::numeric_limits<std::uint32_t>::max();
// RFC 6928 §2: IW = min(10*MSS, max(2*MSS, 14600)).
constexpr std::uint64_t kRfc6928Bytes = 14600;
constexpr std::uint32_t kRfc6928Segments = 10;

std::uint32_t clamp_window(std::uint64_t bytes, std::uint32_t smss) {
  return static_cast<std::uint32_t>(
      std::clamp<std::uint64_t>(bytes, smss, std::max(smss, kMaxCwnd)));
}

}  // namespace

CongestionControl::CongestionControl(std::uint32_t smss, std::uint32_t initial_window_segments)
    : smss_(std::max<std::uint32_t>(smss, 1)),
      initial_window_segments_(std::max<std::uint32_t>(initial_window_segments, 1)),
      cwnd_(0),
      ssthresh_(kInitialSsthresh) {
  cwnd_ = initial_window();
}

std::uint32_t CongestionControl::initial_window() const {
  const std::uint64_t smss = smss_;
  if (initial_window_segments_ == kRfc6928Segments) {
    return clamp_window(std::min(10 * smss, std::max(2 * smss, kRfc6928Bytes)), smss_);
  }
  return clamp_window(initial_window_segments_ * smss, smss_);
}

void CongestionControl::on_recovery_exit(Instant) {
  end_rto_series();
  // RFC 6582 §3.2 step 3 / RFC 6675 §5: "set cwnd to ssthresh" (deflate the window).
  set_cwnd(ssthresh_);
}

void CongestionControl::on_idle_restart(Instant) {
  // RFC 5681 §4.1: "cwnd = min(RW, cwnd)" with RW = min(IW, cwnd).
  set_cwnd(std::min(cwnd_, initial_window()));
}

void CongestionControl::set_cwnd(std::uint32_t bytes) { cwnd_ = clamp_window(bytes, smss_); }

void CongestionControl::set_smss(std::uint32_t smss) {
  smss_ = std::max<std::uint32_t>(smss, 1);
  cwnd_ = clamp_window(cwnd_, smss_);
  if (ssthresh_ != kInitialSsthresh) {
    set_ssthresh(ssthresh_);
  }
}

void CongestionControl::set_ssthresh(std::uint32_t bytes) {
  ssthresh_ = std::max<std::uint32_t>(bytes, 2 * smss_);
}

std::uint32_t CongestionControl::half_flight(std::uint32_t flight_size) const {
  return std::max<std::uint32_t>(flight_size / 2, 2 * smss_);
}

bool CongestionControl::cwnd_limited(const AckSample& s) const {
  return 2 * static_cast<std::uint64_t>(s.bytes_in_flight) >= cwnd_;
}

std::uint32_t CongestionControl::slow_start(std::uint32_t bytes_acked) {
  // RFC 3465 §2.2: "cwnd += min(N, L*SMSS)" with L = 2; stop at ssthresh so that the
  // rest of this ACK is counted by congestion avoidance (as Linux does).
  const std::uint64_t room = ssthresh_ > cwnd_ ? ssthresh_ - cwnd_ : 0;
  const std::uint64_t limit = std::min<std::uint64_t>(2 * static_cast<std::uint64_t>(smss_), room);
  const std::uint64_t used = std::min<std::uint64_t>(bytes_acked, limit);
  set_cwnd(static_cast<std::uint32_t>(std::min<std::uint64_t>(cwnd_ + used, kMaxCwnd)));
  if (in_slow_start()) {
    return 0;
  }
  return bytes_acked - static_cast<std::uint32_t>(used);
}

void CongestionControl::enter_loss_window(std::uint32_t new_ssthresh) {
  // RFC 5681 §3.1: when the timer fires again for a segment already retransmitted by
  // the timer, "the value of ssthresh is held constant". No new ACK since the last
  // timeout means this is that case.
  if (!in_rto_series_) {
    set_ssthresh(new_ssthresh);
  }
  in_rto_series_ = true;
  // RFC 5681 §3.1: "cwnd is no more than the loss window, LW, which equals 1 SMSS".
  set_cwnd(smss_);
}

void CongestionControl::end_rto_series() { in_rto_series_ = false; }

std::unique_ptr<CongestionControl> make_congestion_control(
    Algorithm a, std::uint32_t smss, std::uint32_t initial_window_segments) {
  switch (a) {
    case Algorithm::kNewReno:
      return std::make_unique<NewReno>(smss, initial_window_segments);
    case Algorithm::kCubic:
      return std::make_unique<Cubic>(smss, initial_window_segments);
  }
  // A value outside the enum (a corrupt configuration) gets the default, as on Linux.
  return std::make_unique<Cubic>(smss, initial_window_segments);
}

}  // namespace utcp::stack::cc
