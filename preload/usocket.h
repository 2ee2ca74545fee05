// USocket: the app side of one TCP socket, and the table from fd numbers to them.
//
// The fd number (DESIGN.md §3 "fd numbers"): socket() makes a real kernel TCP socket.
// It stays the socket until bind/connect/listen decide where the traffic goes. For
// utcp, a unix socketpair end (the placeholder, shim/control.h) replaces it at the same
// number (dup3), so the number was a kernel fd all along and dup, fork, exec and
// close-on-exec work through the kernel. For the kernel, nothing happens: the program
// keeps using the kernel socket, and this table forgets the fd.
//
// A listener on 0.0.0.0 keeps the kernel socket as its "kernel half" (a hidden fd):
// connections to kernel addresses (127.0.0.1 health checks) are accepted there.
#pragma once

#include <netinet/in.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <vector>

#include "shim/byte_stream.h"
#include "shim/protocol.h"

namespace utcp::preload {

class Client;

struct RecordedOption {  // replayed on the kernel socket or on a listener's engine shares
  int level = 0;
  int name = 0;
  std::int64_t value = 0;
  std::int64_t value2 = 0;
};

struct USocket {
  enum class Mode : std::uint8_t { kUndecided, kUtcp };

  std::mutex mu;  // one call at a time on this socket (threads of this process)
  Mode mode = Mode::kUndecided;
  bool nonblocking = false;
  bool listening = false;
  bool bound = false;
  bool connect_started = false;
  bool connect_reported = false;   // connect() returned 0 once (then EISCONN)
  bool error_reported = false;     // the connection's error was returned once
  bool reuse_port = false;
  int defer_accept = 0;
  int kernel_half = -1;            // 0.0.0.0 listener: the kernel socket, accepting too
  std::uint32_t slot = 0;
  std::uint32_t generation = 0;
  std::uint32_t owner = 0;         // the engine that handed out the slot
  sockaddr_in local{};             // bound address (network order)
  sockaddr_in peer{};
  long rcvtimeo_ms = -1;           // SO_RCVTIMEO / SO_SNDTIMEO; -1: none
  long sndtimeo_ms = -1;
  std::vector<RecordedOption> options;
  pid_t views_pid = 0;             // the process that last asked for this slot's events
  // Views of the slot's streams. The app side re-reads both indices from shared memory
  // before each call (sync_views): another process of the family (a forked or exec'd
  // child) may have moved them since, and the app trusts its own region.
  std::optional<shim::ByteStream> tx;  // we write
  std::optional<shim::ByteStream> rx;  // we read

  shim::SocketBlock& block(const Client& c) const;
  void sync_views(const Client& c);
};

using USocketPtr = std::shared_ptr<USocket>;

// fd -> USocket. Lookups of fds that are not ours cost one relaxed load.
namespace fd_table {
USocketPtr get(int fd);
void set(int fd, USocketPtr s);
void clear(int fd);
// Every (fd, socket) of the table, e.g. for exec.
std::vector<std::pair<int, USocketPtr>> all();
}  // namespace fd_table

}  // namespace utcp::preload
