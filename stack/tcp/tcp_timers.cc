// Timers of one connection, all as deadlines compared with `now`: retransmission
// (RFC 6298 §5, Karn §3), persist (RFC 9293 §3.8.6.1), keepalive (RFC 1122 §4.2.3.6),
// delayed ACK (RFC 5681 §4.2), TIME-WAIT 2*MSL and the orphan FIN-WAIT-2 timeout.
// Invariant: next_deadline() is the earliest armed deadline, kNever when none is.
#include <algorithm>

#include "stack/tcp/connection_impl.h"

namespace utcp::stack::tcp {

namespace {
constexpr std::uint32_t kMaxPersistShift = 16;
}  // namespace

Instant TcpConnection::next_deadline() const {
  return std::min({timers_.rto, timers_.persist, timers_.delack, timers_.keepalive,
                   timers_.close, timers_.cork, timers_.defer});
}

void TcpConnection::on_timer(Instant now) {
  if (timers_.close <= now) {
    timers_.close = kNever;
    if (state_ == State::kTimeWait || state_ == State::kFinWait2) {
      enter_closed(0);  // 2*MSL elapsed, or the orphan's peer never sent its FIN
      return;
    }
  }
  if (timers_.rto <= now) {
    on_rto(now);
  }
  if (state_ != State::kClosed && timers_.persist <= now) {
    on_persist(now);
  }
  if (state_ != State::kClosed && timers_.keepalive <= now) {
    on_keepalive(now);
  }
  if (state_ != State::kClosed && timers_.delack <= now) {
    on_delack(now);
  }
  if (state_ != State::kClosed && timers_.cork <= now) {
    on_cork(now);
  }
  if (timers_.defer <= now) {
    end_defer();  // TCP_DEFER_ACCEPT ran out: the engine hands the connection over
  }
}

// The cork ceiling: whatever partial segment TCP_CORK or MSG_MORE held goes out now
// (the cork itself stays on for later writes, as on Linux).
void TcpConnection::on_cork(Instant now) {
  timers_.cork = kNever;
  push_once_ = true;
  output(now);
  push_once_ = false;
}

bool TcpConnection::retries_exhausted() const {
  switch (state_) {
    case State::kSynSent: return rtt_.backoffs() >= cfg_.syn_retries;
    case State::kSynReceived: return rtt_.backoffs() >= cfg_.synack_retries;
    default: return rtt_.backoffs() >= cfg_.max_retransmits;
  }
}

// RFC 6298 §5.4-5.6: retransmit the earliest unacknowledged segment, back off the
// timer, and (RFC 5681 §3.1) shrink cwnd to the loss window.
void TcpConnection::on_rto(Instant now) {
  timers_.rto = kNever;
  if (tcb_.snd_una == tcb_.snd_max) {
    return;
  }
  const std::optional<Instant> user_end = user_deadline();
  if (retries_exhausted() || (user_end && now >= *user_end)) {
    ++ctx_.counters->timeouts;
    if (synchronized()) {
      send_rst(tcb_.snd_max, true);  // Linux tcp_write_err() path after retries2
    }
    enter_closed(soft_error_ != 0 ? soft_error_ : ETIMEDOUT);
    return;
  }
  ++ctx_.counters->rto_timeouts;
  rtt_.backoff();
  if (state_ == State::kSynSent || state_ == State::kSynReceived) {
    send_syn(now);
    return;
  }
  cc_->on_rto(flight_size(), now);
  reset_recovery();
  // RFC 6582 §4 / RFC 6675 §5.1: no fast recovery for losses from before the timeout.
  recover_ = tcb_.snd_max;
  recover_valid_ = true;
  const bool progressed = !rto_una_valid_ || tcb_.snd_una != rto_una_;
  rto_una_ = tcb_.snd_una;
  rto_una_valid_ = true;
  if (tcb_.sack_ok && !scoreboard_.empty() && progressed) {
    // Resend only the holes (output() -> sack_output()): going back N would resend
    // everything the receiver already holds, and on a lossy path lose some of it again,
    // and with fast recovery barred until RecoveryPoint, each such loss costs an RTO.
    rto_recovery_ = true;
    loss_floor_ = tcb_.snd_max;
  } else {
    scoreboard_.clear();
    tcb_.snd_nxt = tcb_.snd_una;  // go back N: resend from SND.UNA under the loss window
  }
  rtt_timing_ = false;
  output(now);
  arm_rto(now);
}

Duration TcpConnection::persist_interval() const {
  const Duration base = std::clamp(rtt_.rto(), cfg_.persist_min, cfg_.persist_max);
  const std::uint32_t shift = std::min(persist_backoff_, kMaxPersistShift);
  return std::min(base * (std::int64_t{1} << shift), cfg_.persist_max);
}

// RFC 9293 §3.8.6.1: "The sending TCP must regularly transmit at least one octet of
// new data (if available), or retransmit to the receiving TCP even if the send window
// is zero". A zero window gets a probe the peer must ACK; a small but non-zero one
// gets what fits (the SWS override timeout of §3.8.6.2.1).
void TcpConnection::on_persist(Instant now) {
  timers_.persist = kNever;
  // Linux's tcp_probe_timer: with TCP_USER_TIMEOUT, a window that stays closed that long
  // after the first probe ends the connection, however the peer answers.
  const bool user_expired = opts_.user_timeout > Duration::zero() && probe_start_ != kNever &&
                            now - probe_start_ >= opts_.user_timeout;
  if (probes_out_ >= cfg_.max_retransmits || user_expired) {
    ++ctx_.counters->timeouts;
    enter_closed(ETIMEDOUT);
    return;
  }
  const std::uint32_t room = usable_window();
  if (room == 0) {
    if (probe_start_ == kNever) {
      probe_start_ = now;
    }
    send_probe(now);
    ++ctx_.counters->zero_window_probes;
    ++probes_out_;
  } else if (const auto unsent = static_cast<std::uint32_t>(data_end() - tcb_.snd_nxt); unsent > 0) {
    tcb_.snd_nxt += transmit(tcb_.snd_nxt, std::min({room, unsent, tcb_.snd_mss}), now);
  } else {
    maybe_send_fin(now);  // only the FIN was waiting for the window
  }
  if (tcb_.snd_nxt == tcb_.snd_una) {
    ++persist_backoff_;
    timers_.persist = now + persist_interval();
  }
}

void TcpConnection::arm_keepalive(Instant now) {
  if (!opts_.keepalive || (state_ != State::kEstablished && state_ != State::kCloseWait)) {
    timers_.keepalive = kNever;
    return;
  }
  timers_.keepalive = (probes_out_ == 0 ? last_rcv_ + opts_.keepalive_idle
                                        : now + opts_.keepalive_interval);
}

// RFC 1122 §4.2.3.6, with Linux's knobs: after keepalive_idle without a segment from
// the peer, probe every keepalive_interval; keepalive_count unanswered probes abort.
void TcpConnection::on_keepalive(Instant now) {
  timers_.keepalive = kNever;
  if (!opts_.keepalive || (state_ != State::kEstablished && state_ != State::kCloseWait)) {
    return;
  }
  if (tcb_.snd_max != tcb_.snd_una || tcb_.snd_nxt < data_end()) {
    timers_.keepalive = now + opts_.keepalive_idle;  // the RTO or persist timer watches
    return;
  }
  if (probes_out_ == 0 && now - last_rcv_ < opts_.keepalive_idle) {
    timers_.keepalive = last_rcv_ + opts_.keepalive_idle;
    return;
  }
  // Linux's tcp_keepalive_timer: with TCP_USER_TIMEOUT, the time since the peer was last
  // heard decides (once a probe is out), not the probe count.
  const bool by_time = opts_.user_timeout > Duration::zero();
  if (by_time ? probes_out_ > 0 && now - last_rcv_ >= opts_.user_timeout
              : probes_out_ >= opts_.keepalive_count) {
    ++ctx_.counters->timeouts;
    send_rst(tcb_.snd_max, true);
    enter_closed(soft_error_ != 0 ? soft_error_ : ETIMEDOUT);
    return;
  }
  send_probe(now);
  ++ctx_.counters->keepalive_probes;
  ++probes_out_;
  timers_.keepalive = now + opts_.keepalive_interval;
}

void TcpConnection::on_delack(Instant now) {
  timers_.delack = kNever;
  if (synchronized() && tcb_.last_ack_sent != tcb_.rcv_nxt) {
    ++ctx_.counters->delayed_acks;
    send_ack(now);
  }
}

}  // namespace utcp::stack::tcp
