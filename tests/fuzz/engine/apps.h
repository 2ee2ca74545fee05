// Apps: the application side of fuzz_engine. Up to kSlots sockets per engine, the
// socket calls of stack/engine/engine.h with the checks only an application can make
// (errno of stale ids, readiness against what recv/send then do, the bytes received),
// and the streams: each direction of a connection carries a byte pattern keyed by its
// stream, so a receiver checks every byte it reads, and at the peer's FIN that nothing
// is missing. A stream some crafted segment may have written into is "tainted" and
// only its lengths are checked.
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <utility>

#include "stack/engine/engine.h"
#include "tests/fuzz/engine/world.h"

namespace utcp::fuzz {

struct Stream {
  std::uint64_t id = 0;       // seeds the pattern
  std::uint64_t sent = 0;     // bytes the sender's send() accepted
  std::uint64_t read = 0;     // bytes the receiver consumed
  bool tainted = false;       // crafted bytes may have been accepted into it
  bool accepted = false;      // the passive side took it (a second taker is not ours)
  static std::uint8_t byte(std::uint64_t id, std::uint64_t offset);
};

struct AppSocket {
  se::SocketId id;
  bool connected = false;     // connect() started or accept() returned it: tuple known
  wire::Endpoint local, remote;
  std::shared_ptr<Stream> out, in;
  std::uint64_t sent = 0;     // through this socket
  std::uint64_t read = 0;
};

// What no connection may exceed: the largest buffer any socket can have had.
struct Bounds {
  std::uint32_t sndbuf = 0;
  std::uint32_t rcvbuf = 0;
  std::uint32_t mss_max = 0;  // max(MTU - 40, 88): no MSS may exceed it
};

class Apps {
 public:
  static constexpr int kSlots = 8;

  explicit Apps(World& world);

  // The socket calls; `slot` names an application socket (an empty slot uses the id it
  // held last, which must be EBADF everywhere).
  void socket(int e, int slot);
  void bind(int e, int slot, std::uint16_t port, std::uint8_t flags);
  void listen(int e, int slot, int backlog);
  void connect(int e, int slot, wire::Endpoint remote);
  void accept(int e, int slot);
  void send(int e, int slot, std::size_t len, bool more);
  void recv(int e, int slot, std::size_t len, bool peek);
  void shutdown(int e, int slot, se::ShutdownHow how);
  void close(int e, int slot, bool abort);
  void set_option(int e, int slot, std::uint8_t which, std::uint8_t value);
  void query(int e, int slot);
  void drain_events(int e);
  void close_all();

  // A crafted frame from src to dst reached (or may reach) an engine.
  void taint(wire::Endpoint src, wire::Endpoint dst);

  const Bounds& bounds() const { return bounds_; }
  // The application holds this id (it must be live, and not an orphan).
  bool holds(int e, se::SocketId id) const;
  std::size_t held(int e) const;
  template <class Fn>
  void for_each(int e, Fn&& fn) const {
    for (const auto& s : slots_[e]) {
      if (s) fn(*s);
    }
  }

 private:
  se::Engine& engine(int e) { return world_.engine(e); }
  std::optional<se::SocketId> live_or_stale(int e, int slot, bool* live);
  std::shared_ptr<Stream> stream(wire::Endpoint src, wire::Endpoint dst, bool active);
  void check_readable(int e, AppSocket& s, std::uint32_t ready, const stack::Result<std::size_t>& r,
                      std::span<const std::uint8_t> got, std::size_t asked, bool peek);

  World& world_;
  Bounds bounds_;
  std::array<std::array<std::optional<AppSocket>, kSlots>, 2> slots_;
  std::array<std::array<se::SocketId, kSlots>, 2> stale_{};
  // Current stream of each direction (src, dst), for the passive side to find.
  std::map<std::pair<std::uint64_t, std::uint64_t>, std::shared_ptr<Stream>> streams_;
  std::set<std::pair<std::uint64_t, std::uint64_t>> tainted_;
  std::uint64_t next_stream_ = 1;
};

}  // namespace utcp::fuzz
