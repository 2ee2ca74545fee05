// socket, bind, listen, accept, accept4, connect, shutdown: where a TCP socket decides
// between utcp and the kernel (DESIGN.md §3 "Kernel fallback"), and the calls that
// manage a utcp socket's life. Every argument check mirrors Linux's (net/socket.c,
// net/ipv4/af_inet.c) so a program sees the errno it would see on the kernel.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cstring>

#include "preload/ops.h"
#include "preload/real.h"
#include "preload/signals.h"

using namespace utcp::preload;

namespace {

namespace st = utcp::shim::state;

// The address checks bind and connect share, in Linux's order (move_addr_to_kernel,
// then inet_bind / tcp_v4_connect); 0 or an errno.
int check_inet(const sockaddr* addr, socklen_t len) {
  if (static_cast<int>(len) < 0 || len > sizeof(sockaddr_storage)) return EINVAL;
  if (len > 0 && addr == nullptr) return EFAULT;
  if (len < static_cast<socklen_t>(sizeof(sockaddr_in))) return EINVAL;
  if (addr->sa_family != AF_INET) return EAFNOSUPPORT;
  return 0;
}

// bind() takes AF_UNSPEC with INADDR_ANY as AF_INET (Linux keeps that for old programs).
bool unspec_any(const sockaddr* addr, socklen_t len) {
  if (addr == nullptr || len < static_cast<socklen_t>(sizeof(sockaddr_in))) return false;
  sockaddr_in sin;
  std::memcpy(&sin, addr, sizeof sin);
  return sin.sin_family == AF_UNSPEC && sin.sin_addr.s_addr == htonl(INADDR_ANY);
}

int utcp_bind(Client& c, USocket& s, const sockaddr_in& want, bool may_defer_port = true) {
  if (may_defer_port && s.bind_no_port && want.sin_port == 0) {
    // IP_BIND_ADDRESS_NO_PORT: Linux leaves the port to connect() (or listen()), which
    // can then share it among connections to different peers.
    s.bound = true;
    s.port_deferred = true;
    s.local = want;
    return 0;
  }
  s.port_deferred = false;
  utcp::shim::Command cmd;
  cmd.op = utcp::shim::Op::kBind;
  cmd.ip = ntohl(want.sin_addr.s_addr);
  cmd.port = ntohs(want.sin_port);
  for (const RecordedOption& o : s.options) {
    if (o.level == SOL_SOCKET && o.name == SO_REUSEADDR) cmd.a = o.value != 0;
  }
  cmd.b = s.reuse_port ? 1 : 0;
  utcp::shim::Reply rep = call_owner(c, s, cmd);
  if (rep.result == -EADDRINUSE && c.sync_releases()) {
    // The port may belong to a socket this process closed a moment ago: utcpd learns
    // of a close through the placeholder's hang-up, asynchronously. Once it has
    // handed every earlier close to the engines, the answer is the kernel's.
    rep = call_owner(c, s, cmd);
  }
  if (rep.result < 0) return fail(-rep.result);
  s.bound = true;
  s.local = want;
  s.local.sin_port = htons(rep.port);
  return 0;
}

int bind_socket(int fd, USocket& s, const sockaddr* addr, socklen_t len) {
  const Real& r = real();
  if (int err = check_inet(addr, len); err != 0 && !(err == EAFNOSUPPORT && unspec_any(addr, len))) {
    return fail(err);
  }
  if (s.mode == USocket::Mode::kUtcp || s.bound) return fail(EINVAL);
  sockaddr_in want;
  std::memcpy(&want, addr, sizeof want);
  want.sin_family = AF_INET;
  const std::uint32_t ip = ntohl(want.sin_addr.s_addr);
  const bool any = want.sin_addr.s_addr == htonl(INADDR_ANY);
  if (!any && (ip >> 24) == 127) {
    fd_table::clear(fd);  // loopback: the kernel's, for good
    return r.bind(fd, addr, len);
  }
  Client* c = Client::get();
  if (c == nullptr) {
    if (Client::kernel_fallback()) {
      fd_table::clear(fd);
      return r.bind(fd, addr, len);
    }
    return fail(Client::attach_errno());
  }
  if (!any && ip != c->ip()) {
    fd_table::clear(fd);  // another kernel address
    return r.bind(fd, addr, len);
  }
  if (any) {
    // 0.0.0.0: the kernel socket binds first (it picks the port for port 0), then
    // utcp takes the same port; the kernel socket lives on as the kernel half.
    if (r.bind(fd, addr, len) != 0) return -1;
    socklen_t l = sizeof want;
    r.getsockname(fd, reinterpret_cast<sockaddr*>(&want), &l);
  }
  if (make_utcp(fd, s, *c, any) != 0) return -1;
  return utcp_bind(*c, s, want);
}

int accept_one(USocket& s, Client& c, sockaddr* addr, socklen_t* len, int flags) {
  const Real& r = real();
  const std::uint32_t engines = c.geometry().engines;
  const std::uint32_t home = c.home_engine();
  const std::uint64_t acceptable = s.block(c).acceptable.load(std::memory_order_acquire);
  // Affinity-Accept: this core's engine first, then the others, so no connection waits
  // while a worker is idle.
  for (std::uint32_t i = 0; i < engines; ++i) {
    const std::uint32_t e = (home + i) % engines;
    if ((acceptable & (std::uint64_t{1} << e)) == 0) continue;
    utcp::shim::Command cmd;
    cmd.op = utcp::shim::Op::kAccept;
    cmd.slot = s.slot;
    cmd.generation = s.generation;
    cmd.a = static_cast<std::int32_t>(home);
    const utcp::shim::Reply rep = c.call(e, cmd);
    if (rep.result == -ENETDOWN) return fail(ENETDOWN);
    if (rep.result < 0) continue;
    USocketPtr child;
    const int nfd = adopt_accepted(c, e, static_cast<std::uint32_t>(rep.value),
                                   static_cast<std::uint32_t>(rep.value2), flags, &child);
    if (nfd < 0) return -1;
    // Linux clones the listener: what the library keeps of its options, too.
    child->rcvlowat = s.rcvlowat;
    child->notsent_lowat = s.notsent_lowat;
    replay_on_placeholder(nfd, s, false);
    child->peer.sin_family = AF_INET;
    child->peer.sin_addr.s_addr = htonl(rep.ip);
    child->peer.sin_port = htons(rep.port);
    child->local = s.local;
    fill_addr(addr, len, rep.ip, rep.port);
    return nfd;
  }
  if (s.kernel_half >= 0) {
    const int nfd = r.accept4(s.kernel_half, addr, len, flags);
    if (nfd >= 0 || errno != EAGAIN) return nfd;
  }
  return fail(EAGAIN);
}

// connect(AF_UNSPEC) on a utcp socket: Linux's tcp_disconnect aborts the connection
// (RST) and leaves a fresh socket. Here the placeholder gives way to a new kernel TCP
// socket at the same number (the daemon sees the release and resets the connection).
int disconnect(int fd, USocket& s) {
  Client* c = Client::get();
  if (c == nullptr) return fail(ENETDOWN);
  if (s.listening) return fail(EINVAL);
  utcp::shim::Command cmd;
  cmd.op = utcp::shim::Op::kSetOption;
  cmd.a = SOL_SOCKET;
  cmd.b = SO_LINGER;
  cmd.value = 1;
  cmd.value2 = 0;
  (void)call_owner(*c, s, cmd);
  const Real& r = real();
  const int fresh = r.socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fresh < 0) return -1;
  const int fd_flags = r.fcntl(fd, F_GETFD);
  const int rc = r.dup3(fresh, fd, (fd_flags & FD_CLOEXEC) ? O_CLOEXEC : 0);
  r.close(fresh);
  if (rc < 0) return -1;
  if (s.nonblocking) r.fcntl(fd, F_SETFL, O_NONBLOCK);
  auto next = std::make_shared<USocket>();
  next->nonblocking = s.nonblocking;
  next->options = s.options;
  next->rcvtimeo_ms = s.rcvtimeo_ms;
  next->sndtimeo_ms = s.sndtimeo_ms;
  fd_table::set(fd, std::move(next));
  return 0;
}

int do_accept(int fd, sockaddr* addr, socklen_t* len, int flags) {
  USocketPtr s = fd_table::get(fd);
  if (!s) return real().accept4(fd, addr, len, flags);
  if (flags & ~(SOCK_NONBLOCK | SOCK_CLOEXEC)) return fail(EINVAL);
  // Linux checks the address arguments only after it took a connection off the queue,
  // and then drops that connection; so do we.
  int arg_error = 0;
  if (addr != nullptr && len == nullptr) arg_error = EFAULT;
  if (len != nullptr && static_cast<int>(*len) < 0) arg_error = EINVAL;
  if (arg_error != 0) {
    const int nfd = do_accept(fd, nullptr, nullptr, flags);
    if (nfd < 0) return -1;
    close(nfd);
    return fail(arg_error);
  }
  std::unique_lock<std::mutex> lock(s->mu);
  if (s->mode != USocket::Mode::kUtcp || !s->listening) return fail(EINVAL);
  Client* c = Client::get();
  if (c == nullptr) return fail(ENETDOWN);
  watch_if_inherited(*s, *c);
  const bool nonblocking = s->nonblocking;
  const long timeout = s->rcvtimeo_ms;
  lock.unlock();  // several threads (or processes) may wait on one listener
  for (;;) {
    int nfd;
    {
      std::lock_guard<std::mutex> again(s->mu);
      nfd = accept_one(*s, *c, addr, len, flags);
    }
    if (nfd >= 0 || errno != EAGAIN || nonblocking) return nfd;
    pollfd kernel{s->kernel_half, POLLIN, 0};
    std::span<pollfd> extra;
    if (s->kernel_half >= 0) extra = std::span<pollfd>(&kernel, 1);
    const SignalMark mark = signal_mark();
    const int w = c->wait([&] { return s->block(*c).acceptable.load() != 0; }, extra,
                          static_cast<int>(timeout));
    if (w < 0 && errno == EINTR && timeout < 0 && restart_after_signal(mark)) continue;
    if (w < 0) return -1;
    if (w == 0) return fail(EAGAIN);
    if (c->daemon_gone()) return fail(ENETDOWN);
  }
}

}  // namespace

extern "C" {

int socket(int domain, int type, int protocol) {
  const int fd = real().socket(domain, type, protocol);
  if (fd < 0) return fd;
  const int kind = type & ~(SOCK_NONBLOCK | SOCK_CLOEXEC);
  if (domain == AF_INET && kind == SOCK_STREAM && (protocol == 0 || protocol == IPPROTO_TCP)) {
    auto s = std::make_shared<USocket>();
    s->nonblocking = (type & SOCK_NONBLOCK) != 0;
    fd_table::set(fd, std::move(s));
  }
  return fd;
}

int bind(int fd, const sockaddr* addr, socklen_t len) {
  USocketPtr s = fd_table::get(fd);
  if (!s) return real().bind(fd, addr, len);
  std::lock_guard<std::mutex> lock(s->mu);
  return bind_socket(fd, *s, addr, len);
}

int listen(int fd, int backlog) {
  USocketPtr s = fd_table::get(fd);
  if (!s) return real().listen(fd, backlog);
  std::lock_guard<std::mutex> lock(s->mu);
  if (s->mode == USocket::Mode::kUndecided && !s->bound) {
    // Linux autobinds a listener to 0.0.0.0 and an ephemeral port.
    sockaddr_in any{};
    any.sin_family = AF_INET;
    if (bind_socket(fd, *s, reinterpret_cast<sockaddr*>(&any), sizeof any) != 0) return -1;
    s = fd_table::get(fd);
    if (!s) return real().listen(fd, backlog);
  }
  if (s->mode != USocket::Mode::kUtcp) return real().listen(fd, backlog);
  Client* c = Client::get();
  if (c == nullptr) return fail(ENETDOWN);
  const std::uint32_t state = s->block(*c).state.load();
  if (state & (st::kConnected | st::kConnecting)) return fail(EINVAL);
  if (s->listening) return 0;  // Linux: a second listen() only changes the backlog
  if (s->port_deferred && utcp_bind(*c, *s, s->local, false) != 0) return -1;
  const int clamped = backlog < 0 ? 0 : backlog;
  utcp::shim::Command cmd;
  cmd.op = utcp::shim::Op::kListen;
  cmd.ip = ntohl(s->local.sin_addr.s_addr);
  cmd.port = ntohs(s->local.sin_port);
  cmd.value = clamped;
  for (const RecordedOption& o : s->options) {
    if (o.level == SOL_SOCKET && o.name == SO_REUSEADDR) cmd.a = o.value != 0;
  }
  cmd.b = s->reuse_port ? 1 : 0;
  utcp::shim::Reply rep = call_owner(*c, *s, cmd);
  if (rep.result < 0) return fail(-rep.result);
  // Every other engine gets its share: connections arrive on every queue.
  for (std::uint32_t e = 0; e < c->geometry().engines; ++e) {
    if (e == s->owner) continue;
    cmd.slot = s->slot;
    cmd.generation = s->generation;
    rep = c->call(e, cmd);
    if (rep.result < 0) return fail(-rep.result);
    replay_options(*c, *s, e);  // this share's connections inherit them, as the owner's do
  }
  if (s->kernel_half >= 0 && real().listen(s->kernel_half, backlog) != 0) return -1;
  s->listening = true;
  return 0;
}

int accept(int fd, sockaddr* addr, socklen_t* len) { return do_accept(fd, addr, len, 0); }

int accept4(int fd, sockaddr* addr, socklen_t* len, int flags) {
  return do_accept(fd, addr, len, flags);
}

int connect(int fd, const sockaddr* addr, socklen_t len) {
  USocketPtr s = fd_table::get(fd);
  if (!s) return real().connect(fd, addr, len);
  std::unique_lock<std::mutex> lock(s->mu);
  if (addr != nullptr && len >= sizeof(sa_family_t) && addr->sa_family == AF_UNSPEC) {
    if (s->mode == USocket::Mode::kUndecided) return real().connect(fd, addr, len);
    return disconnect(fd, *s);
  }
  if (int err = check_inet(addr, len)) return fail(err);
  sockaddr_in dst;
  std::memcpy(&dst, addr, sizeof dst);
  if (s->mode == USocket::Mode::kUndecided) {
    if (!Client::is_utcp_local(dst.sin_addr.s_addr)) {
      if (Client::current() == nullptr && !Client::kernel_fallback() &&
          ntohl(dst.sin_addr.s_addr) >> 24 != 127 && Client::get() == nullptr) {
        return fail(Client::attach_errno());
      }
      fd_table::clear(fd);
      lock.unlock();
      return real().connect(fd, addr, len);
    }
    Client* c = Client::get();
    if (c == nullptr) return -1;
    if (make_utcp(fd, *s, *c, false) != 0) return -1;
  }
  Client* c = Client::get();
  if (c == nullptr) return fail(ENETDOWN);
  watch_if_inherited(*s, *c);
  if (s->listening) return fail(EISCONN);
  const std::uint32_t state = s->block(*c).state.load();
  if (state & st::kConnected) {
    // Linux: the first connect() after a non-blocking one completed returns 0.
    if (s->connect_started && !s->connect_reported) {
      s->connect_reported = true;
      return 0;
    }
    return fail(EISCONN);
  }
  if (state & st::kConnecting) return fail(EALREADY);
  if (s->connect_started && (state & st::kError) && s->error_reported && !s->listening) {
    // The failed attempt was reported: Linux's socket is unconnected again and a new
    // connect() starts over (a new SYN). Here: a fresh socket at the same fd.
    if (disconnect(fd, *s) != 0) return -1;
    lock.unlock();
    return connect(fd, addr, len);
  }
  if (s->connect_started && (state & st::kError) && !s->error_reported) {
    // A failed non-blocking connect reports its error here once (as SO_ERROR would).
    s->error_reported = true;
    const int err = s->block(*c).error.load();
    if (err != 0) return fail(err);
  }
  utcp::shim::Command cmd;
  cmd.op = utcp::shim::Op::kConnect;
  cmd.ip = ntohl(dst.sin_addr.s_addr);
  cmd.port = ntohs(dst.sin_port);
  const utcp::shim::Reply rep = call_owner(*c, *s, cmd);
  s->port_deferred = false;  // IP_BIND_ADDRESS_NO_PORT: the engine picked the port now
  s->connect_started = true;
  s->connect_reported = false;
  s->error_reported = false;
  s->peer = dst;
  if (rep.result == 0) return 0;
  if (rep.result != -EINPROGRESS) return fail(-rep.result);
  s->bound = true;
  s->local.sin_family = AF_INET;
  s->local.sin_addr.s_addr = htonl(rep.ip);
  s->local.sin_port = htons(rep.port);
  if (s->nonblocking) return fail(EINPROGRESS);
  const long timeout = s->sndtimeo_ms;
  lock.unlock();
  USocket& sock = *s;
  const int w = c->wait(
      [&] { return (sock.block(*c).state.load() & (st::kConnected | st::kError)) != 0; }, {},
      static_cast<int>(timeout));
  lock.lock();
  if (w < 0) return -1;
  if (w == 0) return fail(EINPROGRESS);
  if (c->daemon_gone()) return fail(ENETDOWN);
  if (s->block(*c).state.load() & st::kConnected) {
    s->connect_reported = true;
    return 0;
  }
  // The error is consumed (SO_ERROR reads 0 afterwards, as on Linux).
  utcp::shim::Command err;
  err.op = utcp::shim::Op::kGetOption;
  err.a = SOL_SOCKET;
  err.b = SO_ERROR;
  const utcp::shim::Reply e = call_owner(*c, *s, err);
  s->error_reported = true;
  const int code = s->block(*c).error.load();
  return fail(code != 0 ? code : e.value != 0 ? static_cast<int>(e.value) : ECONNREFUSED);
}

int shutdown(int fd, int how) {
  USocketPtr s = fd_table::get(fd);
  if (!s) return real().shutdown(fd, how);
  std::lock_guard<std::mutex> lock(s->mu);
  if (how != SHUT_RD && how != SHUT_WR && how != SHUT_RDWR) return fail(EINVAL);
  if (s->mode != USocket::Mode::kUtcp) return fail(ENOTCONN);
  Client* c = Client::get();
  if (c == nullptr) return fail(ENETDOWN);
  if (s->listening) {
    // Linux stops a listener on SHUT_RD (its queue is reset); SHUT_WR does nothing.
    if (how == SHUT_WR) return 0;
    utcp::shim::Command cmd;
    cmd.op = utcp::shim::Op::kShutdown;
    cmd.a = SHUT_RD;
    cmd.slot = s->slot;
    cmd.generation = s->generation;
    for (std::uint32_t e = 0; e < c->geometry().engines; ++e) (void)c->call(e, cmd);
    if (s->kernel_half >= 0) real().shutdown(s->kernel_half, SHUT_RD);
    s->listening = false;
    return 0;
  }
  utcp::shim::Command cmd;
  cmd.op = utcp::shim::Op::kShutdown;
  cmd.a = how;
  const utcp::shim::Reply rep = call_owner(*c, *s, cmd);
  return rep.result < 0 ? fail(-rep.result) : 0;
}

}  // extern "C"
