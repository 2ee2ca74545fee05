// Congestion control as a per-connection strategy: the sender reports ACKs, loss and
// timeouts; the strategy keeps cwnd and ssthresh (bytes). Read RFC 5681 §3.1-3.2, §4.1,
// RFC 3465 §2, RFC 6928 §2, RFC 7661 §4.3. Invariants: smss <= cwnd <= kMaxCwnd and
// ssthresh >= 2*SMSS once set; loss recovery itself (what to resend, pipe) is the sender's.
#pragma once

#include <cstdint>
#include <memory>

#include "stack/base/time.h"
#include "stack/cc/algorithm.h"

namespace utcp::stack::cc {

struct AckSample {
  std::uint32_t bytes_acked = 0;      // newly cumulatively acknowledged bytes
  std::uint32_t bytes_in_flight = 0;  // FlightSize before this ACK (includes bytes_acked)
  Duration rtt{0};                    // a valid RTT sample, or zero
  Instant now;
};

// The largest window TCP can use: 2^30 bytes (RFC 7323 §2.3, shift 14).
inline constexpr std::uint32_t kMaxCwnd = 1u << 30;

// One strategy per connection. cwnd and ssthresh are in bytes.
//
// The window grows only while the sender uses it: an ACK whose bytes_in_flight is
// below cwnd/2 (RFC 7661 §4.3 "non-validated") leaves cwnd unchanged, so an
// application-limited connection does not build a window it never tested. The
// sender must therefore fill bytes_in_flight.
class CongestionControl {
 public:
  virtual ~CongestionControl() = default;

  virtual Algorithm algorithm() const = 0;
  virtual const char* name() const = 0;

  // New cumulative ACK outside loss recovery: slow start (RFC 5681 §3.1, appropriate
  // byte counting RFC 3465 with L = 2*SMSS) or congestion avoidance.
  virtual void on_ack(const AckSample& s) = 0;
  // Loss detected by duplicate ACKs or SACK (entering fast recovery): sets ssthresh
  // (RFC 5681 eq. 4 for NewReno; beta_cubic for CUBIC) and cwnd = ssthresh. The
  // sender adds RFC 6582 inflation on top when it uses NewReno recovery.
  virtual void on_congestion_event(std::uint32_t flight_size, Instant now) = 0;
  // Recovery ended (RFC 6582 §3.2 step 3 / RFC 6675 §5): cwnd = ssthresh by default.
  virtual void on_recovery_exit(Instant now);
  // Retransmission timeout (RFC 5681 §3.1): ssthresh from flight size, cwnd = 1 SMSS
  // (loss window). A second timeout before any new data is acknowledged keeps
  // ssthresh ("held constant", RFC 5681 §3.1).
  virtual void on_rto(std::uint32_t flight_size, Instant now) = 0;
  // RFC 5681 §4.1: after an idle period longer than the RTO, cwnd = min(cwnd,
  // restart window = IW).
  virtual void on_idle_restart(Instant now);

  std::uint32_t cwnd() const { return cwnd_; }
  std::uint32_t ssthresh() const { return ssthresh_; }
  std::uint32_t smss() const { return smss_; }
  // IW for the current SMSS (RFC 6928 §2 when configured with 10 segments).
  std::uint32_t initial_window() const;
  // The sender's recovery arithmetic; clamps to [1 SMSS, kMaxCwnd].
  void set_cwnd(std::uint32_t bytes);
  // Path MTU changed. cwnd and ssthresh keep their byte values (the path's capacity
  // did not change), clamped to at least 1 and 2 new SMSS.
  void set_smss(std::uint32_t smss);
  bool in_slow_start() const { return cwnd_ < ssthresh_; }

 protected:
  CongestionControl(std::uint32_t smss, std::uint32_t initial_window_segments);
  // Copies only through a concrete strategy, never sliced through the base.
  CongestionControl(const CongestionControl&) = default;
  CongestionControl& operator=(const CongestionControl&) = default;

  void set_ssthresh(std::uint32_t bytes);
  // RFC 5681 §3.1 equation (4): max(FlightSize / 2, 2*SMSS).
  std::uint32_t half_flight(std::uint32_t flight_size) const;
  // RFC 7661 §4.3: the window counts as used when FlightSize >= cwnd / 2.
  bool cwnd_limited(const AckSample& s) const;
  // Slow start with ABC (RFC 3465 §2.2, L = 2*SMSS), never past ssthresh. Returns
  // the acknowledged bytes slow start did not use, for congestion avoidance.
  std::uint32_t slow_start(std::uint32_t bytes_acked);
  // Timeout bookkeeping shared by the strategies: sets ssthresh unless this timeout
  // repeats one with no new ACK in between, then cwnd = 1 SMSS.
  void enter_loss_window(std::uint32_t new_ssthresh);
  // A new ACK, a fast-recovery episode or its end closes a timeout series.
  void end_rto_series();
  bool in_rto_series() const { return in_rto_series_; }

 private:
  std::uint32_t smss_;
  std::uint32_t initial_window_segments_;
  std::uint32_t cwnd_;
  std::uint32_t ssthresh_;
  bool in_rto_series_ = false;
};

std::unique_ptr<CongestionControl> make_congestion_control(
    Algorithm a, std::uint32_t smss, std::uint32_t initial_window_segments);

}  // namespace utcp::stack::cc
