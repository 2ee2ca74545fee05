// poll, ppoll, select, pselect. A set with no utcp socket goes straight to the
// kernel. Otherwise utcp sockets are answered from shared memory, kernel fds by a
// non-blocking kernel poll, and the wait is Client::wait on the kernel fds plus the
// channel's wake-up (no spinning, no periodic polling).
#include <poll.h>
#include <signal.h>
#include <sys/select.h>

#include <vector>

#include "preload/epoll_set.h"
#include "preload/ops.h"
#include "preload/real.h"

using namespace utcp::preload;

namespace {

struct Entry {
  std::size_t index;  // in the caller's array
  USocketPtr s;       // null: a kernel fd
  int kernel_fd;      // the fd the kernel polls for it (-1: none)
};

// utcp readiness for the utcp entries; returns how many fds have revents.
int scan(pollfd* fds, const std::vector<Entry>& entries, std::vector<pollfd>& kernel, Client& c) {
  int ready = 0;
  for (std::size_t k = 0; k < entries.size(); ++k) {
    const Entry& e = entries[k];
    pollfd& p = fds[e.index];
    short rev = 0;
    if (e.s) rev = static_cast<short>(readiness(*e.s, c) & (p.events | POLLERR | POLLHUP));
    if (e.kernel_fd >= 0) rev |= static_cast<short>(kernel[k].revents & (p.events | POLLERR | POLLHUP | POLLNVAL));
    p.revents = rev;
    if (rev != 0) ++ready;
  }
  return ready;
}

int poll_common(pollfd* fds, nfds_t n, int timeout) {
  const Real& r = real();
  if (fds == nullptr && n > 0) return fail(EFAULT);
  std::vector<Entry> entries;
  bool any_utcp = false;
  for (nfds_t i = 0; i < n; ++i) {
    USocketPtr s = fds[i].fd >= 0 ? fd_table::get(fds[i].fd) : nullptr;
    if (s && s->mode == USocket::Mode::kUtcp) {
      any_utcp = true;
      entries.push_back({i, s, s->kernel_half});
    } else {
      entries.push_back({i, nullptr, fds[i].fd});
    }
  }
  Client* c = any_utcp ? Client::get() : nullptr;
  if (c == nullptr) return r.poll(fds, n, timeout);
  std::vector<pollfd> kernel(entries.size());
  for (std::size_t k = 0; k < entries.size(); ++k) {
    kernel[k] = {entries[k].kernel_fd, fds[entries[k].index].events, 0};
    if (entries[k].s) kernel[k].events = POLLIN;  // a kernel half only accepts
  }
  for (auto& e : entries) {
    if (e.s) {
      std::lock_guard<std::mutex> lock(e.s->mu);
      watch_if_inherited(*e.s, *c);
    }
  }
  const Deadline deadline = Deadline::after_ms(timeout);
  for (;;) {
    epoll_pump_events();
    if (r.poll(kernel.data(), kernel.size(), 0) < 0) return -1;
    const int ready = scan(fds, entries, kernel, *c);
    if (ready > 0 || deadline.passed()) return ready;
    const int w = c->wait(
        [&] {
          for (const Entry& e : entries) {
            if (e.s && (readiness(*e.s, *c) & (fds[e.index].events | POLLERR | POLLHUP))) return true;
          }
          return c->daemon_gone();
        },
        kernel, deadline);
    if (w < 0) return -1;
  }
}

int select_common(int nfds, fd_set* rd, fd_set* wr, fd_set* ex, int timeout_ms) {
  if (nfds < 0) return fail(EINVAL);
  std::vector<pollfd> fds;
  for (int fd = 0; fd < nfds && fd < FD_SETSIZE; ++fd) {
    short ev = 0;
    if (rd && FD_ISSET(fd, rd)) ev |= POLLIN;
    if (wr && FD_ISSET(fd, wr)) ev |= POLLOUT;
    if (ex && FD_ISSET(fd, ex)) ev |= POLLPRI;
    if (ev != 0) fds.push_back({fd, ev, 0});
  }
  const int n = poll_common(fds.data(), fds.size(), timeout_ms);
  if (n < 0) return n;
  for (const pollfd& p : fds) {
    if (p.revents & POLLNVAL) return fail(EBADF);
  }
  if (rd) FD_ZERO(rd);
  if (wr) FD_ZERO(wr);
  if (ex) FD_ZERO(ex);
  int count = 0;
  for (const pollfd& p : fds) {
    // select's "readable" includes errors and hang-ups (Linux's POLLIN_SET/POLLOUT_SET).
    if (rd && (p.events & POLLIN) && (p.revents & (POLLIN | POLLHUP | POLLERR))) {
      FD_SET(p.fd, rd);
      ++count;
    }
    if (wr && (p.events & POLLOUT) && (p.revents & (POLLOUT | POLLERR))) {
      FD_SET(p.fd, wr);
      ++count;
    }
    if (ex && (p.events & POLLPRI) && (p.revents & POLLPRI)) {
      FD_SET(p.fd, ex);
      ++count;
    }
  }
  return count;
}

bool has_utcp(int nfds, fd_set* rd, fd_set* wr, fd_set* ex) {
  for (int fd = 0; fd < nfds && fd < FD_SETSIZE; ++fd) {
    const bool asked = (rd && FD_ISSET(fd, rd)) || (wr && FD_ISSET(fd, wr)) || (ex && FD_ISSET(fd, ex));
    if (!asked) continue;
    USocketPtr s = fd_table::get(fd);
    if (s && s->mode == USocket::Mode::kUtcp) return true;
  }
  return false;
}

bool bad_timespec(const timespec* ts) {
  return ts != nullptr && (ts->tv_sec < 0 || ts->tv_nsec < 0 || ts->tv_nsec >= 1000000000L);
}

int ms_of(const timespec* ts) {
  if (ts == nullptr) return -1;
  return static_cast<int>(ts->tv_sec * 1000 + (ts->tv_nsec + 999999) / 1000000);
}

// Masks a signal set around a wait: not atomic like the kernel's (a signal that
// arrives in between is handled before the wait rather than ending it).
class MaskGuard {
 public:
  explicit MaskGuard(const sigset_t* mask) : active_(mask != nullptr) {
    if (active_) pthread_sigmask(SIG_SETMASK, mask, &old_);
  }
  ~MaskGuard() {
    if (active_) {
      const int saved = errno;
      pthread_sigmask(SIG_SETMASK, &old_, nullptr);
      errno = saved;
    }
  }

 private:
  bool active_;
  sigset_t old_{};
};

}  // namespace

extern "C" {

int poll(pollfd* fds, nfds_t n, int timeout) { return poll_common(fds, n, timeout); }

int ppoll(pollfd* fds, nfds_t n, const timespec* ts, const sigset_t* mask) {
  bool any = false;
  for (nfds_t i = 0; i < n && !any; ++i) {
    USocketPtr s = fds[i].fd >= 0 ? fd_table::get(fds[i].fd) : nullptr;
    any = s && s->mode == USocket::Mode::kUtcp;
  }
  if (!any) return real().ppoll(fds, n, ts, mask);
  if (bad_timespec(ts)) return fail(EINVAL);
  MaskGuard guard(mask);
  return poll_common(fds, n, ms_of(ts));
}

int select(int nfds, fd_set* rd, fd_set* wr, fd_set* ex, timeval* tv) {
  if (!has_utcp(nfds, rd, wr, ex)) return real().select(nfds, rd, wr, ex, tv);
  const int ms = tv == nullptr ? -1 : static_cast<int>(tv->tv_sec * 1000 + (tv->tv_usec + 999) / 1000);
  return select_common(nfds, rd, wr, ex, ms);
}

int pselect(int nfds, fd_set* rd, fd_set* wr, fd_set* ex, const timespec* ts, const sigset_t* mask) {
  if (!has_utcp(nfds, rd, wr, ex)) return real().pselect(nfds, rd, wr, ex, ts, mask);
  if (bad_timespec(ts)) return fail(EINVAL);
  MaskGuard guard(mask);
  return select_common(nfds, rd, wr, ex, ms_of(ts));
}

}  // extern "C"
