// close, dup, dup2, dup3, fcntl, ioctl. The fd numbers are real kernel fds (the
// placeholders), so these mostly run on the kernel and only keep the fd table (and the
// epoll interest lists) in step: a dup names the same USocket, as it names the same
// open file description on the kernel.
#include <fcntl.h>
#include <linux/sockios.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <cstdarg>

#include "preload/epoll_set.h"
#include "preload/ops.h"
#include "preload/private_fds.h"
#include "preload/real.h"

using namespace utcp::preload;

namespace {

namespace st = utcp::shim::state;

// Before fd is closed or replaced by dup2/dup3: it stops being ours. Returns the socket
// it named, if any, for closed_last_here once the kernel has closed it.
USocketPtr forget_fd(int fd) {
  USocketPtr s = fd_table::get(fd);
  if (s) fd_table::clear(fd);
  epoll_forget_fd(fd);
  return s;
}

// After the kernel closed fd (rc: its answer): the socket's last fd here goes with it.
int settle_closed(int rc, const USocketPtr& s) {
  if (rc >= 0 && s && s.use_count() == 1) closed_last_here(*s);
  return rc;
}

int after_dup(int oldfd, int newfd) {
  if (newfd >= 0) {
    if (USocketPtr s = fd_table::get(oldfd)) fd_table::set(newfd, std::move(s));
  }
  return newfd;
}

int do_fcntl(int fd, int cmd, long arg) {
  const Real& r = real();
  const int rc = r.fcntl(fd, cmd, arg);
  if (rc < 0) return rc;
  switch (cmd) {
    case F_DUPFD:
    case F_DUPFD_CLOEXEC:
      return after_dup(fd, rc);
    case F_SETFL:
      if (USocketPtr s = fd_table::get(fd)) {
        std::lock_guard<std::mutex> lock(s->mu);
        s->nonblocking = (arg & O_NONBLOCK) != 0;
      }
      return rc;
    default:
      return rc;
  }
}

}  // namespace

extern "C" {

int close(int fd) {
  // One of the library's own fds: not open as far as the program knows (a program that
  // closes "every fd" in a loop must not cut the library off).
  if (private_fds::contains(fd)) return fail(EBADF);
  USocketPtr s = forget_fd(fd);
  epoll_close_instance(fd);
  return settle_closed(real().close(fd), s);
}

int dup(int fd) { return after_dup(fd, real().dup(fd)); }

int dup2(int oldfd, int newfd) {
  if (oldfd == newfd) return real().dup2(oldfd, newfd);
  if (fcntl(oldfd, F_GETFD) < 0) return -1;  // EBADF before newfd is touched
  if (!private_fds::make_room(newfd)) return -1;
  USocketPtr replaced = forget_fd(newfd);
  return settle_closed(after_dup(oldfd, real().dup2(oldfd, newfd)), replaced);
}

int dup3(int oldfd, int newfd, int flags) {
  if (oldfd == newfd) return real().dup3(oldfd, newfd, flags);
  if ((flags & ~O_CLOEXEC) != 0) return fail(EINVAL);
  if (real().fcntl(oldfd, F_GETFD) < 0) return -1;
  if (!private_fds::make_room(newfd)) return -1;
  USocketPtr replaced = forget_fd(newfd);
  return settle_closed(after_dup(oldfd, real().dup3(oldfd, newfd, flags)), replaced);
}

int fcntl(int fd, int cmd, ...) {
  va_list ap;
  va_start(ap, cmd);
  const long arg = va_arg(ap, long);
  va_end(ap);
  return do_fcntl(fd, cmd, arg);
}

// glibc >= 2.28 sends programs built with _FILE_OFFSET_BITS=64 (nginx, lighttpd) here.
int fcntl64(int fd, int cmd, ...) {
  va_list ap;
  va_start(ap, cmd);
  const long arg = va_arg(ap, long);
  va_end(ap);
  return do_fcntl(fd, cmd, arg);
}

// glibc declares ioctl(int, unsigned long, ...).
int ioctl(int fd, unsigned long request, ...) {
  va_list ap;
  va_start(ap, request);
  void* arg = va_arg(ap, void*);
  va_end(ap);
  USocketPtr s = fd_table::get(fd);
  if (!s || (s->mode != USocket::Mode::kUtcp && request != FIONBIO)) {
    return real().ioctl(fd, request, arg);
  }
  switch (request) {
    case FIONBIO: {
      if (arg == nullptr) return fail(EFAULT);
      const int rc = real().ioctl(fd, request, arg);
      if (rc == 0) {
        std::lock_guard<std::mutex> lock(s->mu);
        s->nonblocking = *static_cast<int*>(arg) != 0;
      }
      return rc;
    }
    case FIONREAD:  // = SIOCINQ
    case SIOCOUTQ:
    case SIOCOUTQNSD: {
      if (arg == nullptr) return fail(EFAULT);
      Client* c = Client::get();
      if (c == nullptr) return fail(ENETDOWN);
      if (s->listening) return fail(EINVAL);
      watch_if_inherited(*s, *c);
      if (request == FIONREAD) {
        *static_cast<int*>(arg) = static_cast<int>(s->rx_view(*c).readable());
        return 0;
      }
      // SIOCOUTQ: what the engine has not taken from the stream yet, plus what it holds
      // unsent (SIOCOUTQNSD stops here) or sent without an ACK. Rare: one round trip.
      const std::uint32_t queued = c->geometry().stream_capacity - s->tx_view(*c).writable();
      utcp::shim::Command cmd;
      cmd.op = utcp::shim::Op::kTcpInfo;
      const utcp::shim::Reply rep = call_owner(*c, *s, cmd);
      if (rep.result < 0) return fail(-rep.result);
      std::uint32_t n = queued + rep.info.notsent_bytes;
      if (request == SIOCOUTQ) n += rep.info.unacked_bytes;
      *static_cast<int*>(arg) = static_cast<int>(n);
      return 0;
    }
    default:
      return real().ioctl(fd, request, arg);
  }
}

}  // extern "C"
