// SEGMENT ARRIVES (RFC 9293 §3.10.7.3 SYN-SENT, §3.10.7.4 other states), step by step,
// with RFC 5961 (blind RST/SYN/ACK), RFC 7323 §5.3 PAWS and §4.3 TS.Recent.
// Call order: on_segment() -> input_syn_sent() | input_synchronized() -> output().
// Invariant: text is only stored within [RCV.NXT, RCV.ADV); the urgent pointer is
// ignored and urgent data delivered inline (urgent mode is not supported).
#include <algorithm>

#include "stack/tcp/connection_impl.h"
#include "stack/tcp/handshake.h"

namespace utcp::stack::tcp {

namespace flags = wire::tcp_flags;

namespace {
// RFC 7323 §5.5: TS.Recent older than 24 days is no longer used for PAWS.
constexpr Duration kPawsIdle = std::chrono::hours(24 * 24);
// Linux's TCP_PAWS_WINDOW: a TSval one tick behind TS.Recent is reordering, not an old
// duplicate. A peer's millisecond clock ticks between segments sent back to back, so
// without this a segment overtaken by the next one (or by a retransmission that
// already moved TS.Recent) is discarded and has to be sent again.
constexpr std::int32_t kPawsWindow = 1;
}  // namespace

void TcpConnection::on_segment(const wire::TcpRepr& seg, std::span<const std::uint8_t> payload,
                               Instant now) {
  ++segs_in_;
  ++ctx_.counters->segs_in;
  switch (state_) {
    case State::kClosed:
    case State::kListen:
      // RFC 9293 §3.10.7.1: a segment for a closed TCB is answered with a reset.
      if (auto rst = reset_for(seg, payload.size())) {
        emit(*rst, {}, {}, now);
      }
      return;
    case State::kSynSent:
      input_syn_sent(seg, payload, now);
      break;
    default:
      input_synchronized(seg, payload, now);
      break;
  }
  if (state_ != State::kClosed) {
    output(now);
  }
}

// RFC 9293 §3.10.7.3 "If the state is SYN-SENT".
void TcpConnection::input_syn_sent(const wire::TcpRepr& seg,
                                   std::span<const std::uint8_t> payload, Instant now) {
  const bool has_ack = seg.has(flags::kAck);
  // First, check the ACK bit: "If SEG.ACK =< ISS or SEG.ACK > SND.NXT, send a reset
  // (unless the RST bit is set, if so drop the segment and return)".
  if (has_ack && (seg.ack <= tcb_.iss || seg.ack > tcb_.snd_max)) {
    if (!seg.has(flags::kRst)) {
      send_rst(seg.ack, false);
    }
    return;
  }
  // Second, check the RST bit: "If the ACK was acceptable, then signal to the user
  // 'error: connection reset', drop the segment, enter CLOSED state".
  if (seg.has(flags::kRst)) {
    if (has_ack) {
      ++ctx_.counters->resets_in;
      enter_closed(ECONNREFUSED);
    }
    return;
  }
  // Fourth, check the SYN bit (the third, security, does not apply).
  if (!seg.has(flags::kSyn)) {
    return;  // "If neither of the SYN or RST bits is set, then drop the segment"
  }
  tcb_.irs = seg.seq;
  tcb_.rcv_nxt = seg.seq + 1;
  negotiate(peer_offer_from(seg));
  if (tcb_.ts_ok) {
    tcb_.ts_recent = seg.options.timestamps->tsval;
    tcb_.ts_recent_age = now;
  }
  // Our SYN offered this much, unscaled (RFC 7323 §2.2).
  tcb_.rcv_adv = tcb_.rcv_nxt + std::min<std::uint32_t>(rcv_buf_.free_space(), 0xffff);
  // RFC 7323 §2.2: "The window field in a SYN (i.e., a <SYN> or <SYN,ACK>) segment
  // itself is never scaled."
  tcb_.snd_wnd = seg.window;
  tcb_.max_snd_wnd = tcb_.snd_wnd;
  tcb_.snd_wl1 = seg.seq;
  tcb_.snd_wl2 = seg.ack;
  if (!has_ack) {
    // Simultaneous open: "enter SYN-RECEIVED, form a SYN,ACK segment and send it".
    set_state(State::kSynReceived);
    timers_.rto = kNever;
    rtt_timing_ = false;
    send_syn(now);
    return;
  }
  // "If SND.UNA > ISS (our SYN has been ACKed), change the connection state to
  // ESTABLISHED, form an ACK segment and send it."
  if (rtt_timing_ && rtt_.backoffs() == 0) {
    rtt_.on_sample(now - rtt_start_);  // Karn: only a SYN that was not retransmitted
  }
  rtt_timing_ = false;
  rtt_.reset_backoff();
  tcb_.snd_una = seg.ack;
  tcb_.syn_acked = true;
  timers_.rto = kNever;
  enter_established(now);
  ack_now_ = true;
  // "continue processing at the sixth step below where the URG bit is checked"
  const SeqNum text_seq = seg.seq + 1;
  process_text(text_seq, payload.first(std::min<std::size_t>(payload.size(), tcb_.rcv_adv - text_seq)), now);
  if (seg.has(flags::kFin) && text_seq + static_cast<std::uint32_t>(payload.size()) == tcb_.rcv_nxt) {
    process_fin(now);
  }
}

// RFC 7323 §5.3 R1: a segment whose TSval is older than TS.Recent is a duplicate,
// with two allowances taken from Linux (tcp_paws_discard): kPawsWindow, and a
// reordered duplicate ACK, which carries nothing PAWS protects but is a loss signal.
bool TcpConnection::paws_rejects(const wire::TcpRepr& seg, std::size_t payload_len,
                                 Instant now) const {
  if (!tcb_.ts_ok || !seg.options.timestamps || seg.has(flags::kRst)) {
    return false;
  }
  if (now - tcb_.ts_recent_age > kPawsIdle) {
    return false;  // R1: "... and if TS.Recent is valid"
  }
  const auto behind = static_cast<std::int32_t>(tcb_.ts_recent - seg.options.timestamps->tsval);
  if (behind <= kPawsWindow) {
    return false;
  }
  return !disordered_ack(seg, payload_len, behind);
}

// Linux's tcp_disordered_ack: a pure duplicate ACK (at RCV.NXT, acking SND.UNA, the
// window unchanged) that was overtaken on the way, by at most one RTO of the peer's
// clock (read as milliseconds, the common granularity).
bool TcpConnection::disordered_ack(const wire::TcpRepr& seg, std::size_t payload_len,
                                   std::int32_t behind) const {
  if (payload_len != 0 || seg.flags != flags::kAck || seg.seq != tcb_.rcv_nxt ||
      seg.ack != tcb_.snd_una) {
    return false;
  }
  if ((std::uint32_t{seg.window} << tcb_.snd_wscale) != tcb_.snd_wnd) {
    return false;
  }
  const auto rto_ms = std::chrono::duration_cast<std::chrono::milliseconds>(rtt_.rto()).count();
  return behind <= rto_ms;
}

// RFC 9293 §3.10.7.4 first step. RSTs get the RFC's four cases exactly (RFC 5961
// builds on them). Other segments get Linux's wider tcp_sequence() test: acceptable
// when they end at or after the last ACK we sent and start at or before the right
// edge. The extra cases carry ACK information the strict test throws away: a pure ACK
// at exactly the right edge (the peer filled our small window and the ACK overtook
// the data) and a duplicate of data we hold but have not acknowledged yet. Seen
// against Linux over a reordering wire, where losing those ACKs led to spurious RTOs.
// Text outside [RCV.NXT, RCV.ADV) is trimmed in the seventh step either way.
bool TcpConnection::acceptable(const wire::TcpRepr& seg, std::size_t payload_len) const {
  const std::uint32_t rcv_wnd = std::max(tcb_.rcv_adv - tcb_.rcv_nxt, 0);
  const std::uint32_t seg_len = static_cast<std::uint32_t>(payload_len) +
                                (seg.has(flags::kSyn) ? 1 : 0) + (seg.has(flags::kFin) ? 1 : 0);
  if (!seg.has(flags::kRst)) {
    return seg.seq + seg_len >= tcb_.last_ack_sent && seg.seq <= tcb_.rcv_nxt + rcv_wnd;
  }
  if (rcv_wnd == 0) {
    // "If the RCV.WND is zero, no segments will be acceptable, but special allowance
    // should be made to accept valid ACKs, URGs, and RSTs".
    return seg.seq == tcb_.rcv_nxt;
  }
  if (seg_len == 0) {
    return seq_in_window(seg.seq, tcb_.rcv_nxt, rcv_wnd);
  }
  return seq_in_window(seg.seq, tcb_.rcv_nxt, rcv_wnd) ||
         seq_in_window(seg.seq + (seg_len - 1), tcb_.rcv_nxt, rcv_wnd);
}

void TcpConnection::input_synchronized(const wire::TcpRepr& seg,
                                       std::span<const std::uint8_t> payload, Instant now) {
  const bool rst = seg.has(flags::kRst);
  // Simultaneous open (RFC 9293 §3.5 figure 8): the peer's SYN-ACK repeats the SYN we
  // have; its ACK completes our handshake (as Linux's tcp_validate_incoming passes it).
  if (state_ == State::kSynReceived && seg.has(flags::kSyn) && seg.has(flags::kAck) && !rst &&
      seg.seq == tcb_.irs && seg.ack == tcb_.snd_max) {
    wire::TcpRepr ack = seg;
    ack.flags &= static_cast<std::uint8_t>(~flags::kSyn);
    ack.seq = seg.seq + 1;
    input_synchronized(ack, payload, now);
    return;
  }
  // SYN-RECEIVED: the peer retransmitted its SYN, so our SYN-ACK was lost.
  if (state_ == State::kSynReceived && seg.has(flags::kSyn) && !seg.has(flags::kAck) && !rst &&
      seg.seq == tcb_.irs) {
    send_syn(now);
    return;
  }
  // TIME-WAIT: "The only thing that can arrive in this state is a retransmission of
  // the remote FIN. Acknowledge it, and restart the 2 MSL timeout." (§3.10.7.4)
  if (state_ == State::kTimeWait && seg.has(flags::kFin) && !rst &&
      seg.seq + static_cast<std::uint32_t>(payload.size()) + 1 == tcb_.rcv_nxt) {
    send_ack(now);
    timers_.close = now + 2 * cfg_.msl;
    return;
  }
  // RFC 7323 §5.3 R1, before the sequence number check.
  if (paws_rejects(seg, payload.size(), now)) {
    ++ctx_.counters->paws_rejected;
    send_invalid_ack(seg, payload.size(), now);
    return;
  }
  // First, check sequence number: "If an incoming segment is not acceptable, an
  // acknowledgment should be sent in reply (unless the RST bit is set)".
  if (!acceptable(seg, payload.size())) {
    ++ctx_.counters->out_of_window;
    if (!rst) {
      send_invalid_ack(seg, payload.size(), now);
    }
    return;
  }
  maybe_update_ts_recent(seg, now);
  last_rcv_ = now;
  probes_out_ = 0;  // the peer is alive: persist and keepalive probes were answered
  arm_keepalive(now);
  // Second, check the RST bit (RFC 5961 §3.2).
  if (rst) {
    process_rst(seg);
    if (state_ != State::kClosed) {
      send_challenge_ack(now);
    }
    return;
  }
  // Fourth, check the SYN bit: RFC 5961 §4.2 "send an ACK (challenge ACK) ... and
  // discard the received SYN", whatever its sequence number.
  if (seg.has(flags::kSyn)) {
    send_challenge_ack(now);
    return;
  }
  // Fifth, check the ACK field: "if the ACK bit is off, drop the segment and return".
  if (!seg.has(flags::kAck) || !process_ack(seg, payload.size(), now)) {
    return;
  }
  if (state_ == State::kClosed || state_ == State::kTimeWait) {
    return;
  }
  // Sixth, check the URG bit: not supported; urgent data is delivered inline.
  // Seventh, process the segment text: trim to [RCV.NXT, RCV.ADV).
  SeqNum seq = seg.seq;
  std::span<const std::uint8_t> text = payload;
  bool fin = seg.has(flags::kFin);
  if (seq < tcb_.rcv_nxt) {
    note_duplicate(seq, text.size());
    const auto skip = std::min<std::size_t>(tcb_.rcv_nxt - seq, text.size());
    text = text.subspan(skip);
    seq += static_cast<std::uint32_t>(skip);
    fin = fin && seq == tcb_.rcv_nxt;  // a FIN below RCV.NXT was already received
    if (text.empty() && !fin && !payload.empty()) {
      ack_now_ = true;  // a retransmission of what we hold: the peer missed our ACK
    }
  }
  const std::uint32_t room = std::max(tcb_.rcv_adv - seq, 0);
  if (text.size() > room) {
    text = text.first(room);
    fin = false;
    ack_now_ = true;  // tell the peer what was dropped
  }
  if (!text.empty() && rd_shutdown_ && seq + static_cast<std::uint32_t>(text.size()) > tcb_.rcv_nxt &&
      (state_ == State::kFinWait1 || state_ == State::kFinWait2)) {
    // Linux (tcp_rcv_state_process): new data for a socket whose reader has gone is
    // answered with a reset, so the peer does not keep sending into the void.
    send_rst(tcb_.snd_max, true);
    enter_closed(0);
    return;
  }
  process_text(seq, text, now);
  // Eighth, check the FIN bit (in order only; an early FIN is remembered).
  const SeqNum fin_at = seq + static_cast<std::uint32_t>(text.size());
  if (fin && fin_at > tcb_.rcv_nxt && !tcb_.peer_fin) {
    tcb_.rcv_fin_seq = fin_at;
    ack_now_ = true;
  }
  if ((fin && fin_at == tcb_.rcv_nxt) || (tcb_.rcv_fin_seq && *tcb_.rcv_fin_seq == tcb_.rcv_nxt)) {
    process_fin(now);
  }
}

// RFC 5961 §3.2: "If the RST bit is set and the sequence number exactly matches the
// next expected sequence number (RCV.NXT), then TCP MUST reset the connection";
// otherwise (in window) the caller sends a challenge ACK.
void TcpConnection::process_rst(const wire::TcpRepr& seg) {
  if (seg.seq != tcb_.rcv_nxt) {
    return;
  }
  ++ctx_.counters->resets_in;
  switch (state_) {
    case State::kSynReceived:
      // A passive open returns to LISTEN (the engine's listener): nobody to tell.
      enter_closed(passive_ ? 0 : ECONNREFUSED);
      break;
    case State::kCloseWait:
      enter_closed(EPIPE);  // Linux tcp_reset(): the reader already saw EOF
      break;
    case State::kClosing:
    case State::kLastAck:
    case State::kTimeWait:
      enter_closed(0);
      break;
    default:
      enter_closed(ECONNRESET);
      break;
  }
}

// RFC 9293 §3.10.7.4 fifth step, with RFC 5961 §5.2. Returns false to drop the segment.
bool TcpConnection::process_ack(const wire::TcpRepr& seg, std::size_t payload_len, Instant now) {
  const SeqNum ack = seg.ack;
  if (state_ == State::kSynReceived) {
    // "If SND.UNA < SEG.ACK =< SND.NXT, then enter ESTABLISHED state ... If the segment
    // acknowledgment is not acceptable, form a reset segment <SEQ=SEG.ACK><CTL=RST>".
    if (!(tcb_.snd_una < ack && ack <= tcb_.snd_max)) {
      send_rst(ack, false);
      return false;
    }
    tcb_.snd_wnd = std::uint32_t{seg.window} << tcb_.snd_wscale;
    tcb_.max_snd_wnd = std::max(tcb_.max_snd_wnd, tcb_.snd_wnd);
    tcb_.snd_wl1 = seg.seq;
    tcb_.snd_wl2 = ack;
    enter_established(now);
  }
  // RFC 5961 §5.2: "(SND.UNA - MAX.SND.WND) =< SEG.ACK =< SND.NXT" or a challenge ACK;
  // above SND.NXT this is also RFC 9293's "ACK acks something not yet sent".
  if (ack > tcb_.snd_max || ack < tcb_.snd_una - tcb_.max_snd_wnd) {
    send_challenge_ack(now);
    return false;
  }
  if (ack < tcb_.snd_una) {
    return true;  // "If the ACK is a duplicate (SEG.ACK < SND.UNA), it can be ignored"
  }
  const std::uint32_t window = std::uint32_t{seg.window} << tcb_.snd_wscale;
  const bool is_dup = ack == tcb_.snd_una && tcb_.snd_max != tcb_.snd_una && payload_len == 0 &&
                      !seg.has(flags::kFin) && window == tcb_.snd_wnd;
  const std::uint32_t flight_before = flight_size();
  const std::uint32_t acked = ack - tcb_.snd_una;
  Duration rtt{0};
  if (acked > 0) {
    take_rtt_sample(seg, now, rtt);
    on_new_ack(seg, now);
  }
  update_window(seg);
  const std::uint32_t newly_sacked = process_sack(seg);
  if (acked > 0) {
    if (rto_recovery_ && tcb_.snd_una >= loss_floor_) {
      rto_recovery_ = false;  // every hole from before the RTO is filled
    }
    if (in_recovery_) {
      on_recovery_ack(acked, now);
    } else {
      dupacks_ = 0;
      cc_->on_ack(cc::AckSample{acked, flight_before, rtt, now});
    }
  } else if (tcb_.sack_ok ? (newly_sacked > 0 && tcb_.snd_max != tcb_.snd_una) : is_dup) {
    // RFC 6675 §2 DupAck: with SACK, an ACK that SACKs new data; else RFC 5681 §2.
    ++ctx_.counters->dup_acks_in;
    on_duplicate_ack(now);
  }
  if (tcb_.fin_queued && tcb_.snd_una == tcb_.fin_seq + 1) {
    on_fin_acked(now);
  }
  return state_ != State::kClosed;
}

// "If SND.WL1 < SEG.SEQ or (SND.WL1 = SEG.SEQ and SND.WL2 =< SEG.ACK), set
// SND.WND <- SEG.WND, set SND.WL1 <- SEG.SEQ, and set SND.WL2 <- SEG.ACK."
void TcpConnection::update_window(const wire::TcpRepr& seg) {
  if (tcb_.snd_wl1 < seg.seq || (tcb_.snd_wl1 == seg.seq && tcb_.snd_wl2 <= seg.ack)) {
    tcb_.snd_wnd = std::uint32_t{seg.window} << tcb_.snd_wscale;
    tcb_.max_snd_wnd = std::max(tcb_.max_snd_wnd, tcb_.snd_wnd);
    tcb_.snd_wl1 = seg.seq;
    tcb_.snd_wl2 = seg.ack;
  }
}

// "If SND.UNA < SEG.ACK =< SND.NXT, then set SND.UNA <- SEG.ACK. Any segments on the
// retransmission queue that are thereby entirely acknowledged are removed."
void TcpConnection::on_new_ack(const wire::TcpRepr& seg, Instant now) {
  const SeqNum start = data_start();
  const std::uint32_t data_acked =
      seg.ack > start ? std::min<std::uint32_t>(seg.ack - start, static_cast<std::uint32_t>(snd_buf_.size())) : 0;
  snd_buf_.consume(data_acked);
  bytes_acked_ += data_acked;
  tcb_.snd_una = seg.ack;
  while (!record_ends_.empty() && record_ends_.front() <= tcb_.snd_una) {
    record_ends_.pop_front();
  }
  tcb_.syn_acked = true;
  if (tcb_.snd_nxt < tcb_.snd_una) {
    tcb_.snd_nxt = tcb_.snd_una;  // data sent before an RTO arrived after all
  }
  rtt_.reset_backoff();
  probes_out_ = 0;
  probe_start_ = kNever;
  // RFC 6298 §5.2-5.3: stop the timer when all is acknowledged, else restart it.
  timers_.rto = tcb_.snd_una == tcb_.snd_max ? kNever : now + rtt_.rto();
  // The new head of the queue was sent at most an RTT ago; `now` stands for it.
  head_sent_ = tcb_.snd_una == tcb_.snd_max ? kNever : now;
  if (data_acked > 0) {
    note_events(events::kWritable);
  }
}

void TcpConnection::on_fin_acked(Instant now) {
  switch (state_) {
    case State::kFinWait1:
      // "In addition to the processing for the ESTABLISHED state, if the FIN segment
      // is now acknowledged, then enter FIN-WAIT-2 and continue processing".
      set_state(State::kFinWait2);
      if (orphan_) {
        timers_.close = now + kOrphanFinWait2Timeout;
      }
      break;
    case State::kClosing:
      enter_time_wait(now);
      break;
    case State::kLastAck:
      enter_closed(0);
      break;
    default:
      break;
  }
}

// RFC 9293 §3.10.7.4 seventh step, RFC 5681 §4.2 (when to ACK).
void TcpConnection::process_text(SeqNum seq, std::span<const std::uint8_t> text, Instant now) {
  if (text.empty() || (state_ != State::kEstablished && state_ != State::kFinWait1 &&
                       state_ != State::kFinWait2)) {
    return;
  }
  tcb_.rcv_mss_seen = std::clamp<std::uint32_t>(static_cast<std::uint32_t>(text.size()),
                                                tcb_.rcv_mss_seen, tcb_.rcv_mss);
  if (seq != tcb_.rcv_nxt) {
    store_out_of_order(seq, text);
    ack_now_ = true;  // "an out-of-order data segment SHOULD be acknowledged immediately"
    return;
  }
  const auto n = static_cast<std::uint32_t>(rcv_buf_.push(text));
  tcb_.rcv_nxt += n;
  std::uint32_t filled = 0;
  if (!reassembly_.empty()) {
    filled = reassembly_.pop_contiguous(tcb_.rcv_nxt);
    rcv_buf_.commit(filled);
    tcb_.rcv_nxt += filled;
    // "... if the incoming segment fills in all or part of a gap in the sequence
    // space", ACK immediately.
    ack_now_ = true;
  }
  bytes_received_ += n + filled;
  ctx_.counters->bytes_in += n + filled;
  note_events(events::kReadable);
  end_defer();  // TCP_DEFER_ACCEPT waited for this
  schedule_ack(now);
}

void TcpConnection::store_out_of_order(SeqNum seq, std::span<const std::uint8_t> text) {
  const std::uint32_t offset = seq - tcb_.rcv_nxt;
  const std::size_t free = rcv_buf_.free_space();
  if (offset >= free) {
    return;
  }
  const auto len = static_cast<std::uint32_t>(std::min(text.size(), free - offset));
  if (!reassembly_.insert(tcb_.rcv_nxt, seq, len)) {
    ++ctx_.counters->ooo_dropped;
    return;
  }
  rcv_buf_.write_at(offset, text.first(len));
  ++ctx_.counters->ooo_segments;
}

// RFC 9293 §3.10.7.4 eighth step.
void TcpConnection::process_fin(Instant now) {
  tcb_.rcv_nxt += 1;
  tcb_.peer_fin = true;
  tcb_.rcv_fin_seq.reset();
  ack_now_ = true;
  end_defer();  // a FIN hands a deferred connection over, as data does (Linux: not a bare ACK)
  note_events(events::kReadable | events::kReadHangup);
  switch (state_) {
    case State::kSynReceived:
    case State::kEstablished:
      set_state(State::kCloseWait);
      break;
    case State::kFinWait1:
      // Our FIN is not yet acknowledged, or on_fin_acked() would have moved us on.
      set_state(State::kClosing);
      break;
    case State::kFinWait2:
      enter_time_wait(now);
      break;
    default:
      break;
  }
  if (wr_shutdown_) {
    note_events(events::kHangup);
  }
}

// RFC 7323 §4.3: "If SEG.TSval >= TS.Recent and SEG.SEQ =< Last.ACK.sent, then
// SEG.TSval is copied to TS.Recent".
void TcpConnection::maybe_update_ts_recent(const wire::TcpRepr& seg, Instant now) {
  if (!tcb_.ts_ok || !seg.options.timestamps) {
    return;
  }
  const std::uint32_t v = seg.options.timestamps->tsval;
  const bool stale = now - tcb_.ts_recent_age > kPawsIdle;
  if ((static_cast<std::int32_t>(v - tcb_.ts_recent) >= 0 || stale) &&
      seg.seq <= tcb_.last_ack_sent) {
    tcb_.ts_recent = v;
    tcb_.ts_recent_age = now;
  }
}

// RFC 5681 §4.2: "an ACK SHOULD be generated for at least every second full-sized
// segment, and MUST be generated within 500 ms" (here cfg.delayed_ack).
void TcpConnection::schedule_ack(Instant now) {
  if (tcb_.rcv_nxt - tcb_.last_ack_sent >= static_cast<std::int32_t>(2 * tcb_.rcv_mss_seen)) {
    ack_now_ = true;
  } else if (timers_.delack == kNever) {
    timers_.delack = now + cfg_.delayed_ack;
  }
}

}  // namespace utcp::stack::tcp
