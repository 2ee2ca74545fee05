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

  // Threads of this process: `mu` serialises the control calls (bind, connect,
  // setsockopt...), `rx_mu` the readers and `tx_mu` the writers, so a thread blocked
  // in read() never holds up another thread's write() on the same socket.
  std::mutex mu;
  std::mutex rx_mu;
  std::mutex tx_mu;
  Mode mode = Mode::kUndecided;
  bool nonblocking = false;
  bool listening = false;
  bool bound = false;
  bool connect_started = false;
  bool connect_reported = false;   // connect() returned 0 once (then EISCONN)
  std::atomic<bool> error_reported{false};  // the connection's error was returned once
  bool reuse_port = false;
  // Options the library itself answers or acts on (option_calls.cc), kept in every
  // mode so they survive the switch to utcp.
  int defer_accept = 0;            // TCP_DEFER_ACCEPT as Linux reports it (seconds)
  int rcvlowat = 1;                // SO_RCVLOWAT: readable at this many bytes
  int notsent_lowat = 0;           // TCP_NOTSENT_LOWAT; 0: none (Linux's sysctl default)
  bool bind_no_port = false;       // IP_BIND_ADDRESS_NO_PORT
  bool port_deferred = false;      // bound with port 0 under it: connect/listen pick the port
  bool tx_more = false;            // the last send had MSG_MORE: utcpd holds the data back
  int kernel_half = -1;            // 0.0.0.0 listener: the kernel socket, accepting too
  std::uint32_t slot = 0;
  std::uint32_t generation = 0;
  std::uint32_t owner = 0;         // the engine that handed out the slot
  sockaddr_in local{};             // bound address (network order)
  sockaddr_in peer{};
  long rcvtimeo_ms = -1;           // SO_RCVTIMEO / SO_SNDTIMEO; -1: none
  long sndtimeo_ms = -1;
  std::vector<RecordedOption> options;
  std::atomic<pid_t> watch_pid{0};  // the process that asked for this slot's events

  shim::SocketBlock& block(const Client& c) const;
  // Fresh views of the slot's streams (tx: we write, rx: we read). Each call takes both
  // indices from shared memory anew: another process of the family (a forked or exec'd
  // child) may have moved them, and the app side trusts its own region.
  shim::ByteStream tx_view(const Client& c) const;
  shim::ByteStream rx_view(const Client& c) const;
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
