// Engine core: the poll loop, timers, and settle() — run after every call into a
// connection (events, gauges, timer re-arm, promotion to the accept queue, reaping).
// Invariant: after settle(i) slot i's timer holds next_deadline(), and a connection
// nobody can reach (CLOSED, not the app's, not queued for accept) is gone.
#include "stack/engine/engine.h"

#include <algorithm>

namespace utcp::stack::engine {
namespace {

// RX bursts per poll: bounded so timers and TX still run under a flood.
constexpr int kMaxRxRounds = 4;

// A child leaves the SYN queue when its handshake completed: reported as kConnected,
// or visible as a state past SYN-RECEIVED (a cookie connection starts ESTABLISHED).
bool handshake_done(std::uint32_t bits, tcp::State state) {
  return (bits & tcp::events::kConnected) != 0 ||
         (state != tcp::State::kSynReceived && state != tcp::State::kClosed);
}

tcp::TcpConfig clamp_to_device(tcp::TcpConfig cfg, const io::IoCapabilities& caps) {
  // The MSS we announce comes from the MTU (RFC 9293 §3.7.1): never more than the
  // wire carries, since we send DF and never fragment.
  cfg.mtu = std::min(cfg.mtu, caps.mtu);
  return cfg;
}

}  // namespace

Engine::Engine(const EngineConfig& cfg, io::PacketIo& io, Instant now)
    : cfg_(cfg),
      tcp_cfg_(clamp_to_device(cfg.tcp, io.capabilities())),
      io_(io),
      caps_(io.capabilities()),
      now_(now),
      ctx_{&tcp_cfg_, this, &counters_.tcp},
      arp_(cfg.arp),
      isn_(cfg.secret),
      cookies_(cfg.secret),
      wheel_(cfg.timer_tick, cfg.timer_slots, now),
      sockets_(cfg.socket_capacity()),
      flows_(cfg.max_connections) {
  rx_.resize(std::max<std::size_t>(cfg.rx_burst, 1));
  tx_.reserve(std::max<std::size_t>(cfg.tx_hold, 1));
  arp_ready_.reserve(cfg.arp.max_pending_total + 1);
  arp_dropped_.reserve(cfg.arp.max_pending_total + 1);
  arp_resend_.reserve(cfg.arp.max_entries + 1);
  dirty_.reserve(sockets_.capacity());
  // RFC 5227 §2.3 announcement: sender and target protocol address both ours, so
  // neighbours update stale caches (e.g. after a restart with a new MAC).
  if (send_arp(wire::ArpOp::kRequest, wire::MacAddr::broadcast(), wire::MacAddr{}, cfg_.ip)) {
    ++counters_.arp_gratuitous_out;
  }
  flush_tx();
  sync_gauges();
}

Engine::~Engine() {
  // Connections are dropped silently with the sockets; held frames go back to the
  // device so none leaks.
  for (io::PacketBuf* buf : tx_) {
    io_.free(buf);
  }
  tx_.clear();
  arp_dropped_.clear();
  arp_.drain_pending(arp_dropped_);
  for (io::PacketBuf* buf : arp_dropped_) {
    io_.free(buf);
  }
}

std::size_t Engine::poll(Instant now) {
  now_ = now;
  std::size_t work = 0;
  for (int round = 0; round < kMaxRxRounds; ++round) {
    const std::size_t n = io_.rx_burst(rx_, now);
    for (std::size_t i = 0; i < n; ++i) {
      input(*rx_[i]);
      io_.free(rx_[i]);
    }
    work += n;
    if (n < rx_.size()) {
      break;
    }
  }
  work += fire_timers(now);
  if (now >= arp_.next_deadline()) {
    on_arp_timer(now);
  }
  work += finish_tx();
  sync_gauges();
  return work;
}

Instant Engine::next_deadline() const {
  Instant d = std::min({wheel_.next_deadline(), arp_.next_deadline(), io_.next_deadline()});
  if (!tx_.empty()) {
    // Refused frames are retried on the next poll; come back one tick later.
    d = std::min(d, now_ + cfg_.timer_tick);
  }
  return d;
}

std::size_t Engine::fire_timers(Instant now) {
  std::size_t fired = 0;
  wheel_.advance(now, [&](TimerNode& node) {
    ++fired;
    on_connection_timer(static_cast<std::uint32_t>(node.user), now);
  });
  return fired;
}

void Engine::on_connection_timer(std::uint32_t index, Instant now) {
  Socket& s = sockets_.at(index);
  if (s.kind != SocketKind::kConnection) {
    return;
  }
  if (now < s.conn->next_deadline()) {
    rearm(s);
    return;
  }
  s.conn->on_timer(now);
  settle(index);
}

void Engine::install_connection(std::uint32_t index, tcp::ConnectionPtr conn) {
  Socket& s = sockets_.at(index);
  s.kind = SocketKind::kConnection;
  s.conn = std::move(conn);
  s.gauge_state = s.conn->state();
  ++counters_.connections_by_state[static_cast<std::size_t>(s.gauge_state)];
  settle(index);
}

tcp::Initial Engine::initial(const wire::FourTuple& tuple) const {
  return {isn_.isn(tuple, now_), isn_.timestamp_offset(tuple.local.addr, tuple.remote.addr)};
}

void Engine::settle(std::uint32_t index) {
  Socket& s = sockets_.at(index);
  if (s.kind != SocketKind::kConnection) {
    return;
  }
  std::uint32_t bits = s.conn->take_events();
  if (s.parent != kNoIndex && handshake_done(bits, s.conn->state()) && !s.conn->deferred()) {
    promote_child(index);
  }
  if (s.conn->state() == tcp::State::kTimeWait && s.gauge_state != tcp::State::kTimeWait &&
      counters_.in_state(tcp::State::kTimeWait) >= cfg_.time_wait_limit()) {
    s.conn->end_time_wait();
    ++counters_.time_wait_overflow;
    bits |= s.conn->take_events();
  }
  set_gauge_state(s, s.conn->state());
  if (bits != 0) {
    note_events(index, bits);
  }
  rearm(s);
  maybe_reap(index);
}

void Engine::rearm(Socket& s) {
  // schedule() with kNever cancels: one call covers arm, re-arm and disarm.
  wheel_.schedule(s.timer, s.conn->next_deadline());
}

void Engine::promote_child(std::uint32_t index) {
  Socket& s = sockets_.at(index);
  const std::uint32_t parent = s.parent;
  Listener& l = *sockets_.at(parent).listener;
  l.syn_removed();
  s.parent = kNoIndex;
  if (!l.push_accepted(index)) {
    // Unreachable while final ACKs are dropped on overflow (engine_listen.cc);
    // kept so a broken invariant costs one connection, not the engine.
    ++counters_.drop_accept_queue_full;
    s.conn->abort(now_);
    return;
  }
  s.in_accept_queue = true;
  note_events(parent, tcp::events::kReadable);
}

void Engine::note_events(std::uint32_t index, std::uint32_t bits) {
  Socket& s = sockets_.at(index);
  s.events |= bits;
  // A child not accepted yet keeps its bits: accept() reports them.
  if (s.app_owned && !s.dirty) {
    s.dirty = true;
    dirty_.push_back(index);
  }
}

void Engine::set_gauge_state(Socket& s, tcp::State state) {
  if (s.gauge_state == state) {
    return;
  }
  --counters_.connections_by_state[static_cast<std::size_t>(s.gauge_state)];
  ++counters_.connections_by_state[static_cast<std::size_t>(state)];
  s.gauge_state = state;
}

void Engine::maybe_reap(std::uint32_t index) {
  const Socket& s = sockets_.at(index);
  if (s.kind == SocketKind::kConnection && !s.app_owned && !s.in_accept_queue &&
      s.conn->state() == tcp::State::kClosed) {
    reap(index);
  }
}

void Engine::reap(std::uint32_t index) {
  Socket& s = sockets_.at(index);
  if (s.in_flow_table) {
    flows_.erase(s.conn->tuple());
  }
  wheel_.cancel(s.timer);
  release_port(s);
  if (s.parent != kNoIndex) {
    sockets_.at(s.parent).listener->syn_removed();
  }
  --counters_.connections_by_state[static_cast<std::size_t>(s.gauge_state)];
  sockets_.release(index);
}

void Engine::release_port(Socket& s) {
  ports_.remove(s.local.port, s.port_ref);
  s.port_ref = PortRef::kNone;
}

void Engine::sync_gauges() {
  counters_.connections = flows_.size();
  counters_.sockets = sockets_.in_use();
  counters_.timers_armed = wheel_.size();
  counters_.buffers_held = tx_.size() + arp_.pending_count();
}

std::size_t Engine::drain_events(std::span<SocketEvent> out) {
  std::size_t n = 0;
  std::size_t consumed = 0;
  for (; consumed < dirty_.size() && n < out.size(); ++consumed) {
    Socket& s = sockets_.at(dirty_[consumed]);
    // Entries of sockets closed (or released and reused) since they were listed
    // are stale: `dirty` was cleared then, and a reused slot lists itself anew.
    if (!s.dirty) {
      continue;
    }
    s.dirty = false;
    if (!s.app_owned) {
      continue;
    }
    out[n++] = SocketEvent{sockets_.id_of(dirty_[consumed]), s.events};
    s.events = 0;
  }
  dirty_.erase(dirty_.begin(), dirty_.begin() + static_cast<std::ptrdiff_t>(consumed));
  return n;
}

}  // namespace utcp::stack::engine
