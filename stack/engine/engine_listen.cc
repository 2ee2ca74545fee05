// Passive opens (RFC 9293 §3.10.7.2 LISTEN), SYN cookies when the SYN queue is full
// (RFC 4987 §3.6, as Linux's tcp_conn_request / cookie_v4_check), TIME-WAIT takeover
// (RFC 6191), closing a listener, picking one listener of a SO_REUSEPORT group. Order:
// listen_segment -> listen_syn | listen_ack -> install_connection -> settle.
// Invariant: SYN count == children in SYN-RECEIVED.
#include <algorithm>

#include "stack/engine/engine.h"
#include "stack/isn/keyed_hash.h"
#include "stack/tcp/handshake.h"

namespace utcp::stack::engine {

namespace flags = wire::tcp_flags;

std::uint32_t Engine::listener_for(const wire::FourTuple& tuple) const {
  const std::uint16_t port = tuple.local.port;
  if (!ports_.has_group(port)) {
    return ports_.listener(port);
  }
  // Keyed like Linux's inet_ehashfn, so a remote host cannot aim every SYN at one
  // member; a fixed function of the tuple, so a retransmitted SYN and a cookie's
  // final ACK reach the listener that saw the first SYN.
  const std::uint64_t h = isn::HashInput(isn::HashDomain::kReusePort)
                              .endpoint(tuple.local)
                              .endpoint(tuple.remote)
                              .hash(cfg_.secret);
  return ports_.listener(port, static_cast<std::uint32_t>(h));
}

void Engine::listen_segment(std::uint32_t listener, const wire::FourTuple& tuple,
                            const wire::TcpRepr& seg, std::span<const std::uint8_t> payload) {
  // dispatch_segment passes the port's plain listener or a group's first member;
  // a SO_REUSEPORT group hands the flow to the member its four-tuple selects.
  listener = listener_for(tuple);
  // "first check for an RST: An incoming RST segment could not be valid ... ignored"
  if (seg.has(flags::kRst)) {
    ++counters_.drop_rst_no_socket;
    return;
  }
  // "second check for an ACK: ... form a reset" — unless it completes a cookie.
  if (seg.has(flags::kAck)) {
    if (seg.has(flags::kSyn)) {
      send_reset(tuple, seg, payload.size());
    } else {
      listen_ack(listener, tuple, seg, payload);
    }
    return;
  }
  if (seg.has(flags::kSyn)) {
    listen_syn(listener, tuple, seg, SeqNum{}, false);
    return;
  }
  // "Any other control or text-bearing segment ... drop it and return."
  ++counters_.drop_listen_invalid;
}

void Engine::listen_syn(std::uint32_t listener, const wire::FourTuple& tuple,
                        const wire::TcpRepr& syn, SeqNum iss_floor, bool iss_floor_valid) {
  Socket& ls = sockets_.at(listener);
  Listener& l = *ls.listener;
  // Linux tcp_conn_request drops SYNs while the accept queue is full: a cookie
  // would only produce a final ACK that has to be dropped too.
  if (l.accept_queue_full()) {
    ++counters_.drop_accept_queue_full;
    l.note_overflow(now_);
    return;
  }
  if (l.syn_queue_full()) {
    l.note_overflow(now_);
    if (cfg_.syn_cookies) {
      send_cookie_syn_ack(ls, tuple, syn);
    } else {
      ++counters_.drop_syn_queue_full;
    }
    return;
  }
  const std::optional<std::uint32_t> slot = new_connection_slot(tuple, ls);
  if (!slot) {
    return;
  }
  tcp::Initial init = initial(tuple);
  if (iss_floor_valid && init.iss <= iss_floor) {
    init.iss = iss_floor;
  }
  sockets_.at(*slot).parent = listener;
  l.syn_added();
  const SocketOptions& opts = sockets_.at(*slot).options;
  install_connection(*slot, tcp::Connection::accept_syn(ctx_, opts.tcp, tuple, syn, init, now_));
}

void Engine::send_cookie_syn_ack(const Socket& listener, const wire::FourTuple& tuple,
                                 const wire::TcpRepr& syn) {
  // Without timestamps a cookie cannot carry window scale or SACK-permitted, so
  // they are not offered at all (Linux clears them: tcp_clear_options).
  wire::TcpRepr offered = syn;
  if (!syn.options.timestamps || !tcp_cfg_.timestamps) {
    offered.options.window_scale.reset();
    offered.options.sack_permitted = false;
  }
  const SeqNum iss = cookies_.make(tuple, syn.seq, syn.options.mss.value_or(536), now_);
  // The offset the connection will use if the cookie comes back (listen_ack).
  std::uint32_t tsval = tcp::timestamp_clock(now_) +
                        isn_.timestamp_offset(tuple.local.addr, tuple.remote.addr);
  if (offered.options.timestamps && tcp_cfg_.timestamps) {
    const bool sack = offered.options.sack_permitted && tcp_cfg_.sack;
    const std::int8_t wscale =
        offered.options.window_scale && tcp_cfg_.window_scaling
            ? static_cast<std::int8_t>(std::min<std::uint8_t>(*offered.options.window_scale, 14))
            : std::int8_t{-1};
    tsval = isn::SynCookies::encode_ts_options(tsval, sack, wscale);
  }
  const wire::TcpRepr syn_ack =
      tcp::build_syn_ack(tcp_cfg_, listener.options.tcp, offered, iss, tsval);
  const tcp::SocketOptions& lo = listener.options.tcp;  // Linux answers with the listener's
  if (emit(tuple, tcp::IpFields{lo.tos, lo.ttl}, syn_ack, {}, {})) {
    ++counters_.syn_cookies_sent;
  }
}

bool Engine::cookies_recently_used(const Listener& l) const {
  // Like tcp_synq_no_recent_overflow: cookies are only worth checking while one
  // issued may still be valid (its period and the next).
  return l.last_overflow() != Instant::min() &&
         now_ - l.last_overflow() <= Duration(2 * isn::SynCookies::kPeriodUs);
}

void Engine::listen_ack(std::uint32_t listener, const wire::FourTuple& tuple,
                        const wire::TcpRepr& seg, std::span<const std::uint8_t> payload) {
  Socket& ls = sockets_.at(listener);
  Listener& l = *ls.listener;
  if (!cfg_.syn_cookies || !cookies_recently_used(l)) {
    send_reset(tuple, seg, payload.size());
    return;
  }
  const SeqNum cookie = seg.ack - 1;
  const std::optional<std::uint16_t> mss = cookies_.check(tuple, seg.seq - 1, cookie, now_);
  if (!mss) {
    ++counters_.syn_cookies_failed;
    send_reset(tuple, seg, payload.size());
    return;
  }
  if (l.accept_queue_full()) {
    ++counters_.drop_accept_queue_full;
    l.note_overflow(now_);
    return;
  }
  tcp::CookieOptions peer;
  peer.mss = *mss;
  if (seg.options.timestamps && tcp_cfg_.timestamps) {
    isn::SynCookies::decode_ts_options(seg.options.timestamps->tsecr, peer.sack_permitted,
                                       peer.peer_window_scale);
    peer.timestamps = true;
  }
  const std::optional<std::uint32_t> slot = new_connection_slot(tuple, ls);
  if (!slot) {
    return;
  }
  ++counters_.syn_cookies_ok;
  sockets_.at(*slot).parent = listener;
  l.syn_added();  // settle() promotes it straight away: the handshake is complete
  const SocketOptions& opts = sockets_.at(*slot).options;
  const tcp::Initial init{cookie, isn_.timestamp_offset(tuple.local.addr, tuple.remote.addr)};
  install_connection(*slot, tcp::Connection::from_cookie(ctx_, opts.tcp, tuple, seg, payload,
                                                         init, peer, now_));
}

std::optional<std::uint32_t> Engine::new_connection_slot(const wire::FourTuple& tuple,
                                                         const Socket& listener) {
  if (flows_.size() >= flows_.limit()) {
    ++counters_.drop_flow_table_full;
    return std::nullopt;
  }
  const std::optional<std::uint32_t> index = sockets_.allocate();
  if (!index) {
    ++counters_.drop_flow_table_full;
    return std::nullopt;
  }
  flows_.insert(tuple, *index);
  Socket& s = sockets_.at(*index);
  s.options = listener.options;  // children inherit the listener's options, as on Linux
  s.local = tuple.local;
  s.remote = tuple.remote;
  s.in_flow_table = true;
  // A child shares its port the way its listener does (Linux clones sk_reuseport).
  s.port_ref = connection_ref(has_reuse_port(listener.port_ref));
  ports_.add(tuple.local.port, s.port_ref, s.options.uid);
  return index;
}

bool Engine::drop_final_ack_on_overflow(const Socket& child, const wire::TcpRepr& seg) {
  // Linux tcp_check_req -> syn_recv_sock fails on a full accept queue: the ACK that
  // would complete the handshake is dropped and the SYN-ACK retransmitted later.
  if (child.parent == kNoIndex || child.conn->state() != tcp::State::kSynReceived ||
      !seg.has(flags::kAck) || seg.has(flags::kRst) || seg.has(flags::kSyn)) {
    return false;
  }
  Listener& l = *sockets_.at(child.parent).listener;
  if (!l.accept_queue_full()) {
    return false;
  }
  ++counters_.drop_accept_queue_full;
  l.note_overflow(now_);
  return true;
}

bool Engine::take_over_time_wait(std::uint32_t index, const wire::FourTuple& tuple,
                                 const wire::TcpRepr& syn) {
  Socket& s = sockets_.at(index);
  if (!syn.has(flags::kSyn) || syn.has(flags::kAck) || syn.has(flags::kRst) || s.app_owned ||
      s.conn->state() != tcp::State::kTimeWait) {
    return false;
  }
  const std::uint32_t listener = listener_for(tuple);
  if (listener == kNoIndex || !s.conn->time_wait_accepts_syn(syn)) {
    return false;
  }
  // RFC 6191 §2 / Linux tcp_timewait_state_process: the new incarnation starts
  // above anything the old one sent (tw_snd_nxt + 65535 + 2).
  const SeqNum iss_floor = s.conn->snd_nxt() + 65537;
  reap(index);
  ++counters_.time_wait_reused;
  listen_syn(listener, tuple, syn, iss_floor, true);
  return true;
}

void Engine::close_listener(std::uint32_t index, Instant now) {
  Socket& s = sockets_.at(index);
  Listener& l = *s.listener;
  // Like inet_csk_listen_stop: children nobody accepted are reset.
  while (const std::optional<std::uint32_t> child = l.pop_accepted()) {
    Socket& c = sockets_.at(*child);
    c.in_accept_queue = false;
    c.conn->abort(now);
    settle(*child);
  }
  // Children in SYN-RECEIVED are only linked by `parent`; closing a listener is
  // rare, so a scan of the bounded table is cheaper than a list per listener.
  for (std::uint32_t i = 0; i < sockets_.capacity() && l.syn_count() > 0; ++i) {
    Socket& c = sockets_.at(i);
    if (c.kind == SocketKind::kConnection && c.parent == index) {
      c.parent = kNoIndex;
      l.syn_removed();
      c.conn->abort(now);
      settle(i);
    }
  }
  // The rest of a SO_REUSEPORT group keeps serving the port.
  ports_.remove_listener(s.local.port, index);
  s.listener.reset();
  s.kind = SocketKind::kFresh;
  --counters_.listeners;
}

}  // namespace utcp::stack::engine
