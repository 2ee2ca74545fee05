// Creation of connections and the application's calls (RFC 9293 §3.10.1-3.10.6:
// OPEN, SEND, RECEIVE, CLOSE, ABORT), with the errno values Linux returns.
// Invariants: state changes go through set_state()/enter_*(); CLOSED is final and
// raises events::kClosed so the engine reaps the connection.
#include <algorithm>

#include "stack/tcp/connection_impl.h"
#include "stack/tcp/handshake.h"

namespace utcp::stack::tcp {

namespace flags = wire::tcp_flags;

namespace {
constexpr std::uint32_t kTimestampOverhead = 12;  // RFC 7323 §3: 10 bytes + 2 NOPs
constexpr std::uint32_t kMinSndMss = 64;
}  // namespace

const char* to_string(State s) {
  switch (s) {
    case State::kClosed: return "CLOSED";
    case State::kListen: return "LISTEN";
    case State::kSynSent: return "SYN-SENT";
    case State::kSynReceived: return "SYN-RECEIVED";
    case State::kEstablished: return "ESTABLISHED";
    case State::kFinWait1: return "FIN-WAIT-1";
    case State::kFinWait2: return "FIN-WAIT-2";
    case State::kCloseWait: return "CLOSE-WAIT";
    case State::kClosing: return "CLOSING";
    case State::kLastAck: return "LAST-ACK";
    case State::kTimeWait: return "TIME-WAIT";
  }
  return "?";
}

PeerOffer peer_offer_from(const wire::TcpRepr& syn) {
  PeerOffer o;
  if (syn.options.mss) {
    o.mss = *syn.options.mss;
  }
  o.window_scale = syn.options.window_scale;
  o.sack_permitted = syn.options.sack_permitted;
  o.timestamps = syn.options.timestamps;
  return o;
}

// --- creation ---

ConnectionPtr Connection::connect(const ConnectionContext& ctx, const SocketOptions& opts,
                                  const wire::FourTuple& tuple, const Initial& init,
                                  Instant now) {
  auto c = std::make_unique<TcpConnection>(ctx, opts, tuple, init, now);
  c->start_active(now);
  return c;
}

ConnectionPtr Connection::accept_syn(const ConnectionContext& ctx, const SocketOptions& opts,
                                     const wire::FourTuple& tuple, const wire::TcpRepr& syn,
                                     const Initial& init, Instant now) {
  auto c = std::make_unique<TcpConnection>(ctx, opts, tuple, init, now);
  c->start_passive(syn, now);
  return c;
}

ConnectionPtr Connection::from_cookie(const ConnectionContext& ctx, const SocketOptions& opts,
                                      const wire::FourTuple& tuple, const wire::TcpRepr& ack,
                                      std::span<const std::uint8_t> payload,
                                      const Initial& init,
                                      const CookieOptions& peer, Instant now) {
  auto c = std::make_unique<TcpConnection>(ctx, opts, tuple, init, now);
  c->start_from_cookie(ack, payload, peer, now);
  return c;
}

TcpConnection::TcpConnection(const ConnectionContext& ctx, const SocketOptions& opts,
                             const wire::FourTuple& tuple, const Initial& init, Instant now)
    : ctx_(ctx),
      cfg_(*ctx.cfg),
      opts_(opts),
      tuple_(tuple),
      reassembly_(ctx.cfg->max_ooo_ranges),
      scoreboard_(sack::Scoreboard::kDefaultMaxRanges),
      rtt_(ctx.cfg->initial_rto, ctx.cfg->min_rto, ctx.cfg->max_rto) {
  tcb_.iss = init.iss;
  tcb_.snd_una = init.iss;
  tcb_.snd_nxt = init.iss;
  tcb_.snd_max = init.iss;
  tcb_.rcv_mss = advertised_mss(cfg_, opts_);
  tcb_.rcv_mss_seen = std::min<std::uint32_t>(tcb_.rcv_mss, 536);
  tcb_.rcv_wscale = cfg_.window_scaling ? receive_window_scale(receive_buffer_size()) : 0;
  tcb_.ts_offset = init.ts_offset;
  tcb_.snd_mss = std::min<std::uint32_t>(tcb_.rcv_mss, 536);
  rcv_buf_.reset(receive_buffer_size());
  snd_buf_.reset(send_buffer_size());
  cc_ = cc::make_congestion_control(cc_algorithm(), tcb_.snd_mss, cfg_.initial_cwnd_segments);
  last_rcv_ = now;
  last_send_ = now;
  challenge_window_start_ = now;
  reset_recovery();
}

void TcpConnection::start_active(Instant now) {
  ++ctx_.counters->active_opens;
  set_state(State::kSynSent);
  send_syn(now);
}

void TcpConnection::start_passive(const wire::TcpRepr& syn, Instant now) {
  ++ctx_.counters->passive_opens;
  passive_ = true;
  tcb_.irs = syn.seq;
  tcb_.rcv_nxt = syn.seq + 1;
  negotiate(peer_offer_from(syn));
  if (tcb_.ts_ok) {
    tcb_.ts_recent = syn.options.timestamps->tsval;
    tcb_.ts_recent_age = now;
  }
  tcb_.snd_wnd = syn.window;  // RFC 7323 §2.2: never scaled in a SYN
  tcb_.max_snd_wnd = tcb_.snd_wnd;
  tcb_.snd_wl1 = syn.seq;
  tcb_.snd_wl2 = tcb_.iss;
  set_state(State::kSynReceived);
  send_syn(now);
}

void TcpConnection::start_from_cookie(const wire::TcpRepr& ack,
                                      std::span<const std::uint8_t> payload,
                                      const CookieOptions& peer, Instant now) {
  ++ctx_.counters->passive_opens;
  passive_ = true;
  PeerOffer offer;
  offer.mss = peer.mss;
  if (peer.peer_window_scale >= 0) {
    offer.window_scale = static_cast<std::uint8_t>(peer.peer_window_scale);
  }
  offer.sack_permitted = peer.sack_permitted;
  if (peer.timestamps && ack.options.timestamps) {
    offer.timestamps = ack.options.timestamps;
  }
  negotiate(offer);
  // The cookie SYN-ACK carried TSval = timestamp_clock() + ts_offset with option bits
  // in its low bits, never ahead of that sum (isn::SynCookies). The same offset keeps
  // our later TSvals >= that one, so the peer's PAWS check (RFC 7323 §5.3) accepts them.
  if (tcb_.ts_ok) {
    tcb_.ts_recent = ack.options.timestamps->tsval;
    tcb_.ts_recent_age = now;
  }
  tcb_.irs = ack.seq - 1;
  tcb_.rcv_nxt = ack.seq;
  // As if our SYN-ACK were outstanding: this ACK acknowledges it in process_ack().
  tcb_.snd_una = tcb_.iss;
  tcb_.snd_nxt = tcb_.iss + 1;
  tcb_.snd_max = tcb_.iss + 1;
  tcb_.last_ack_sent = tcb_.rcv_nxt;
  // The cookie SYN-ACK offered at most 65535 bytes, unscaled.
  tcb_.rcv_adv = tcb_.rcv_nxt + std::min<std::uint32_t>(rcv_buf_.free_space(), 0xffff);
  tcb_.snd_wl1 = ack.seq - 1;  // so that update_window() takes this segment's window
  tcb_.snd_wl2 = ack.ack;
  set_state(State::kSynReceived);
  on_segment(ack, payload, now);
}

void TcpConnection::negotiate(const PeerOffer& offer) {
  tcb_.wscale_ok = cfg_.window_scaling && offer.window_scale.has_value();
  if (tcb_.wscale_ok) {
    // RFC 7323 §2.3: "use 14 instead of any larger value received"
    tcb_.snd_wscale = std::min<std::uint8_t>(*offer.window_scale, 14);
  } else {
    tcb_.snd_wscale = 0;
    tcb_.rcv_wscale = 0;
  }
  tcb_.sack_ok = cfg_.sack && offer.sack_permitted;
  tcb_.ts_ok = cfg_.timestamps && offer.timestamps.has_value();
  // RFC 9293 §3.7.1: Eff.snd.MSS = min(SendMSS + 20, MMS_S) - TCPhdrsize - IPoptionsize;
  // the timestamp option is in every segment, so it comes off the payload.
  std::uint32_t mss = std::min<std::uint32_t>(offer.mss, advertised_mss(cfg_, opts_));
  mss = std::max(mss, kMinSndMss + kTimestampOverhead);
  tcb_.snd_mss = mss - (tcb_.ts_ok ? kTimestampOverhead : 0);
  cc_ = cc::make_congestion_control(cc_algorithm(), tcb_.snd_mss, cfg_.initial_cwnd_segments);
}

// --- state bookkeeping ---

void TcpConnection::set_state(State s) { state_ = s; }

bool TcpConnection::synchronized() const {
  return state_ != State::kClosed && state_ != State::kListen && state_ != State::kSynSent &&
         state_ != State::kSynReceived;
}

SeqNum TcpConnection::data_start() const {
  // Our SYN occupies ISS; data starts after it whether or not it is acknowledged
  // (a flag, not SND.UNA == ISS: after 2^32 bytes SND.UNA is ISS again).
  return tcb_.syn_acked ? tcb_.snd_una : tcb_.iss + 1;
}

std::uint32_t TcpConnection::receive_buffer_size() const {
  return tcp::receive_buffer_size(cfg_, opts_);
}

std::uint32_t TcpConnection::send_buffer_size() const {
  const std::uint32_t wanted = opts_.sndbuf != 0 ? opts_.sndbuf : cfg_.default_sndbuf;
  return std::min(wanted, cfg_.max_buf);
}

void TcpConnection::enter_established(Instant now) {
  set_state(State::kEstablished);
  ++ctx_.counters->established;
  note_events(events::kConnected | events::kWritable);
  arm_keepalive(now);
  head_sent_ = kNever;  // the SYN is acknowledged
  if (passive_ && opts_.defer_accept > Duration::zero()) {
    // TCP_DEFER_ACCEPT: the listener hands this connection over when data or a FIN
    // arrives (process_text, process_fin) or when the time is up (on_timer).
    timers_.defer = now + opts_.defer_accept;
  }
}

void TcpConnection::end_defer() { timers_.defer = kNever; }

void TcpConnection::enter_time_wait(Instant now) {
  set_state(State::kTimeWait);
  timers_.rto = kNever;
  timers_.persist = kNever;
  timers_.keepalive = kNever;
  timers_.delack = kNever;
  timers_.close = now + 2 * cfg_.msl;
  note_events(events::kHangup);
  // Nothing more can be sent, and the application has seen EOF or closed: keep only
  // what TIME-WAIT needs (RCV.NXT, SND.NXT, TS.Recent).
  snd_buf_.release();
  record_ends_.clear();
  if (orphan_) {
    rcv_buf_.release();
  }
  reassembly_.clear();
  scoreboard_.clear();
}

void TcpConnection::enter_closed(int err) {
  if (state_ == State::kClosed) {
    return;
  }
  if (state_ == State::kSynSent || state_ == State::kSynReceived) {
    ++ctx_.counters->attempt_fails;
  }
  set_state(State::kClosed);
  timers_ = Timers{};
  if (err != 0 && !orphan_) {
    error_ = err;
    note_events(events::kError | events::kReadable | events::kWritable);
  }
  // RFC 9293 §3.10.7.4: on reset "all segment queues should be flushed".
  snd_buf_.release();
  record_ends_.clear();
  reassembly_.clear();
  scoreboard_.clear();
  rd_shutdown_ = rd_shutdown_ || err != 0;
  note_events(events::kHangup | events::kClosed);
}

void TcpConnection::queue_fin(Instant now) {
  if (tcb_.fin_queued) {
    return;
  }
  tcb_.fin_queued = true;
  tcb_.fin_seq = data_end();
  // RFC 9293 §3.10.4 CLOSE: ESTABLISHED -> FIN-WAIT-1, CLOSE-WAIT -> LAST-ACK.
  set_state(state_ == State::kCloseWait ? State::kLastAck : State::kFinWait1);
  timers_.keepalive = kNever;
  output(now);
}

std::size_t TcpConnection::send_space() const { return send_room(); }

namespace {
// What a ring of `capacity` holding `size` bytes may still take under `limit` (0: none).
std::size_t room_under(std::size_t capacity, std::size_t size, std::uint32_t limit) {
  const std::size_t cap = limit != 0 ? std::min<std::size_t>(limit, capacity) : capacity;
  return cap > size ? cap - size : 0;
}
}  // namespace

std::size_t TcpConnection::receive_room() const {
  return room_under(rcv_buf_.capacity(), rcv_buf_.size(), opts_.rcvbuf);
}

std::size_t TcpConnection::send_room() const {
  return room_under(snd_buf_.capacity(), snd_buf_.size(), opts_.sndbuf);
}

std::uint32_t TcpConnection::take_events() {
  const std::uint32_t e = events_;
  events_ = 0;
  return e;
}

int TcpConnection::take_error() {
  const int e = error_;
  error_ = 0;
  return e;
}

// --- application calls ---

Result<std::size_t> TcpConnection::send(std::span<const std::uint8_t> data, bool more,
                                        Instant now) {
  if (data.empty()) {
    // No data: only MSG_MORE changes (the library's send without it after one with it
    // releases what was held). Nothing is reported; the next real call sees any error.
    more_ = more;
    if (synchronized()) {
      output(now);
    }
    return std::size_t{0};
  }
  if (error_ != 0) {
    return Result<std::size_t>::error(take_error());
  }
  if (wr_shutdown_ || orphan_) {
    return Result<std::size_t>::error(EPIPE);
  }
  switch (state_) {
    case State::kClosed:
      // Linux (sk_stream_wait_connect): EPIPE once the pending error was reported.
      return Result<std::size_t>::error(EPIPE);
    case State::kListen:
      return Result<std::size_t>::error(ENOTCONN);
    case State::kSynSent:
    case State::kSynReceived:
      // Linux waits for the handshake (sk_stream_wait_connect): EAGAIN when non-blocking.
      return Result<std::size_t>::error(EAGAIN);
    case State::kEstablished:
    case State::kCloseWait:
      break;
    default:
      return Result<std::size_t>::error(EPIPE);
  }
  const std::size_t room = send_room();
  if (room == 0) {
    return Result<std::size_t>::error(EAGAIN);
  }
  const std::size_t n = snd_buf_.push(data.first(std::min(room, data.size())));
  more_ = more;
  output(now);
  return n;
}

void TcpConnection::mark_record_end() {
  const SeqNum end = data_end();
  if (!snd_buf_.empty() && (record_ends_.empty() || record_ends_.back() < end)) {
    record_ends_.push_back(end);
  }
}

Result<std::size_t> TcpConnection::recv(std::span<std::uint8_t> out, bool peek, Instant now) {
  if (!rcv_buf_.empty() && !out.empty()) {
    std::size_t n = 0;
    if (peek) {
      n = rcv_buf_.peek(0, out);
    } else {
      n = rcv_buf_.pop(out);
      // Reading opened the window: tell the peer if the right edge can move by a
      // worthwhile amount (RFC 9293 §3.8.6.2.2) and the peer is close to stalling.
      const std::uint32_t remaining = tcb_.rcv_adv - tcb_.rcv_nxt;
      if (synchronized() && state_ != State::kTimeWait && !tcb_.peer_fin &&
          offered_window() > remaining && remaining <= rcv_buf_.capacity() / 2) {
        send_ack(now);
      }
    }
    return n;
  }
  // The order of Linux's tcp_recvmsg(): EOF seen (SOCK_DONE), then the pending error,
  // then a shut read side (a reset or timeout shuts both), then "no data yet".
  if (tcb_.peer_fin) {
    return std::size_t{0};
  }
  if (error_ != 0) {
    return Result<std::size_t>::error(take_error());
  }
  if (rd_shutdown_ || state_ == State::kClosed) {
    return std::size_t{0};
  }
  if (state_ == State::kListen) {
    return Result<std::size_t>::error(ENOTCONN);
  }
  return Result<std::size_t>::error(EAGAIN);
}

Errno TcpConnection::shutdown(bool read, bool write, Instant now) {
  if (state_ == State::kClosed || state_ == State::kListen) {
    return ENOTCONN;
  }
  if (read) {
    rd_shutdown_ = true;
    note_events(events::kReadable);
  }
  if (write && !wr_shutdown_) {
    wr_shutdown_ = true;
    if (state_ == State::kSynSent) {
      enter_closed(0);  // Linux: shutdown() in SYN-SENT disconnects silently
      return 0;
    }
    if (state_ == State::kSynReceived) {
      abort(now);
      return 0;
    }
    queue_fin(now);
    if (tcb_.peer_fin) {
      note_events(events::kHangup);
    }
  }
  return 0;
}

void TcpConnection::close(Instant now) {
  const bool unread = !rcv_buf_.empty();  // Linux counts the in-order queue only
  const bool linger_zero = opts_.linger && opts_.linger_time == Duration::zero();
  orphan_ = true;
  switch (state_) {
    case State::kClosed:
    case State::kTimeWait:
      return;
    case State::kListen:
    case State::kSynSent:
      enter_closed(0);
      return;
    default:
      break;
  }
  // RFC 2525 §2.17 / RFC 9293 §3.10.4: unread data (or SO_LINGER 0) makes the close
  // abortive, so the peer learns its data was lost.
  if (unread || linger_zero || state_ == State::kSynReceived) {
    abort(now);
    return;
  }
  wr_shutdown_ = true;
  rd_shutdown_ = true;
  more_ = false;
  queue_fin(now);
  if (state_ == State::kFinWait2) {
    timers_.close = now + kOrphanFinWait2Timeout;
  }
}

void TcpConnection::abort(Instant now) {
  (void)now;
  // RFC 9293 §3.10.5 ABORT: synchronized states and SYN-RECEIVED send a reset.
  if (state_ != State::kClosed && state_ != State::kListen && state_ != State::kSynSent &&
      state_ != State::kTimeWait) {
    send_rst(tcb_.snd_max, true);
  }
  orphan_ = true;
  enter_closed(0);
}

Errno TcpConnection::set_options(const SocketOptions& opts, Instant now) {
  // Linux pushes pending frames when the cork comes off or Nagle is turned off (and
  // push() is what setting TCP_NODELAY does under the cork).
  const bool flush = (opts_.cork && !opts.cork) || (!opts_.nodelay && opts.nodelay);
  const bool keepalive_changed = opts.keepalive != opts_.keepalive ||
                                 opts.keepalive_idle != opts_.keepalive_idle;
  const bool cc_changed = opts.congestion != opts_.congestion;
  // The MSS is fixed once the SYN is out (Linux keeps a later TCP_MAXSEG for the next
  // connect). SO_RCVBUF/SO_SNDBUF apply at once, within the rings this connection has
  // (receive_room, send_room): the window and the queue follow them, as on Linux.
  const std::uint16_t user_mss = opts_.user_mss;
  opts_ = opts;
  opts_.user_mss = user_mss;
  if (keepalive_changed) {
    arm_keepalive(now);
  }
  if (cc_changed) {
    // Linux's tcp_reinit_congestion_control: the new algorithm starts from its own
    // initial state (here: the initial window, as on a fresh connection).
    cc_ = cc::make_congestion_control(cc_algorithm(), tcb_.snd_mss, cfg_.initial_cwnd_segments);
  }
  if (flush) {
    more_ = false;
    if (synchronized()) {
      output(now);
    }
  }
  return 0;
}

void TcpConnection::push(Push what, Instant now) {
  if (what == Push::kAck) {
    if ((state_ == State::kEstablished || state_ == State::kCloseWait) &&
        timers_.delack != kNever) {
      send_ack(now);
    }
    return;
  }
  if (synchronized()) {
    push_once_ = true;
    output(now);
    push_once_ = false;
  }
}

TcpInfo TcpConnection::info() const {
  TcpInfo i;
  i.state = state_;
  i.snd_mss = tcb_.snd_mss;
  i.rcv_mss = tcb_.rcv_mss_seen;
  i.srtt = rtt_.srtt();
  i.rttvar = rtt_.rttvar();
  i.rto = rtt_.rto();
  i.cwnd_bytes = cc_->cwnd();
  i.ssthresh_bytes = cc_->ssthresh();
  i.bytes_in_flight = flight_size();
  i.snd_wnd = tcb_.snd_wnd;
  i.rcv_wnd = tcb_.rcv_adv - tcb_.rcv_nxt;
  i.snd_wscale = tcb_.snd_wscale;
  i.rcv_wscale = tcb_.rcv_wscale;
  i.timestamps = tcb_.ts_ok;
  i.sack = tcb_.sack_ok;
  i.retransmits_current = rtt_.backoffs();
  i.total_retransmits = total_retransmits_;
  i.bytes_sent = bytes_sent_;
  i.bytes_acked = bytes_acked_;
  i.bytes_received = bytes_received_;
  i.segs_out = segs_out_;
  i.segs_in = segs_in_;
  i.unread_bytes = static_cast<std::uint32_t>(rcv_buf_.size());
  i.unsent_bytes = data_end() - tcb_.snd_nxt > 0 ? static_cast<std::uint32_t>(data_end() - tcb_.snd_nxt) : 0;
  i.ooo_ranges = static_cast<std::uint32_t>(reassembly_.range_count());
  return i;
}

}  // namespace utcp::stack::tcp
