// close_range and closefrom. OpenSSH's sshd re-executes itself per connection and the
// new image's first act is closefrom(), which glibc implements with the close_range
// syscall (never through close()), so both are interposed. What they close must not
// include the library's own fds (private_fds.h: the control socket, eventfds, the
// family's memfd that an exec'd image needs to join, doorbells) nor the hidden kernel
// half of a 0.0.0.0 listener that stays open; the range is closed around them. The
// utcp sockets that close are dropped from the fd table and the epoll interest lists,
// as close() drops them. Errors are the kernel's: EINVAL for unknown flags or
// first > last, checked before anything is closed.
#include <dirent.h>
#include <linux/close_range.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <climits>
#include <cstdlib>
#include <set>
#include <vector>

#include "preload/epoll_set.h"
#include "preload/ops.h"
#include "preload/private_fds.h"
#include "preload/real.h"

using namespace utcp::preload;

namespace {

int sys_close_range(unsigned first, unsigned last, unsigned flags) {
  return static_cast<int>(::syscall(SYS_close_range, first, last, flags));
}

// The fds in [first, last] that must stay: ours, and the kernel halves of listeners
// that keep an fd outside the range. `dying` gets the sockets all of whose fds are in
// the range (their kernel halves close with them). `table` is fd_table::all(), taken
// before private_fds::lock() (held here): fork's handlers take the two locks in an
// order of their own, so this thread never holds one while waiting for the other.
std::vector<int> keep_list(unsigned first, unsigned last,
                           const std::vector<std::pair<int, USocketPtr>>& table,
                           std::vector<USocketPtr>* dying) {
  std::vector<int> keep = private_fds::sorted_locked();
  const auto inside = [&](int fd) {
    return fd >= 0 && static_cast<unsigned>(fd) >= first && static_cast<unsigned>(fd) <= last;
  };
  std::set<USocket*> survivors;
  for (const auto& [fd, s] : table) {
    if (!inside(fd)) survivors.insert(s.get());
  }
  for (const auto& [fd, s] : table) {
    // A kernel half stays out of the gaps: a surviving socket keeps it, a dying one
    // closes it with the socket (closed_last_here).
    if (s->kernel_half >= 0) keep.push_back(s->kernel_half);
    if (survivors.count(s.get()) == 0 && std::find(dying->begin(), dying->end(), s) == dying->end()) {
      dying->push_back(s);
    }
  }
  std::sort(keep.begin(), keep.end());
  keep.erase(std::unique(keep.begin(), keep.end()), keep.end());
  std::erase_if(keep, [&](int fd) { return !inside(fd); });
  return keep;
}

// The range minus `keep` (sorted, inside the range), one syscall per gap.
int close_gaps(unsigned first, unsigned last, unsigned flags, const std::vector<int>& keep) {
  unsigned from = first;
  for (int k : keep) {
    const auto fd = static_cast<unsigned>(k);
    if (fd > from && sys_close_range(from, fd - 1, flags) != 0) return -1;
    from = fd + 1;  // an int: never wraps
  }
  return from <= last ? sys_close_range(from, last, flags) : 0;
}

// After the kernel closed [first, last]: the utcp sockets there are gone, as after
// close() of each.
void forget_range(unsigned first, unsigned last, const std::vector<USocketPtr>& dying) {
  for (auto& [fd, s] : fd_table::all()) {
    if (static_cast<unsigned>(fd) < first || static_cast<unsigned>(fd) > last) continue;
    fd_table::clear(fd);
    epoll_forget_fd(fd);
  }
  for (int fd : epoll_instance_fds()) {
    if (static_cast<unsigned>(fd) >= first && static_cast<unsigned>(fd) <= last) {
      epoll_close_instance(fd);
    }
  }
  for (const USocketPtr& s : dying) closed_last_here(*s);
}

int do_close_range(unsigned first, unsigned last, int flags) {
  const auto uflags = static_cast<unsigned>(flags);
  if ((uflags & ~(CLOSE_RANGE_UNSHARE | CLOSE_RANGE_CLOEXEC)) != 0 || first > last) {
    return fail(EINVAL);
  }
  std::vector<USocketPtr> dying;
  const auto table = fd_table::all();
  {
    std::lock_guard<std::mutex> guard(private_fds::lock());
    // CLOSE_RANGE_UNSHARE: the fd table is copied first (a no-op range does it), so the
    // gaps close in the copy, as one call would have.
    if ((uflags & CLOSE_RANGE_UNSHARE) != 0 &&
        sys_close_range(UINT_MAX, UINT_MAX, CLOSE_RANGE_UNSHARE) != 0) {
      return -1;
    }
    // With CLOSE_RANGE_CLOEXEC nothing closes now: an exec later closes what it marked,
    // and exec_calls.cc passes on only the sockets without close-on-exec.
    const std::vector<int> keep = keep_list(first, last, table, &dying);
    if (close_gaps(first, last, uflags & CLOSE_RANGE_CLOEXEC, keep) != 0) return -1;
  }
  if ((uflags & CLOSE_RANGE_CLOEXEC) == 0) forget_range(first, last, dying);
  return 0;
}

// Without the close_range syscall (Linux < 5.9): close() each fd /proc lists, which
// steps around ours as close() does.
bool close_listed(int lowfd) {
  DIR* d = ::opendir("/proc/self/fd");
  if (d == nullptr) return false;
  std::vector<int> fds;
  const int own = ::dirfd(d);
  while (const dirent* e = ::readdir(d)) {
    const int fd = std::atoi(e->d_name);
    if (e->d_name[0] != '.' && fd >= lowfd && fd != own) fds.push_back(fd);
  }
  ::closedir(d);
  for (int fd : fds) ::close(fd);
  return true;
}

}  // namespace

extern "C" {

int close_range(unsigned int first, unsigned int last, int flags) {
  return do_close_range(first, last, flags);
}

// glibc's closefrom never fails: it aborts when it cannot close. Same here.
void closefrom(int lowfd) {
  const int from = std::max(lowfd, 0);
  if (do_close_range(static_cast<unsigned>(from), UINT_MAX, 0) == 0) return;
  if (errno == ENOSYS && close_listed(from)) return;
  std::abort();
}

}  // extern "C"
