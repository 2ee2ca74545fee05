// The registry of the library's own fds (read private_fds.h first).
#include "preload/private_fds.h"

#include <fcntl.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cerrno>

#include "preload/real.h"
#include "preload/usocket.h"

namespace utcp::preload::private_fds {
namespace {

// Where a moved fd goes: above the small numbers programs dup2 onto by hand.
constexpr int kMoveFloor = 64;
constexpr int kFlatFds = 1 << 20;

struct Cell {
  int* cell;
  int marked;  // the number marked for it (the cell's value when last seen)
};

// Never destroyed: a thread's exit (own eventfd) may come after static destructors.
struct Registry {
  std::mutex mu;
  std::vector<Cell> cells;
};
Registry& registry() {
  static auto* r = new Registry;
  return *r;
}
// How many cells hold each number: close() asks for every fd, so the answer must not
// take a lock.
std::array<std::atomic<std::uint8_t>, kFlatFds> g_marks{};

void mark(int fd, int delta) {
  if (fd >= 0 && fd < kFlatFds) g_marks[fd].fetch_add(static_cast<std::uint8_t>(delta));
}

// Another number for fd, close-on-exec like all of ours. Returns -1 (errno) on failure.
int moved(int fd) {
  int nfd = real().fcntl(fd, F_DUPFD_CLOEXEC, kMoveFloor);
  if (nfd < 0 && errno == EINVAL) nfd = real().fcntl(fd, F_DUPFD_CLOEXEC, 0);  // a low RLIMIT_NOFILE
  return nfd;
}

}  // namespace

std::mutex& lock() { return registry().mu; }

namespace detail {
void add_locked(int* cell) {
  auto& cells = registry().cells;
  const auto it = std::find_if(cells.begin(), cells.end(), [&](const Cell& c) { return c.cell == cell; });
  if (it != cells.end()) {  // re-registered with a new fd (a forked child's own eventfd)
    mark(it->marked, -1);
    it->marked = *cell;
  } else {
    cells.push_back({cell, *cell});
  }
  mark(*cell, 1);
}
}  // namespace detail

void add(int* cell) {
  std::lock_guard<std::mutex> guard(lock());
  if (*cell >= 0) detail::add_locked(cell);
}

void remove(int* cell) {
  std::lock_guard<std::mutex> guard(lock());
  auto& cells = registry().cells;
  const auto it = std::find_if(cells.begin(), cells.end(), [&](const Cell& c) { return c.cell == cell; });
  if (it == cells.end()) return;
  mark(it->marked, -1);
  cells.erase(it);
}

bool contains(int fd) {
  if (fd < 0) return false;
  if (fd < kFlatFds) return g_marks[fd].load(std::memory_order_relaxed) != 0;
  std::lock_guard<std::mutex> guard(lock());
  const auto& cells = registry().cells;
  return std::any_of(cells.begin(), cells.end(), [&](const Cell& c) { return c.marked == fd; });
}

std::vector<int> sorted_locked() {
  std::vector<int> out;
  for (const Cell& c : registry().cells) {
    if (c.marked >= 0) out.push_back(c.marked);
  }
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

bool make_room(int fd) {
  if (fd < 0) return true;
  if (contains(fd)) {
    std::lock_guard<std::mutex> guard(lock());
    int nfd = -1;
    for (Cell& c : registry().cells) {
      if (c.marked != fd) continue;
      if (nfd < 0 && (nfd = moved(fd)) < 0) return false;
      // Every cell naming it (a forked child's Client and its parent's share the
      // memfd's number) follows; the old number is the program's from now on.
      *c.cell = nfd;
      mark(fd, -1);
      mark(nfd, 1);
      c.marked = nfd;
    }
  }
  // A 0.0.0.0 listener's kernel half is ours too, found through the fd table (its
  // number lives and dies with the listener, not in this registry).
  for (auto& [sfd, s] : fd_table::all()) {
    std::lock_guard<std::mutex> guard(s->mu);
    if (s->kernel_half != fd) continue;
    const int nfd = moved(fd);
    if (nfd < 0) return false;
    s->kernel_half = nfd;
  }
  return true;
}

}  // namespace utcp::preload::private_fds
