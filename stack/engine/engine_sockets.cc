// The socket calls. Each validates the id (EBADF for stale ids), then the socket's
// kind, returning the errno Linux returns for the same call in the same state
// (net/ipv4/af_inet.c, inet_connection_sock.c, tcp.c); connections do the rest.
// Invariant: every call that reaches a connection ends with settle().
#include <cerrno>

#include "stack/engine/engine.h"

namespace utcp::stack::engine {

Result<SocketId> Engine::socket() {
  const std::optional<std::uint32_t> index = sockets_.allocate();
  if (!index) {
    // The engine's table is shared by every process it serves: a system-wide limit.
    return Result<SocketId>::error(ENFILE);
  }
  sockets_.at(*index).app_owned = true;
  sync_gauges();
  return sockets_.id_of(*index);
}

Errno Engine::bind(SocketId id, wire::Endpoint local) {
  Socket* s = live(id);
  if (s == nullptr) {
    return EBADF;
  }
  if (s->kind != SocketKind::kFresh || s->port_ref != PortRef::kNone) {
    return EINVAL;
  }
  if (!local.addr.is_unspecified() && local.addr != cfg_.ip) {
    return EADDRNOTAVAIL;
  }
  if (local.port == 0) {
    s->local.addr = local.addr;
    return autobind(id.index);
  }
  if (!ports_.can_bind(local.port, s->options.reuse_addr, s->options.reuse_port, s->options.uid)) {
    return EADDRINUSE;
  }
  s->local = local;
  s->port_ref = bind_ref(s->options.reuse_addr, s->options.reuse_port);
  ports_.add(local.port, s->port_ref, s->options.uid);
  return 0;
}

Errno Engine::autobind(std::uint32_t index) {
  Socket& s = sockets_.at(index);
  const std::uint32_t range = std::uint32_t{cfg_.ephemeral_hi} - cfg_.ephemeral_lo + 1;
  for (std::uint32_t i = 0; i < range; ++i) {
    const auto port = static_cast<std::uint16_t>(cfg_.ephemeral_lo + (next_bind_port_ + i) % range);
    if (ports_.unused(port)) {
      next_bind_port_ += i + 1;
      s.local.port = port;
      s.port_ref = bind_ref(s.options.reuse_addr, s.options.reuse_port);
      ports_.add(port, s.port_ref, s.options.uid);
      return 0;
    }
  }
  return EADDRINUSE;  // Linux's answer when the ephemeral range is exhausted
}

std::uint32_t Engine::normalized_backlog(int backlog) const {
  // Linux: `if ((unsigned int)backlog > somaxconn) backlog = somaxconn`, so a
  // negative backlog means the maximum.
  const auto b = static_cast<std::uint32_t>(backlog);
  return b > cfg_.somaxconn ? cfg_.somaxconn : b;
}

Errno Engine::listen(SocketId id, int backlog) {
  Socket* s = live(id);
  if (s == nullptr) {
    return EBADF;
  }
  const std::uint32_t b = normalized_backlog(backlog);
  if (s->kind == SocketKind::kListener) {
    s->listener->set_backlog(b);
    return 0;
  }
  if (s->kind != SocketKind::kFresh) {
    return EINVAL;
  }
  if (s->port_ref == PortRef::kNone) {
    if (const Errno e = autobind(id.index); e != 0) {
      return e;
    }
  }
  // SO_REUSEPORT as latched by bind: the group must agree with the port's counts.
  const bool reuse_port = has_reuse_port(s->port_ref);
  if (!ports_.can_listen(s->local.port, reuse_port, s->options.uid)) {
    return EADDRINUSE;
  }
  s->kind = SocketKind::kListener;
  s->listener = std::make_unique<Listener>(b, cfg_.somaxconn, cfg_.syn_queue_limit);
  ports_.add_listener(s->local.port, id.index, reuse_port);
  ++counters_.listeners;
  return 0;
}

Result<SocketId> Engine::accept(SocketId listener, wire::Endpoint* peer) {
  Socket* s = live(listener);
  if (s == nullptr) {
    return Result<SocketId>::error(EBADF);
  }
  if (s->kind != SocketKind::kListener) {
    return Result<SocketId>::error(EINVAL);
  }
  const std::optional<std::uint32_t> child = s->listener->pop_accepted();
  if (!child) {
    return Result<SocketId>::error(EAGAIN);
  }
  Socket& c = sockets_.at(*child);
  c.in_accept_queue = false;
  c.app_owned = true;
  c.connect_reported = true;  // accept()ed sockets are SS_CONNECTED: connect() gives EISCONN
  if (c.events != 0) {
    note_events(*child, 0);  // what happened while queued is reported at the next drain
  }
  if (peer != nullptr) {
    *peer = c.remote;
  }
  // A child reset while queued is still returned, as on Linux; reading reports it.
  return sockets_.id_of(*child);
}

Errno Engine::check_remote(wire::Endpoint remote) const {
  const wire::Ipv4Addr a = remote.addr;
  const std::uint32_t host_mask =
      cfg_.prefix_len >= 32 ? 0 : (~std::uint32_t{0} >> cfg_.prefix_len);
  const bool subnet_broadcast =
      host_mask != 0 && a.in_subnet(cfg_.ip, cfg_.prefix_len) && (a.value & host_mask) == host_mask;
  // Linux's route lookup makes these RTN_BROADCAST/MULTICAST: TCP gets ENETUNREACH.
  // Loopback and our own address are the kernel's (DESIGN.md §3, handover).
  if (a.is_unspecified() || a.is_broadcast() || a.is_multicast() || a.is_loopback() ||
      subnet_broadcast || a == cfg_.ip || !next_hop(a)) {
    return ENETUNREACH;
  }
  return 0;
}

Errno Engine::connect_again(Socket& s) {
  if (s.connect_reported) {
    return EISCONN;
  }
  switch (s.conn->state()) {
    case tcp::State::kSynSent:
    case tcp::State::kSynReceived:
      return EALREADY;
    case tcp::State::kClosed: {
      // Linux __inet_stream_connect, sock_error: the pending error, else ECONNABORTED.
      const int err = s.conn->take_error();
      return err != 0 ? err : ECONNABORTED;
    }
    default:
      s.connect_reported = true;
      return 0;
  }
}

Result<std::uint16_t> Engine::connect_port(Socket& s, wire::Endpoint remote) {
  if (s.port_ref != PortRef::kNone) {
    const wire::FourTuple tuple{{cfg_.ip, s.local.port}, remote};
    if (flows_.find(tuple)) {
      return Result<std::uint16_t>::error(EADDRNOTAVAIL);
    }
    return s.local.port;
  }
  // RFC 6056 §3.3.3: a keyed per-destination offset plus a counter, then the RSS
  // constraint: only ports whose replies hash to this engine qualify.
  const std::uint32_t range = std::uint32_t{cfg_.ephemeral_hi} - cfg_.ephemeral_lo + 1;
  const std::uint32_t offset = isn::ephemeral_port_offset(cfg_.secret, cfg_.ip, remote);
  const auto hint =
      static_cast<std::uint16_t>(cfg_.ephemeral_lo + (offset + next_ephemeral_) % range);
  ++next_ephemeral_;
  const std::optional<std::uint16_t> port = rss::pick_local_port(
      cfg_.rss_key, cfg_.reta, cfg_.engine_index, cfg_.ip, remote, cfg_.ephemeral_lo,
      cfg_.ephemeral_hi, hint, [&](std::uint16_t p) {
        return ports_.connectable(p) && !flows_.find(wire::FourTuple{{cfg_.ip, p}, remote});
      });
  if (!port) {
    return Result<std::uint16_t>::error(EADDRNOTAVAIL);
  }
  return *port;
}

Errno Engine::connect(SocketId id, wire::Endpoint remote, Instant now) {
  now_ = now;
  Socket* s = live(id);
  if (s == nullptr) {
    return EBADF;
  }
  if (s->kind == SocketKind::kListener) {
    return EISCONN;
  }
  if (s->kind == SocketKind::kConnection) {
    return connect_again(*s);
  }
  if (const Errno e = check_remote(remote); e != 0) {
    return e;
  }
  const Result<std::uint16_t> port = connect_port(*s, remote);
  if (!port.ok()) {
    return port.err();
  }
  const wire::FourTuple tuple{{cfg_.ip, *port}, remote};
  if (!flows_.insert(tuple, id.index)) {
    ++counters_.drop_flow_table_full;
    return ENOBUFS;
  }
  release_port(*s);
  s->port_ref = connection_ref(s->options.reuse_port);
  ports_.add(*port, s->port_ref, s->options.uid);
  s->local = tuple.local;
  s->remote = remote;
  s->in_flow_table = true;
  install_connection(id.index,
                     tcp::Connection::connect(ctx_, s->options.tcp, tuple, initial(tuple), now));
  sync_gauges();
  return EINPROGRESS;
}

Result<std::size_t> Engine::send(SocketId id, std::span<const std::uint8_t> data, MsgFlags flags,
                                 Instant now) {
  now_ = now;
  Socket* s = live(id);
  if (s == nullptr) {
    return Result<std::size_t>::error(EBADF);
  }
  if (s->kind != SocketKind::kConnection) {
    return Result<std::size_t>::error(EPIPE);  // sk_stream_wait_connect on a closed socket
  }
  Result<std::size_t> r = s->conn->send(data, flags.more, now);
  if (flags.eor && r.ok() && *r == data.size()) {
    s->conn->mark_record_end();
  }
  settle(id.index);
  return r;
}

Result<std::size_t> Engine::recv(SocketId id, std::span<std::uint8_t> out, MsgFlags flags,
                                 Instant now) {
  now_ = now;
  Socket* s = live(id);
  if (s == nullptr) {
    return Result<std::size_t>::error(EBADF);
  }
  if (s->kind != SocketKind::kConnection) {
    return Result<std::size_t>::error(ENOTCONN);
  }
  Result<std::size_t> r = s->conn->recv(out, flags.peek, now);
  settle(id.index);
  return r;
}

Errno Engine::shutdown(SocketId id, ShutdownHow how, Instant now) {
  now_ = now;
  Socket* s = live(id);
  if (s == nullptr) {
    return EBADF;
  }
  const bool rd = how != ShutdownHow::kWrite;
  const bool wr = how != ShutdownHow::kRead;
  switch (s->kind) {
    case SocketKind::kListener:
      // Linux inet_shutdown: SHUT_RD on a listener stops it (tcp_disconnect).
      if (rd) {
        close_listener(id.index, now);
        sync_gauges();  // the children it reset are gone from the flow table
      }
      return 0;
    case SocketKind::kConnection: {
      const Errno e = s->conn->shutdown(rd, wr, now);
      settle(id.index);
      return e;
    }
    default:
      return ENOTCONN;
  }
}

Errno Engine::abort(SocketId id, Instant now) {
  Socket* s = live(id);
  if (s == nullptr) {
    return EBADF;
  }
  SocketOptions opts = s->options;
  if (s->kind == SocketKind::kConnection) {
    opts.tcp = s->conn->options();
  }
  opts.tcp.linger = true;
  opts.tcp.linger_time = Duration{0};
  (void)set_options(id, opts, now);
  return close(id, now);
}

Errno Engine::close(SocketId id, Instant now) {
  now_ = now;
  Socket* s = live(id);
  if (s == nullptr) {
    return EBADF;
  }
  sockets_.retire_id(id.index);
  s->app_owned = false;
  s->events = 0;
  if (s->kind == SocketKind::kConnection) {
    s->conn->close(now);
    settle(id.index);  // reaps at once if the close left it CLOSED
  } else {
    if (s->kind == SocketKind::kListener) {
      close_listener(id.index, now);
    }
    release_port(*s);
    sockets_.release(id.index);
  }
  sync_gauges();
  return 0;
}

Errno Engine::set_options(SocketId id, const SocketOptions& opts, Instant now) {
  now_ = now;
  Socket* s = live(id);
  if (s == nullptr) {
    return EBADF;
  }
  if (s->kind != SocketKind::kConnection) {
    // Kept for the connection to come; a listener's children inherit them.
    s->options = opts;
    return 0;
  }
  const Errno e = s->conn->set_options(opts.tcp, now);
  if (e == 0) {
    s->options = opts;
  }
  settle(id.index);
  return e;
}

std::uint32_t Engine::unsent_bytes(SocketId id) {
  const Socket* s = live(id);
  return s != nullptr && s->kind == SocketKind::kConnection ? s->conn->unsent_bytes() : 0;
}

Errno Engine::push(SocketId id, tcp::Push what, Instant now) {
  now_ = now;
  Socket* s = live(id);
  if (s == nullptr) {
    return EBADF;
  }
  if (s->kind == SocketKind::kConnection) {
    s->conn->push(what, now);
    settle(id.index);
  }
  return 0;
}

Result<SocketOptions> Engine::options(SocketId id) {
  Socket* s = live(id);
  if (s == nullptr) {
    return Result<SocketOptions>::error(EBADF);
  }
  SocketOptions opts = s->options;
  if (s->kind == SocketKind::kConnection) {
    opts.tcp = s->conn->options();
  }
  return opts;
}

Result<wire::Endpoint> Engine::getsockname(SocketId id) {
  Socket* s = live(id);
  if (s == nullptr) {
    return Result<wire::Endpoint>::error(EBADF);
  }
  return s->local;
}

Result<wire::Endpoint> Engine::getpeername(SocketId id) {
  Socket* s = live(id);
  if (s == nullptr) {
    return Result<wire::Endpoint>::error(EBADF);
  }
  // Linux inet_getname: ENOTCONN unless connected, and in CLOSE or SYN-SENT.
  if (s->kind != SocketKind::kConnection || s->conn->state() == tcp::State::kClosed ||
      s->conn->state() == tcp::State::kSynSent) {
    return Result<wire::Endpoint>::error(ENOTCONN);
  }
  return s->remote;
}

Result<tcp::TcpInfo> Engine::info(SocketId id) {
  Socket* s = live(id);
  if (s == nullptr) {
    return Result<tcp::TcpInfo>::error(EBADF);
  }
  if (s->kind == SocketKind::kConnection) {
    return s->conn->info();
  }
  tcp::TcpInfo info;
  info.state = s->kind == SocketKind::kListener ? tcp::State::kListen : tcp::State::kClosed;
  return info;
}

Result<int> Engine::take_error(SocketId id) {
  Socket* s = live(id);
  if (s == nullptr) {
    return Result<int>::error(EBADF);
  }
  if (s->kind == SocketKind::kConnection) {
    return s->conn->take_error();
  }
  const int err = s->error;
  s->error = 0;
  return err;
}

Result<std::uint32_t> Engine::readiness(SocketId id) {
  Socket* s = live(id);
  if (s == nullptr) {
    return Result<std::uint32_t>::error(EBADF);
  }
  return level_readiness(*s);
}

std::uint32_t Engine::level_readiness(const Socket& s) const {
  namespace ev = tcp::events;
  if (s.kind == SocketKind::kListener) {
    return s.listener->accept_queue_empty() ? 0 : ev::kReadable;
  }
  if (s.kind != SocketKind::kConnection) {
    return ev::kWritable | ev::kHangup;  // tcp_poll on a socket in TCP_CLOSE
  }
  // Linux's tcp_poll: a shut receive side (the peer's FIN, SHUT_RD, an error) is
  // readable, since recv() returns at once; both sides shut, or CLOSED, is a hangup.
  const tcp::State st = s.conn->state();
  std::uint32_t mask = s.conn->readable_bytes() > 0 ? ev::kReadable : 0;
  const bool rx_shut = s.conn->receive_shut();
  if (rx_shut || st == tcp::State::kClosed) {
    mask |= ev::kReadable | ev::kReadHangup;
  }
  if (st == tcp::State::kClosed || (rx_shut && s.conn->send_shut())) {
    mask |= ev::kHangup;
  }
  // Writable also when a send fails at once (EPIPE or the error) instead of blocking.
  if (((st == tcp::State::kEstablished || st == tcp::State::kCloseWait) &&
       s.conn->send_space() > 0) ||
      s.conn->send_shut() || st == tcp::State::kClosed) {
    mask |= ev::kWritable;
  }
  return mask;
}

std::vector<SocketReport> Engine::report_sockets() const {
  std::vector<SocketReport> out;
  out.reserve(counters_.listeners + flows_.size());
  for (std::uint32_t i = 0; i < sockets_.capacity(); ++i) {
    const Socket& s = sockets_.at(i);
    if (s.kind != SocketKind::kListener && s.kind != SocketKind::kConnection) continue;
    SocketReport r;
    r.id = sockets_.id_of(i);
    r.orphan = !s.app_owned;
    r.local = s.local;
    r.remote = s.remote;
    if (s.kind == SocketKind::kListener) {
      r.listener = true;
      r.info.state = tcp::State::kListen;
      r.accept_queue = s.listener->accept_count();
      r.syn_queue = s.listener->syn_count();
      r.backlog = s.listener->backlog();
    } else {
      r.info = s.conn->info();
    }
    out.push_back(r);
  }
  return out;
}

}  // namespace utcp::stack::engine
