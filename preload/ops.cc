// Shared pieces of the interposers (read ops.h first).
#include "preload/ops.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <utility>

#include "preload/epoll_set.h"
#include "preload/option_values.h"
#include "preload/real.h"

namespace utcp::preload {
namespace {

namespace st = shim::state;

}  // namespace

void replay_options(Client& c, USocket& s, std::uint32_t engine) {
  for (const RecordedOption& o : s.options) {
    if (!engine_option(o.level, o.name)) continue;
    shim::Command cmd;
    cmd.op = shim::Op::kSetOption;
    cmd.slot = s.slot;
    cmd.generation = s.generation;
    cmd.a = o.level;
    cmd.b = o.name;
    cmd.value = o.value;
    cmd.value2 = o.value2;
    (void)c.call(engine, cmd);
  }
}

// SO_PRIORITY, SO_MARK, SO_DEBUG and the kernel's reading of SO_RCVBUF/SO_SNDBUF live
// on the placeholder (option_calls.cc); set while the socket was still a kernel socket
// (SO_PRIORITY also through IP_TOS, Linux's rt_tos2priority), they are set there
// again, in order.
void replay_on_placeholder(int fd, const USocket& s, bool with_priority) {
  for (const RecordedOption& o : s.options) {
    int v = static_cast<int>(o.value);
    int name = o.name;
    const bool priority = (o.level == IPPROTO_IP && o.name == IP_TOS) ||
                          (o.level == SOL_SOCKET && o.name == SO_PRIORITY);
    if (priority && !with_priority) continue;
    if (o.level == IPPROTO_IP && o.name == IP_TOS) {
      v = tos_priority(v);
      name = SO_PRIORITY;
    } else if (!priority && (o.level != SOL_SOCKET || (o.name != SO_RCVBUF && o.name != SO_SNDBUF &&
                                                      o.name != SO_MARK && o.name != SO_DEBUG))) {
      continue;
    }
    (void)real().setsockopt(fd, SOL_SOCKET, name, &v, sizeof v);
  }
}

namespace {

// A placeholder pair: [0] becomes the app's fd, [1] goes to the daemon. Made with the
// socket's O_NONBLOCK (a file status flag, which dup3 carries over), saving an fcntl;
// always close-on-exec, so the daemon's end never leaks into a concurrent exec.
int placeholder_for(Client& c, std::uint32_t slot, std::uint32_t generation, bool nonblocking,
                    int pair[2]) {
  const int type = SOCK_STREAM | SOCK_CLOEXEC | (nonblocking ? SOCK_NONBLOCK : 0);
  if (::socketpair(AF_UNIX, type, 0, pair) != 0) return -1;
  const bool sent = c.register_placeholder(slot, generation, pair[1]);
  real().close(pair[1]);
  if (!sent) {
    real().close(pair[0]);
    return fail(ENETDOWN);
  }
  return 0;
}

void give_back(Client& c, std::uint32_t engine, std::uint32_t slot, std::uint32_t generation) {
  shim::Command cmd;
  cmd.op = shim::Op::kClose;
  cmd.slot = slot;
  cmd.generation = generation;
  c.post(engine, cmd);
}

}  // namespace

// Options the engine acts on; the rest is bookkeeping here (or unsupported).
bool engine_option(int level, int name) {
  if (level == SOL_SOCKET) {
    return name == SO_REUSEADDR || name == SO_KEEPALIVE || name == SO_LINGER ||
           name == SO_RCVBUF || name == SO_SNDBUF;
  }
  if (level == IPPROTO_IP) return name == IP_TOS || name == IP_TTL;
  return level == IPPROTO_TCP &&
         (name == TCP_NODELAY || name == TCP_CORK || name == TCP_KEEPIDLE ||
          name == TCP_KEEPINTVL || name == TCP_KEEPCNT || name == TCP_MAXSEG ||
          name == TCP_USER_TIMEOUT || name == TCP_CONGESTION || name == TCP_QUICKACK ||
          name == TCP_DEFER_ACCEPT);
}

void fill_addr(sockaddr* addr, socklen_t* len, std::uint32_t ip_host, std::uint16_t port_host) {
  if (addr == nullptr || len == nullptr) return;
  sockaddr_in sin{};
  sin.sin_family = AF_INET;
  sin.sin_addr.s_addr = htonl(ip_host);
  sin.sin_port = htons(port_host);
  std::memcpy(addr, &sin, std::min<std::size_t>(*len, sizeof sin));
  *len = sizeof sin;
}

int make_utcp(int fd, USocket& s, Client& c, bool keep_kernel_half) {
  // TCP_MD5SIG (RFC 2385), which the kernel took while the socket was its own: utcp
  // cannot sign segments, and must not send unsigned what the program asked to sign.
  for (const RecordedOption& o : s.options) {
    if (o.level == IPPROTO_TCP && (o.name == TCP_MD5SIG || o.name == TCP_MD5SIG_EXT)) {
      return fail(ENOPROTOOPT);
    }
  }
  const std::uint32_t e = c.home_engine();
  shim::Command cmd;
  cmd.op = shim::Op::kSocket;
  const shim::Reply rep = c.call(e, cmd);
  if (rep.result < 0) return fail(-rep.result);
  int pair[2];
  if (placeholder_for(c, rep.slot, rep.generation, s.nonblocking, pair) != 0) {
    give_back(c, e, rep.slot, rep.generation);
    return -1;
  }
  const Real& r = real();
  const int fd_flags = r.fcntl(fd, F_GETFD);
  if (keep_kernel_half) {
    s.kernel_half = r.fcntl(fd, F_DUPFD_CLOEXEC, 0);
    if (s.kernel_half >= 0) r.fcntl(s.kernel_half, F_SETFL, O_NONBLOCK);
  }
  // dup3 swaps the kernel socket for the placeholder atomically: no other thread can
  // see the number free in between.
  if (r.dup3(pair[0], fd, (fd_flags & FD_CLOEXEC) ? O_CLOEXEC : 0) < 0) {
    const int err = errno;
    r.close(pair[0]);
    give_back(c, e, rep.slot, rep.generation);
    return fail(err);
  }
  r.close(pair[0]);
  s.mode = USocket::Mode::kUtcp;
  s.slot = rep.slot;
  s.generation = rep.generation;
  s.owner = e;
  s.watch_pid = self_pid();
  replay_options(c, s, e);
  replay_on_placeholder(fd, s, true);
  epoll_socket_became_utcp(fd);
  return 0;
}

int adopt_accepted(Client& c, std::uint32_t owner, std::uint32_t slot, std::uint32_t generation,
                   int flags, USocketPtr* out) {
  int pair[2];
  if (placeholder_for(c, slot, generation, (flags & SOCK_NONBLOCK) != 0, pair) != 0) {
    give_back(c, owner, slot, generation);
    return -1;
  }
  if (!(flags & SOCK_CLOEXEC)) real().fcntl(pair[0], F_SETFD, 0);
  auto s = std::make_shared<USocket>();
  s->mode = USocket::Mode::kUtcp;
  s->nonblocking = (flags & SOCK_NONBLOCK) != 0;
  s->slot = slot;
  s->generation = generation;
  s->owner = owner;
  s->bound = true;
  s->watch_pid = self_pid();
  fd_table::set(pair[0], s);
  *out = std::move(s);
  return pair[0];
}

bool notsent_below_lowat(const USocket& s, const Client& c, unsigned wake) {
  if (s.notsent_lowat == 0) return true;  // unset: Linux's sysctl default, UINT_MAX
  const std::uint64_t notsent =
      std::uint64_t{s.tx_view(c).readable()} + s.block(c).notsent.load(std::memory_order_relaxed);
  return (notsent << wake) < static_cast<std::uint32_t>(s.notsent_lowat);
}

short readiness(USocket& s, Client& c) {
  if (s.mode != USocket::Mode::kUtcp) return POLLOUT | POLLHUP;  // a fresh TCP socket
  // utcpd is gone: every utcp socket is dead, and every call on it fails at once.
  if (c.daemon_gone()) return POLLIN | POLLOUT | POLLERR | POLLHUP | POLLRDHUP | POLLRDNORM | POLLWRNORM;
  const shim::SocketBlock& b = s.block(c);
  if (s.listening) return b.acceptable.load(std::memory_order_acquire) != 0 ? POLLIN : 0;
  watch_if_inherited(s, c);
  const std::uint32_t state = b.state.load(std::memory_order_acquire);
  if (b.generation.load(std::memory_order_relaxed) != s.generation) return POLLERR | POLLHUP;
  short m = 0;
  // Readable at SO_RCVLOWAT bytes (Linux's tcp_stream_is_readable), or at EOF/error.
  // A lowat beyond the stream could never be met: the stream's size is the ceiling.
  const std::uint32_t lowat =
      std::min(static_cast<std::uint32_t>(std::max(s.rcvlowat, 1)), c.geometry().stream_capacity);
  if (s.rx_view(c).readable() >= lowat || (state & (st::kRxEof | st::kError | st::kRxShut))) m |= POLLIN;
  if (state & st::kRxEof) m |= POLLRDHUP;
  // A reset or timed-out connection is shut both ways (Linux sets SHUTDOWN_MASK); the
  // error itself shows until read() or SO_ERROR took it.
  if (state & st::kError) m |= POLLIN | POLLOUT | POLLHUP | POLLRDHUP;
  if ((state & st::kError) && !s.error_reported) m |= POLLERR;
  if ((state & st::kHangup) || ((state & st::kRxEof) && (state & st::kTxShut)) ||
      (state & st::kError)) {
    m |= POLLHUP;
  }
  if ((state & st::kConnected) && !(state & st::kTxShut) && s.tx_view(c).writable() > 0 &&
      notsent_below_lowat(s, c, 1)) {
    m |= POLLOUT;
  }
  if (state & st::kTxShut) m |= POLLOUT;  // a write fails at once (EPIPE): it won't block
  if (state & st::kError) m |= POLLOUT;  // a failed connect is "writable" (then SO_ERROR)
  if (!(state & (st::kConnected | st::kConnecting | st::kError)) && !s.listening) {
    m |= POLLOUT | POLLHUP;  // never connected: Linux's tcp_poll on TCP_CLOSE
  }
  if (m & POLLIN) m |= POLLRDNORM;
  if (m & POLLOUT) m |= POLLWRNORM;
  return m;
}

void kick(USocket& s, Client& c) {
  if (s.block(c).kick.exchange(1, std::memory_order_seq_cst) != 0) return;
  shim::Command cmd;
  cmd.op = shim::Op::kKick;
  cmd.slot = s.slot;
  cmd.generation = s.generation;
  c.post(s.owner, cmd);
}

void after_read(USocket& s, Client& c) {
  std::atomic_thread_fence(std::memory_order_seq_cst);
  shim::SocketBlock& b = s.block(c);
  if (b.rx_blocked.load(std::memory_order_relaxed) != 0 &&
      b.rx_blocked.exchange(0, std::memory_order_seq_cst) != 0) {
    kick(s, c);  // a kick already in flight moves rx too
  }
}

void watch_if_inherited(USocket& s, Client& c) {
  if (s.mode != USocket::Mode::kUtcp) return;
  const pid_t pid = self_pid();
  if (s.watch_pid.load(std::memory_order_relaxed) == pid || s.watch_pid.exchange(pid) == pid) return;
  shim::Command cmd;
  cmd.op = shim::Op::kWatch;
  cmd.slot = s.slot;
  cmd.generation = s.generation;
  if (s.listening) {
    for (std::uint32_t e = 0; e < c.geometry().engines; ++e) c.post(e, cmd);
  } else {
    c.post(s.owner, cmd);
  }
}

shim::Reply call_owner(Client& c, USocket& s, shim::Command cmd) {
  cmd.slot = s.slot;
  cmd.generation = s.generation;
  return c.call(s.owner, cmd);
}

void closed_last_here(USocket& s) {
  int kernel_half;
  bool listener;
  {
    std::lock_guard<std::mutex> lock(s.mu);
    kernel_half = std::exchange(s.kernel_half, -1);
    listener = s.mode == USocket::Mode::kUtcp && s.listening;
  }
  if (kernel_half >= 0) real().close(kernel_half);
  if (listener) {
    if (Client* c = Client::current()) (void)c->sync_releases();
  }
}

void raise_sigpipe() { ::raise(SIGPIPE); }

}  // namespace utcp::preload
