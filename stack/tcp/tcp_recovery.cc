// Loss recovery and path signals: RTT samples (RFC 6298 §3 Karn, RFC 7323 §4 RTTM),
// duplicate ACKs and fast retransmit (RFC 5681 §3.2), SACK-based recovery (RFC 6675
// §5) when SACK was negotiated, NewReno (RFC 6582 §3.2) otherwise, ICMP errors
// (RFC 5927 §4.1, RFC 1122 §4.2.3.9). Invariant: in_recovery_ implies recover_valid_.
#include <algorithm>
#include <optional>

#include "stack/tcp/connection_impl.h"

namespace utcp::stack::tcp {

namespace {
constexpr std::uint32_t kIpTcpHeaders = 40;
constexpr std::uint32_t kTimestampOverhead = 12;
constexpr std::uint32_t kMinPathMss = 536 - 12;  // RFC 9293 §3.7.1 default, less TSopt
constexpr std::uint8_t kFragNeeded = 4;

struct IcmpError {
  int err;
  bool hard;  // Linux icmp_err_convert[].fatal
};

IcmpError icmp_error(std::uint8_t code) {
  switch (code) {
    case 0: return {ENETUNREACH, false};
    case 1: return {EHOSTUNREACH, false};
    case 2: return {ENOPROTOOPT, true};
    case 3: return {ECONNREFUSED, true};
    case 5: return {EOPNOTSUPP, false};
    case 6: return {ENETUNREACH, true};
    case 7: return {EHOSTDOWN, true};
    case 8: return {ENONET, true};
    case 9: return {ENETUNREACH, true};
    case 10: return {EHOSTUNREACH, true};
    case 11: return {ENETUNREACH, false};
    case 12: return {EHOSTUNREACH, false};
    default: return {EHOSTUNREACH, true};  // 13-15: administratively filtered
  }
}
}  // namespace

void TcpConnection::take_rtt_sample(const wire::TcpRepr& seg, Instant now, Duration& rtt) {
  // A zero sample is a real measurement (a fast LAN, or virtual time). Dropping it
  // would keep only the large ones, e.g. an ACK that echoes the timestamp of the
  // segment before a hole (RFC 7323 §4.3), and bias SRTT and the RTO upwards.
  std::optional<Duration> sample;
  if (rtt_timing_ && seg.ack > rtt_seq_) {
    sample = now - rtt_start_;  // the timed segment was never retransmitted (Karn)
    rtt_timing_ = false;
  } else if (tcb_.ts_ok && seg.options.timestamps && seg.options.timestamps->tsecr != 0) {
    // RFC 7323 §4.1 RTTM: this ACK advances the left edge; TSecr echoes our clock.
    // A TSecr ahead of our clock is bogus and gives no sample. A TSecr older than our
    // latest retransmission is no sample either: a peer answering a duplicate echoes
    // TS.Recent of the last in-order segment (§4.3), possibly seconds old, and such
    // samples after a spurious RTO inflate SRTT, hence the next RTO, hence more
    // spurious RTOs (seen with Linux over a reordering wire).
    const std::uint32_t tsecr = seg.options.timestamps->tsecr;
    const bool before_rtx =
        rtx_tsval_valid_ && static_cast<std::int32_t>(tsecr - rtx_tsval_) < 0;
    if (rtx_tsval_valid_ && !before_rtx) {
      rtx_tsval_valid_ = false;  // the peer has seen our retransmissions: samples are sound
    }
    const auto ms = static_cast<std::int32_t>(tsval(now) - tsecr);
    if (ms >= 0 && !before_rtx) {
      sample = std::chrono::milliseconds(ms);
    }
  }
  if (sample) {
    rtt_.on_sample(*sample);
    rtt = *sample;
  }
}

std::uint32_t TcpConnection::process_sack(const wire::TcpRepr& seg) {
  if (!tcb_.sack_ok) {
    return 0;
  }
  std::span<const wire::SackBlock> blocks(seg.options.sack.data(), seg.options.sack_count);
  // RFC 2883 §4: a first block wholly below the cumulative ACK reports a duplicate the
  // peer received (D-SACK), not a hole: counted, and kept off the scoreboard.
  if (!blocks.empty() && blocks[0].left < blocks[0].right && blocks[0].right <= seg.ack) {
    ++ctx_.counters->dsacks_in;
    blocks = blocks.subspan(1);
  }
  const std::uint64_t before = scoreboard_.ignored_blocks();
  const std::uint32_t newly = scoreboard_.on_ack(tcb_.snd_una, tcb_.snd_max, blocks);
  ctx_.counters->sack_blocks_ignored += scoreboard_.ignored_blocks() - before;
  return newly;
}

void TcpConnection::reset_recovery() {
  in_recovery_ = false;
  rto_recovery_ = false;
  dupacks_ = 0;
  high_rxt_ = tcb_.snd_una;
}

void TcpConnection::on_duplicate_ack(Instant now) {
  if (in_recovery_) {
    if (!tcb_.sack_ok) {
      // RFC 5681 §3.2 step 4: "For each additional duplicate ACK received (after the
      // third), cwnd MUST be incremented by SMSS."
      cc_->set_cwnd(cc_->cwnd() + tcb_.snd_mss);
    }
    return;
  }
  ++dupacks_;
  const bool lost =
      tcb_.sack_ok && scoreboard_.is_lost(tcb_.snd_una, tcb_.snd_mss, cfg_.dup_thresh);
  if (dupacks_ < cfg_.dup_thresh && !lost) {
    return;
  }
  // RFC 6582 §3.2 step 2 / RFC 6675 §5: no new recovery until the cumulative ACK
  // passes the previous recovery point (e.g. losses from before an RTO).
  if (recover_valid_ && tcb_.snd_una < recover_) {
    return;
  }
  enter_recovery(now);
}

void TcpConnection::enter_recovery(Instant now) {
  ++ctx_.counters->fast_retransmits;
  in_recovery_ = true;
  recover_ = tcb_.snd_max;  // RecoveryPoint = HighData
  recover_valid_ = true;
  high_rxt_ = tcb_.snd_una;
  cc_->on_congestion_event(flight_size(), now);
  const std::uint32_t first = std::min(tcb_.snd_mss, flight_size());
  if (tcb_.sack_ok) {
    // RFC 6675 §5 (4.3): "retransmit the first data segment presumed dropped".
    const auto r = scoreboard_.next_lost(tcb_.snd_una, high_rxt_, tcb_.snd_mss, cfg_.dup_thresh)
                       .value_or(SeqRange{tcb_.snd_una, tcb_.snd_una + first});
    high_rxt_ = r.start + transmit(r.start, r.length(), now);
    return;
  }
  // RFC 6582 §3.2 step 3 (RFC 5681 §3.2 steps 2-3): retransmit, cwnd = ssthresh + 3*SMSS.
  transmit(tcb_.snd_una, first, now);
  cc_->set_cwnd(cc_->ssthresh() + 3 * tcb_.snd_mss);
}

void TcpConnection::on_recovery_ack(std::uint32_t acked, Instant now) {
  if (tcb_.snd_una >= recover_) {
    exit_recovery(now);
    return;
  }
  if (tcb_.sack_ok) {
    return;  // RFC 6675 §5 (C): output() sends by NextSeg while cwnd - pipe >= SMSS
  }
  // RFC 6582 §3.2 step 5, partial ACK: "retransmit the first unacknowledged segment
  // ... deflate the congestion window by the amount of new data acknowledged ... add
  // back SMSS bytes" if that amount was at least SMSS.
  transmit(tcb_.snd_una, std::min(tcb_.snd_mss, flight_size()), now);
  std::uint32_t cwnd = cc_->cwnd() > acked ? cc_->cwnd() - acked : 0;
  if (acked >= tcb_.snd_mss) {
    cwnd += tcb_.snd_mss;
  }
  cc_->set_cwnd(cwnd);
}

void TcpConnection::exit_recovery(Instant now) {
  in_recovery_ = false;
  dupacks_ = 0;
  cc_->on_recovery_exit(now);
  if (!tcb_.sack_ok) {
    // RFC 6582 §3.2 step 3 option (1): cwnd = min(ssthresh, max(FlightSize, SMSS) + SMSS).
    const std::uint32_t f = std::max(flight_size(), tcb_.snd_mss) + tcb_.snd_mss;
    cc_->set_cwnd(std::min(cc_->ssthresh(), f));
  }
}

// RFC 6675 §5 (C): "while (cwnd - pipe) >= 1 SMSS", send by NextSeg().
void TcpConnection::sack_output(Instant now) {
  const std::uint32_t mss = tcb_.snd_mss;
  const std::uint32_t dt = cfg_.dup_thresh;
  const std::optional<SeqNum> floor =
      rto_recovery_ ? std::optional<SeqNum>(loss_floor_) : std::nullopt;
  for (;;) {
    const std::uint32_t pipe =
        scoreboard_.pipe(tcb_.snd_una, tcb_.snd_max, high_rxt_, mss, dt, floor);
    if (cc_->cwnd() < pipe + mss) {
      return;
    }
    std::uint32_t sent = 0;
    if (auto r = scoreboard_.next_lost(tcb_.snd_una, high_rxt_, mss, dt, floor)) {
      sent = transmit(r->start, r->length(), now);  // rule (1): a lost hole
      high_rxt_ = r->start + sent;
    } else if (tcb_.snd_nxt < data_end() && usable_window() > 0) {
      // rule (2): new data the peer's window allows
      const auto unsent = static_cast<std::uint32_t>(data_end() - tcb_.snd_nxt);
      sent = transmit(tcb_.snd_nxt, std::min({unsent, mss, usable_window()}), now);
      tcb_.snd_nxt += sent;
    } else if (auto h = scoreboard_.next_unsacked(tcb_.snd_una, high_rxt_, mss)) {
      sent = transmit(h->start, h->length(), now);  // rule (3)
      high_rxt_ = h->start + sent;
    }
    if (sent == 0) {
      return;
    }
  }
}

// RFC 1191 / RFC 5927 §4.1: a validated "fragmentation needed" lowers the MSS; the
// segments already sent were too big, so send them again at once (no congestion
// response: nothing was lost to congestion).
void TcpConnection::on_frag_needed(std::uint16_t next_hop_mtu, Instant now) {
  if (next_hop_mtu <= kIpTcpHeaders) {
    return;
  }
  std::uint32_t mss = next_hop_mtu - kIpTcpHeaders - (tcb_.ts_ok ? kTimestampOverhead : 0);
  mss = std::max(mss, kMinPathMss);
  if (mss >= tcb_.snd_mss) {
    return;
  }
  tcb_.snd_mss = mss;
  cc_->set_smss(mss);
  if (synchronized() && tcb_.snd_una != tcb_.snd_max) {
    tcb_.snd_nxt = tcb_.snd_una;
    rtt_timing_ = false;
    output(now);
  }
}

void TcpConnection::on_icmp_unreachable(SeqNum quoted_seq, std::uint8_t code,
                                        std::uint16_t next_hop_mtu, Instant now) {
  if (state_ == State::kClosed || state_ == State::kListen || state_ == State::kTimeWait) {
    return;
  }
  // RFC 5927 §4.1: "SND.UNA <= SEG.SEQ < SND.NXT", else the error is forged or stale.
  if (!(tcb_.snd_una <= quoted_seq && quoted_seq < tcb_.snd_max)) {
    ++ctx_.counters->icmp_rejected;
    return;
  }
  ++ctx_.counters->icmp_unreachable;
  if (code == kFragNeeded) {
    on_frag_needed(next_hop_mtu, now);
    return;
  }
  const IcmpError e = icmp_error(code);
  // RFC 1122 §4.2.3.9: hard errors abort a connection attempt; otherwise the error is
  // soft, kept and reported only if the connection later times out (RFC 5461 §4).
  if (state_ == State::kSynSent && e.hard) {
    enter_closed(e.err);
    return;
  }
  soft_error_ = e.err;
}

void TcpConnection::end_time_wait() {
  if (state_ == State::kTimeWait) {
    enter_closed(0);
  }
}

bool TcpConnection::time_wait_accepts_syn(const wire::TcpRepr& syn) const {
  if (state_ != State::kTimeWait) {
    return false;
  }
  // RFC 1122 §4.2.2.13: "... if its initial sequence number for the new incarnation
  // is larger than the largest sequence number it used on the previous connection".
  const bool newer_seq = syn.seq > tcb_.rcv_nxt;
  if (tcb_.ts_ok && syn.options.timestamps) {
    // RFC 6191 §2: a SYN whose TSval is newer than TS.Recent cannot be an old duplicate.
    // An equal TSval (both connections within one clock tick) falls back to the
    // sequence number test, as Linux's tcp_timewait_state_process does; an older one
    // fails PAWS.
    const auto age = static_cast<std::int32_t>(syn.options.timestamps->tsval - tcb_.ts_recent);
    return age > 0 || (age == 0 && newer_seq);
  }
  return newer_seq;
}

}  // namespace utcp::stack::tcp
