// poll(2), or select(2) under a low RLIMIT_NOFILE (read sandbox_poll.h first).
#include "preload/sandbox_poll.h"

#include <sys/select.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <vector>

#include "preload/real.h"

namespace utcp::preload {
namespace {

// fd_set as a bit array of any size: glibc's fd_set stops at FD_SETSIZE (1024), the
// kernel's select at the fd table's size.
using Word = unsigned long;
constexpr int kBits = sizeof(Word) * CHAR_BIT;

struct Bits {
  std::vector<Word> words;
  explicit Bits(int nfds) : words(static_cast<std::size_t>(nfds + kBits - 1) / kBits) {}
  void set(int fd) { words[fd / kBits] |= Word{1} << (fd % kBits); }
  bool has(int fd) const { return (words[fd / kBits] >> (fd % kBits)) & 1; }
  fd_set* raw() { return reinterpret_cast<fd_set*>(words.data()); }
};

int select_fds(pollfd* fds, nfds_t n, int timeout_ms) {
  int top = -1;
  for (nfds_t i = 0; i < n; ++i) top = std::max(top, fds[i].fd);
  Bits rd(top + 1), wr(top + 1), ex(top + 1);
  for (nfds_t i = 0; i < n; ++i) {
    fds[i].revents = 0;
    if (fds[i].fd < 0) continue;
    // POLLHUP and POLLERR show as readable (and writable) in select, as poll reports
    // them unasked.
    if (fds[i].events & (POLLIN | POLLRDNORM | POLLRDHUP)) rd.set(fds[i].fd);
    if (fds[i].events & (POLLOUT | POLLWRNORM)) wr.set(fds[i].fd);
    if (fds[i].events & POLLPRI) ex.set(fds[i].fd);
    if ((fds[i].events & (POLLIN | POLLRDNORM | POLLRDHUP | POLLOUT | POLLWRNORM)) == 0) {
      rd.set(fds[i].fd);  // asked for nothing: still told about a hang-up, as poll does
    }
  }
  timeval tv{timeout_ms / 1000, (timeout_ms % 1000) * 1000};
  const int rc = ::select(top + 1, rd.raw(), wr.raw(), ex.raw(), timeout_ms < 0 ? nullptr : &tv);
  if (rc <= 0) return rc;
  int ready = 0;
  for (nfds_t i = 0; i < n; ++i) {
    const int fd = fds[i].fd;
    if (fd < 0) continue;
    short r = 0;
    // A readable fd is POLLIN even when only POLLOUT was asked: that is a hang-up or an
    // error, which poll would report unasked.
    if (rd.has(fd)) r |= POLLIN;
    if (wr.has(fd)) r |= POLLOUT;
    if (ex.has(fd)) r |= POLLPRI;
    fds[i].revents = r;
    ready += r != 0;
  }
  return ready;
}

}  // namespace

int poll_fds(pollfd* fds, nfds_t n, int timeout_ms) {
  const int rc = real().poll(fds, n, timeout_ms);
  if (rc >= 0 || errno != EINVAL || n <= 1) return rc;
  return select_fds(fds, n, timeout_ms);
}

}  // namespace utcp::preload
