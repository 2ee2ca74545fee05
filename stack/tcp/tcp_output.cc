// The one place that decides what to send: SYN/SYN-ACK, data under min(cwnd, SND.WND)
// with Nagle/cork (RFC 1122 §4.2.3.4) and sender SWS avoidance (RFC 9293 §3.8.6.2.1),
// FIN, ACKs with the receiver's SWS rule (§3.8.6.2.2), timestamps (RFC 7323 §3) and
// SACK blocks (RFC 2018 §4). Invariant: no segment carries more than snd_mss payload
// plus option bytes beyond the timestamps; the advertised right edge never moves left.
#include <algorithm>

#include "stack/tcp/connection_impl.h"
#include "stack/tcp/handshake.h"

namespace utcp::stack::tcp {

namespace flags = wire::tcp_flags;

namespace {
constexpr std::uint32_t kMaxWindowField = 0xffff;
constexpr std::size_t kSackBlocksWithTimestamps = 3;  // 40 option bytes: 12 + 4 + 3*8
std::uint32_t sack_option_bytes(std::size_t blocks) {
  return blocks == 0 ? 0 : static_cast<std::uint32_t>(4 + 8 * blocks);  // 2 NOPs, kind, len
}
}  // namespace

void TcpConnection::output(Instant now) {
  switch (state_) {
    case State::kEstablished:
    case State::kFinWait1:
    case State::kFinWait2:
    case State::kCloseWait:
    case State::kClosing:
    case State::kLastAck:
      break;
    case State::kTimeWait:
      if (ack_now_) {
        send_ack(now);
      }
      return;
    default:
      return;  // SYN and SYN-ACK go out from their creation and the RTO timer
  }
  if ((in_recovery_ || rto_recovery_) && tcb_.sack_ok) {
    sack_output(now);
  } else {
    send_new_data(now);
  }
  maybe_send_fin(now);
  update_persist(now);
  if (ack_now_) {
    send_ack(now);
  }
}

std::uint32_t TcpConnection::flight_size() const { return tcb_.snd_max - tcb_.snd_una; }

// Room in the peer's window from SND.NXT on.
std::uint32_t TcpConnection::usable_window() const {
  const SeqNum right = tcb_.snd_una + tcb_.snd_wnd;
  return right > tcb_.snd_nxt ? static_cast<std::uint32_t>(right - tcb_.snd_nxt) : 0;
}

std::uint32_t TcpConnection::max_payload() const {
  if (!tcb_.sack_ok || (reassembly_.empty() && !dsack_)) {
    return tcb_.snd_mss;
  }
  const std::size_t cap = tcb_.ts_ok ? kSackBlocksWithTimestamps : wire::kTcpMaxSackBlocks;
  const std::size_t blocks = reassembly_.range_count() + (dsack_ ? 1 : 0);
  return tcb_.snd_mss - sack_option_bytes(std::min(blocks, cap));
}

void TcpConnection::send_new_data(Instant now) {
  if (tcb_.snd_nxt == tcb_.snd_una && tcb_.snd_nxt < data_end() &&
      now - last_send_ > rtt_.rto()) {
    cc_->on_idle_restart(now);  // RFC 5681 §4.1: restart window after an idle period
  }
  while (tcb_.snd_nxt < data_end()) {
    const auto unsent = static_cast<std::uint32_t>(data_end() - tcb_.snd_nxt);
    const auto in_flight = static_cast<std::uint32_t>(tcb_.snd_nxt - tcb_.snd_una);
    const std::uint32_t cwnd_room = cc_->cwnd() > in_flight ? cc_->cwnd() - in_flight : 0;
    const std::uint32_t peer_room = usable_window();
    const std::uint32_t mss = max_payload();
    const std::uint32_t len = record_limit(tcb_.snd_nxt, std::min({unsent, mss, cwnd_room, peer_room}));
    if (len == 0) {
      break;
    }
    const bool retransmission = tcb_.snd_nxt < tcb_.snd_max;
    // A record that ends before the data does goes out whole, as Linux sends an EOR skb
    // that is not the last one in the queue (TCP_NAGLE_PUSH in tcp_write_xmit).
    const bool record_cut = len < std::min({unsent, mss, cwnd_room, peer_room});
    if (len < mss && !retransmission && !record_cut &&
        !nagle_allows(len, unsent, /*window_limited=*/cwnd_room >= peer_room)) {
      if ((opts_.cork || more_) && len == unsent && timers_.cork == kNever) {
        timers_.cork = now + kCorkCeiling;  // tcp(7): corked data waits at most 200 ms
      }
      break;
    }
    tcb_.snd_nxt += transmit(tcb_.snd_nxt, len, now);
  }
  if (tcb_.snd_nxt >= data_end()) {
    timers_.cork = kNever;  // nothing held back any more
  }
}

// A segment shorter than the MSS goes out only when RFC 9293 §3.8.6.2.1 and Nagle
// (RFC 1122 §4.2.3.4) allow it.
bool TcpConnection::nagle_allows(std::uint32_t len, std::uint32_t unsent,
                                 bool window_limited) const {
  if (len < unsent) {
    // Cut by a window. Waiting for cwnd costs at most an RTT; for the peer window,
    // SWS rule (3): "at least a fraction Fs of the maximum window can be sent".
    return window_limited && len >= tcb_.max_snd_wnd / 2;
  }
  if (tcb_.fin_queued || push_once_) {
    return true;  // closing pushes everything out, as do TCP_NODELAY and the cork ceiling
  }
  if (opts_.cork || more_) {
    return false;  // TCP_CORK / MSG_MORE: only full segments until released
  }
  // Nagle: "if there is unacknowledged data ... buffer all user data ... until the
  // outstanding data has been acknowledged or until the TCP can send a full-sized
  // segment".
  return opts_.nodelay || tcb_.snd_nxt == tcb_.snd_una;
}

void TcpConnection::maybe_send_fin(Instant now) {
  if (tcb_.fin_queued && tcb_.snd_nxt == tcb_.fin_seq) {
    tcb_.snd_nxt += transmit(tcb_.fin_seq, 1, now);
  }
}

std::uint32_t TcpConnection::record_limit(SeqNum seq, std::uint32_t len) const {
  for (const SeqNum end : record_ends_) {
    if (seq < end) {
      return std::min<std::uint32_t>(len, end - seq);
    }
  }
  return len;
}

std::uint32_t TcpConnection::transmit(SeqNum seq, std::uint32_t len, Instant now) {
  const SeqNum end = data_end();
  std::uint32_t data_len = seq < end ? std::min<std::uint32_t>(len, end - seq) : 0;
  data_len = record_limit(seq, std::min(data_len, max_payload()));
  // The FIN follows the last data byte when the range covers it (a retransmission) or
  // it is new and the peer's window has room for it: a FIN takes a sequence number,
  // and Linux's tcp_snd_wnd_test counts it. Otherwise it waits for the window (the
  // persist timer probes a zero one).
  const bool new_fin = tcb_.snd_max <= tcb_.fin_seq;
  const bool fin = tcb_.fin_queued && seq + data_len == tcb_.fin_seq &&
                   (new_fin ? tcb_.fin_seq < tcb_.snd_una + tcb_.snd_wnd : len > data_len);
  const std::uint32_t consumed = data_len + (fin ? 1 : 0);
  if (consumed == 0) {
    return 0;
  }
  if (tcb_.snd_una == tcb_.snd_max) {
    head_sent_ = now;  // nothing was in flight: this segment heads the queue
  }
  wire::TcpRepr r;
  r.seq = seq;
  r.flags = flags::kAck;
  if (fin) {
    r.flags |= flags::kFin;
  }
  if (data_len > 0 && seq + data_len == end) {
    r.flags |= flags::kPsh;  // the segment empties the send queue
  }
  const auto [p1, p2] = snd_buf_.view(static_cast<std::size_t>(seq - data_start()), data_len);
  if (seq < tcb_.snd_max) {
    ++total_retransmits_;
    ++ctx_.counters->retransmits;
    rtt_timing_ = false;  // RFC 6298 §3 (Karn): never time a retransmitted segment
    rtx_tsval_valid_ = tcb_.ts_ok;
    rtx_tsval_ = tsval(now);
  } else if (!rtt_timing_) {
    rtt_timing_ = true;
    rtt_seq_ = seq;
    rtt_start_ = now;
  }
  emit(r, p1, p2, now);
  bytes_sent_ += data_len;
  ctx_.counters->bytes_out += data_len;
  tcb_.snd_max = seq_max(tcb_.snd_max, seq + consumed);
  last_send_ = now;
  arm_rto(now);
  return consumed;
}

void TcpConnection::send_syn(Instant now) {
  wire::TcpRepr r;
  r.seq = tcb_.iss;
  r.flags = state_ == State::kSynSent ? flags::kSyn : flags::kSyn | flags::kAck;
  if (tcb_.snd_max != tcb_.iss) {
    ++total_retransmits_;
    ++ctx_.counters->retransmits;
    rtt_timing_ = false;
  } else {
    rtt_timing_ = true;
    rtt_seq_ = tcb_.iss;
    rtt_start_ = now;
    head_sent_ = now;
  }
  emit(r, {}, {}, now);
  tcb_.snd_nxt = tcb_.iss + 1;
  tcb_.snd_max = tcb_.iss + 1;
  last_send_ = now;
  arm_rto(now);
}

void TcpConnection::send_ack(Instant now) {
  wire::TcpRepr r;
  r.seq = tcb_.snd_max;  // "<SEQ=SND.NXT><ACK=RCV.NXT><CTL=ACK>"
  r.flags = flags::kAck;
  emit(r, {}, {}, now);
}

// RFC 5961 §7: at most challenge_ack_per_second challenge ACKs per connection.
void TcpConnection::send_challenge_ack(Instant now) {
  if (now - challenge_window_start_ >= std::chrono::seconds(1)) {
    challenge_window_start_ = now;
    challenge_count_ = 0;
  }
  if (challenge_count_ >= cfg_.challenge_ack_per_second) {
    ++ctx_.counters->challenge_acks_suppressed;
    return;
  }
  ++challenge_count_;
  ++ctx_.counters->challenge_acks;
  send_ack(now);
}

// Linux's tcp_oow_rate_limited: data without SYN is a retransmission whose ACK got
// lost, so it is always answered; a bare ACK, SYN or FIN at most once per interval,
// which ends the ACK loop of two desynchronized ends (each finds the other's ACK
// unacceptable and answers it).
void TcpConnection::send_invalid_ack(const wire::TcpRepr& seg, std::size_t payload_len,
                                     Instant now) {
  const bool data = payload_len > 0 && !seg.has(flags::kSyn);
  if (data && seg.seq < tcb_.rcv_nxt) {
    note_duplicate(seg.seq, payload_len);
  }
  if (!data) {
    if (last_invalid_ack_ != kNever && now - last_invalid_ack_ < cfg_.invalid_ack_interval) {
      ++ctx_.counters->invalid_acks_suppressed;
      return;
    }
    last_invalid_ack_ = now;
  }
  send_ack(now);
}

// RFC 2883: data below RCV.NXT arrived again; the next ACK's first SACK block says
// which (the sender learns its retransmission was spurious, e.g. after reordering).
void TcpConnection::note_duplicate(SeqNum seq, std::size_t len) {
  if (!tcb_.sack_ok || len == 0) {
    return;
  }
  const SeqNum right = seq_min(seq + static_cast<std::uint32_t>(len), tcb_.rcv_nxt);
  if (seq < right) {
    dsack_ = wire::SackBlock{seq, right};
  }
}

void TcpConnection::send_rst(SeqNum seq, bool with_ack) {
  wire::TcpRepr r;
  r.src_port = tuple_.local.port;
  r.dst_port = tuple_.remote.port;
  r.seq = seq;
  r.flags = flags::kRst;
  if (with_ack) {
    r.flags |= flags::kAck;
    r.ack = tcb_.rcv_nxt;
  }
  emit_raw(r, {}, {});
}

// A segment the peer must answer with an ACK: SEQ = SND.UNA - 1 is already
// acknowledged data (Linux tcp_xmit_probe_skb), for window and keepalive probes.
void TcpConnection::send_probe(Instant now) {
  wire::TcpRepr r;
  r.seq = tcb_.snd_una - 1;
  r.flags = flags::kAck;
  emit(r, {}, {}, now);
}

bool TcpConnection::emit(wire::TcpRepr& r, std::span<const std::uint8_t> p1,
                         std::span<const std::uint8_t> p2, Instant now) {
  r.src_port = tuple_.local.port;
  r.dst_port = tuple_.remote.port;
  r.window = window_field();
  if (r.has(flags::kAck)) {
    r.ack = tcb_.rcv_nxt;
    tcb_.last_ack_sent = tcb_.rcv_nxt;
    ack_now_ = false;
    timers_.delack = kNever;
  }
  fill_options(r, now);
  if (dsack_ && !r.has(flags::kSyn)) {
    ++ctx_.counters->dsacks_out;  // reported once, as Linux does
    dsack_.reset();
  }
  return emit_raw(r, p1, p2);
}

bool TcpConnection::emit_raw(const wire::TcpRepr& r, std::span<const std::uint8_t> p1,
                             std::span<const std::uint8_t> p2) {
  ++segs_out_;
  ++ctx_.counters->segs_out;
  if (r.has(flags::kRst)) {
    ++ctx_.counters->resets_out;
  }
  if (!ctx_.sink->emit(tuple_, IpFields{opts_.tos, opts_.ttl}, r, p1, p2)) {
    ++ctx_.counters->emit_failures;  // behaves as a loss on the wire
    return false;
  }
  return true;
}

std::uint32_t TcpConnection::tsval(Instant now) const {
  return timestamp_clock(now) + tcb_.ts_offset;
}

void TcpConnection::fill_options(wire::TcpRepr& r, Instant now) const {
  wire::TcpOptions& o = r.options;
  if (r.has(flags::kSyn)) {
    // Our SYN offers what the configuration allows; a SYN-ACK answers only what the
    // peer offered (the same choices as build_syn_ack()).
    const bool active = state_ == State::kSynSent;
    o.mss = tcb_.rcv_mss;
    if (active ? cfg_.window_scaling : tcb_.wscale_ok) {
      o.window_scale = tcb_.rcv_wscale;
    }
    o.sack_permitted = active ? cfg_.sack : tcb_.sack_ok;
    if (active ? cfg_.timestamps : tcb_.ts_ok) {
      o.timestamps = wire::TcpTimestamps{tsval(now), active ? 0 : tcb_.ts_recent};
    }
    return;
  }
  if (tcb_.ts_ok) {
    // RFC 7323 §3.2: TSopt in every non-RST segment once negotiated.
    o.timestamps = wire::TcpTimestamps{tsval(now), tcb_.ts_recent};
  }
  if (tcb_.sack_ok && (dsack_ || !reassembly_.empty())) {
    const std::size_t cap = tcb_.ts_ok ? kSackBlocksWithTimestamps : wire::kTcpMaxSackBlocks;
    std::size_t n = 0;
    if (dsack_) {
      o.sack[n++] = *dsack_;  // RFC 2883 §4: the D-SACK block comes first
    }
    n += reassembly_.sack_blocks(std::span<wire::SackBlock>(o.sack.data() + n, cap - n));
    o.sack_count = static_cast<std::uint8_t>(n);
  }
}

// RFC 9293 §3.8.6.2.2 receiver SWS avoidance: the right edge moves only by at least
// min(half the buffer, the MSS), and never moves left.
std::uint32_t TcpConnection::offered_window() const {
  const std::uint32_t current = static_cast<std::uint32_t>(std::max(tcb_.rcv_adv - tcb_.rcv_nxt, 0));
  const SeqNum edge = tcb_.rcv_nxt + static_cast<std::uint32_t>(receive_room());
  if (edge <= tcb_.rcv_adv) {
    return current;
  }
  const std::uint32_t threshold =
      std::min<std::uint32_t>(static_cast<std::uint32_t>(rcv_buf_.capacity() / 2), tcb_.rcv_mss);
  if (static_cast<std::uint32_t>(edge - tcb_.rcv_adv) < threshold) {
    return current;
  }
  return static_cast<std::uint32_t>(receive_room());
}

std::uint16_t TcpConnection::window_field() {
  if (state_ == State::kSynSent || state_ == State::kSynReceived) {
    // RFC 7323 §2.2: never scaled in a SYN; stays at the SYN's value until the
    // handshake completes, so RCV.ADV is consistent with what the peer saw.
    const std::uint32_t w = std::min<std::uint32_t>(static_cast<std::uint32_t>(rcv_buf_.free_space()), kMaxWindowField);
    tcb_.rcv_adv = tcb_.rcv_nxt + w;
    return static_cast<std::uint16_t>(w);
  }
  const std::uint8_t s = tcb_.rcv_wscale;
  const std::uint32_t wnd = offered_window();
  std::uint32_t field = std::min(wnd >> s, kMaxWindowField);
  if (tcb_.rcv_nxt + (field << s) < tcb_.rcv_adv) {
    // Rounding down would move the edge left: round up instead.
    const auto current = static_cast<std::uint32_t>(tcb_.rcv_adv - tcb_.rcv_nxt);
    field = std::min((current + (1u << s) - 1) >> s, kMaxWindowField);
  }
  tcb_.rcv_adv = seq_max(tcb_.rcv_adv, tcb_.rcv_nxt + (field << s));
  return static_cast<std::uint16_t>(field);
}

void TcpConnection::arm_rto(Instant now) {
  if (timers_.rto == kNever) {
    timers_.rto = now + rtt_.rto();
    // Linux's tcp_clamp_rto_to_user_timeout: the timer that ends the connection fires
    // when TCP_USER_TIMEOUT runs out, not at the next backoff after it.
    if (const std::optional<Instant> end = user_deadline()) {
      timers_.rto = std::max(now + std::chrono::milliseconds(1), std::min(timers_.rto, *end));
    }
  }
  timers_.persist = kNever;
}

std::optional<Instant> TcpConnection::user_deadline() const {
  if (opts_.user_timeout <= Duration::zero() || head_sent_ == kNever) {
    return std::nullopt;
  }
  return head_sent_ + opts_.user_timeout;
}

// RFC 9293 §3.8.6.1: with data waiting, nothing in flight and the peer's window too
// small to send it, only the persist timer can discover that the window opened.
void TcpConnection::update_persist(Instant now) {
  const bool fin_waits = tcb_.fin_queued && tcb_.snd_nxt == tcb_.fin_seq;  // not sent yet
  const bool pending = tcb_.snd_nxt < data_end() || fin_waits;
  const std::uint32_t want =
      pending ? std::clamp(static_cast<std::uint32_t>(data_end() - tcb_.snd_nxt), 1u, tcb_.snd_mss) : 0;
  const bool blocked = pending && tcb_.snd_nxt == tcb_.snd_una && usable_window() < want;
  if (!blocked) {
    timers_.persist = kNever;
    persist_backoff_ = 0;
    probe_start_ = kNever;
    return;
  }
  if (timers_.persist == kNever && timers_.rto == kNever) {
    timers_.persist = now + persist_interval();
  }
}

}  // namespace utcp::stack::tcp
