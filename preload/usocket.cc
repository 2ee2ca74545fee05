// The fd table and the stream views (read usocket.h first).
#include "preload/usocket.h"

#include <pthread.h>
#include <unistd.h>

#include <array>

#include "preload/client.h"

namespace utcp::preload {

shim::SocketBlock& USocket::block(const Client& c) const { return c.view().socket(slot); }

shim::ByteStream USocket::tx_view(const Client& c) const {
  return {c.view().tx_stream(slot), c.geometry().stream_capacity};
}

shim::ByteStream USocket::rx_view(const Client& c) const {
  return {c.view().rx_stream(slot), c.geometry().stream_capacity};
}

namespace fd_table {
namespace {

// fds below this are in a flat array of flags (one relaxed load says "not ours");
// the sockets themselves sit behind a mutex, taken only for fds that are ours.
constexpr int kFlatFds = 1 << 20;
std::array<std::atomic<std::uint8_t>, kFlatFds> g_mark{};
std::mutex g_mu;
std::vector<USocketPtr> g_sockets;

// fork() while another thread holds the table's lock would leave the child's copy
// locked forever.
__attribute__((constructor)) void guard_fork() {
  ::pthread_atfork([] { g_mu.lock(); }, [] { g_mu.unlock(); }, [] { g_mu.unlock(); });
}

}  // namespace

USocketPtr get(int fd) {
  if (fd < 0 || fd >= kFlatFds || g_mark[fd].load(std::memory_order_acquire) == 0) return nullptr;
  std::lock_guard<std::mutex> lock(g_mu);
  return static_cast<std::size_t>(fd) < g_sockets.size() ? g_sockets[fd] : nullptr;
}

void set(int fd, USocketPtr s) {
  if (fd < 0 || fd >= kFlatFds) return;
  std::lock_guard<std::mutex> lock(g_mu);
  if (static_cast<std::size_t>(fd) >= g_sockets.size()) g_sockets.resize(fd + 1);
  g_sockets[fd] = std::move(s);
  g_mark[fd].store(g_sockets[fd] ? 1 : 0, std::memory_order_release);
}

void clear(int fd) { set(fd, nullptr); }

std::vector<std::pair<int, USocketPtr>> all() {
  std::vector<std::pair<int, USocketPtr>> out;
  std::lock_guard<std::mutex> lock(g_mu);
  for (std::size_t fd = 0; fd < g_sockets.size(); ++fd) {
    if (g_sockets[fd]) out.emplace_back(static_cast<int>(fd), g_sockets[fd]);
  }
  return out;
}

}  // namespace fd_table
}  // namespace utcp::preload
