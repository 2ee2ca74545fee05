// PortTable: who uses each local TCP port, for bind() (EADDRINUSE), ephemeral ports
// (RFC 6056) and listener lookup. Linux's inet_csk_bind_conflict on one address: a
// listener or an exclusive bind excludes all; SO_REUSEADDR binds share with each other
// and with connections. Invariant: counts equal the references live sockets hold.
#pragma once

#include <cstdint>
#include <vector>

namespace utcp::stack::engine {

enum class PortRef : std::uint8_t { kNone, kBindExclusive, kBindReuse, kConnection };

class PortTable {
 public:
  PortTable();

  // bind() to a port: may a socket with this SO_REUSEADDR setting take it?
  bool can_bind(std::uint16_t port, bool reuse_addr) const;
  // bind() to port 0 / listen() without bind: a port nobody uses at all.
  bool unused(std::uint16_t port) const;
  // connect() without bind: a port no bound socket or listener holds (connections
  // may share it as long as their four-tuples differ; the caller checks that).
  bool connectable(std::uint16_t port) const;

  void add(std::uint16_t port, PortRef ref);
  void remove(std::uint16_t port, PortRef ref);

  // The listening socket's slot index on this port, kNoIndex (0xffffffff) if none.
  std::uint32_t listener(std::uint16_t port) const { return ports_[port].listener; }
  void set_listener(std::uint16_t port, std::uint32_t index) { ports_[port].listener = index; }

 private:
  struct Use {
    std::uint32_t connections = 0;
    std::uint32_t listener = 0xffffffffu;
    std::uint16_t exclusive = 0;  // bound without SO_REUSEADDR
    std::uint16_t reuse = 0;      // bound with SO_REUSEADDR
  };

  std::vector<Use> ports_;  // 65536 entries: one per port
};

}  // namespace utcp::stack::engine
