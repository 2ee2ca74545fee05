// SocketTable: socket records in fixed slots, named by SocketId (slot + generation).
// close() retires the id at once (EBADF afterwards) while the connection runs on to
// CLOSED in the same slot. Invariants: slots never move (TimerNodes are linked by
// address); generation 0 is never valid, so SocketId{} names nothing.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <vector>

#include "stack/base/timer_wheel.h"
#include "stack/engine/listener.h"
#include "stack/engine/port_table.h"
#include "stack/tcp/connection.h"
#include "stack/wire/addresses.h"

namespace utcp::stack::engine {

struct SocketId {
  std::uint32_t index = 0;
  std::uint32_t generation = 0;

  // One integer for the shared-memory channel.
  std::uint64_t raw() const { return (std::uint64_t{generation} << 32) | index; }
  static SocketId from_raw(std::uint64_t v) {
    return {static_cast<std::uint32_t>(v), static_cast<std::uint32_t>(v >> 32)};
  }
  friend constexpr bool operator==(const SocketId&, const SocketId&) = default;
};

// What setsockopt can change: TCP's own options plus those the engine acts on.
struct SocketOptions {
  tcp::SocketOptions tcp;
  bool reuse_addr = false;  // SO_REUSEADDR: bind next to connections (TIME-WAIT)
  bool reuse_port = false;  // SO_REUSEPORT: share the port, listeners as one group
  // The owner's uid (Linux's sk_uid): a SO_REUSEPORT port is shared only among sockets
  // of one uid. Set by the daemon from the kernel's word, never by the app.
  std::uint32_t uid = 0;
};

enum class SocketKind : std::uint8_t {
  kFree,        // slot unused
  kFresh,       // socket(), maybe bound, neither listening nor connected
  kListener,
  kConnection,  // owns a tcp::Connection
};

struct Socket {
  SocketKind kind = SocketKind::kFree;
  bool app_owned = false;        // the application holds this socket's id
  bool connect_reported = false; // connect() already returned 0 once (then EISCONN)
  bool in_flow_table = false;
  bool in_accept_queue = false;
  bool dirty = false;            // listed in the engine's changed-sockets list
  tcp::State gauge_state = tcp::State::kClosed;  // the state the gauges count it in
  PortRef port_ref = PortRef::kNone;  // the reference `local.port` holds
  std::uint32_t events = 0;      // readiness bits not drained yet
  std::uint32_t parent = kNoIndex;  // the listener of a child not accepted yet
  int error = 0;                 // SO_ERROR for a socket without a connection
  SocketOptions options;
  wire::Endpoint local;
  wire::Endpoint remote;
  tcp::ConnectionPtr conn;
  std::unique_ptr<Listener> listener;
  TimerNode timer;               // the connection's timer; user = slot index

  // Back to a free slot's values (the timer is cancelled, the generation kept).
  void reset();
};

class SocketTable {
 public:
  explicit SocketTable(std::size_t capacity);

  // A free slot, now kind kFresh; nullopt when all are in use.
  std::optional<std::uint32_t> allocate();
  // Frees the slot and retires its id.
  void release(std::uint32_t index);
  // From now on the current id of this slot is stale; the slot stays in use.
  void retire_id(std::uint32_t index) { bump_generation(index); }

  // The socket the id names, or nullptr for a stale or unknown id.
  Socket* find(SocketId id);
  Socket& at(std::uint32_t index) { return slots_[index]; }
  const Socket& at(std::uint32_t index) const { return slots_[index]; }
  SocketId id_of(std::uint32_t index) const { return {index, generations_[index]}; }

  std::size_t in_use() const { return in_use_; }
  std::size_t capacity() const { return capacity_; }

 private:
  void bump_generation(std::uint32_t index);

  std::size_t capacity_;
  std::unique_ptr<Socket[]> slots_;
  std::vector<std::uint32_t> generations_;
  std::vector<std::uint32_t> free_;  // a stack of free slot indices
  std::size_t in_use_ = 0;
};

}  // namespace utcp::stack::engine
