// PortTable: who uses each local TCP port, for bind() (EADDRINUSE), ephemeral ports
// (RFC 6056) and listener lookup. Linux's inet_bind_conflict on one address, per holder:
// no conflict if both set SO_REUSEADDR and the holder is not listening, or if both set
// SO_REUSEPORT and have the same uid (Linux's sk_uid; net/ipv4/inet_connection_sock.c,
// inet_bind_conflict: `uid_eq(sk_uid, sock_i_uid(sk2))`). Listeners on a port are one
// plain listener or one SO_REUSEPORT group, of one uid.
// Invariant: counts equal the references live sockets hold; every SO_REUSEPORT
// reference on a port has the port's reuseport_uid.
#pragma once

#include <cstdint>
#include <unordered_map>
#include <vector>

namespace utcp::stack::engine {

inline constexpr std::uint32_t kNoIndex = 0xffffffffu;

// The reference a socket holds on its local port; the SO_REUSEPORT variants are the
// same kinds taken with SO_REUSEPORT set (latched at bind, so remove() matches add()).
enum class PortRef : std::uint8_t {
  kNone,
  kBindExclusive,        // neither option
  kBindReuse,            // SO_REUSEADDR
  kConnection,
  kBindReusePort,        // SO_REUSEPORT
  kBindReuseAddrPort,    // SO_REUSEADDR and SO_REUSEPORT
  kConnectionReusePort,  // a connection with SO_REUSEPORT (e.g. a group listener's child)
};

PortRef bind_ref(bool reuse_addr, bool reuse_port);
PortRef connection_ref(bool reuse_port);
bool has_reuse_port(PortRef ref);

class PortTable {
 public:
  PortTable();

  // bind() to a port: may a socket with these options (and uid) take it?
  bool can_bind(std::uint16_t port, bool reuse_addr, bool reuse_port = false,
                std::uint32_t uid = 0) const;
  // bind() to port 0 / listen() without bind: a port nobody uses at all.
  bool unused(std::uint16_t port) const;
  // connect() without bind: a port no bound socket or listener holds (connections
  // may share it as long as their four-tuples differ; the caller checks that).
  bool connectable(std::uint16_t port) const;

  void add(std::uint16_t port, PortRef ref, std::uint32_t uid = 0);
  void remove(std::uint16_t port, PortRef ref);

  // listen(): a plain listener excludes every other; a SO_REUSEPORT one may only
  // join a group (Linux re-runs the bind check with the holder listening).
  bool can_listen(std::uint16_t port, bool reuse_port, std::uint32_t uid = 0) const;
  void add_listener(std::uint16_t port, std::uint32_t index, bool reuse_port);
  void remove_listener(std::uint16_t port, std::uint32_t index);

  // True when the port has a SO_REUSEPORT group: listener() then needs the flow's hash.
  bool has_group(std::uint16_t port) const { return ports_[port].grouped; }
  // The listening socket that takes a new flow on this port, kNoIndex if none: the
  // plain listener, or the group member `hash` selects (Linux reuseport_select_sock).
  std::uint32_t listener(std::uint16_t port, std::uint32_t hash = 0) const;
  // The plain listener directly (kNoIndex: none).
  void set_listener(std::uint16_t port, std::uint32_t index) { ports_[port].listener = index; }

 private:
  struct Use {
    std::uint32_t connections = 0;
    std::uint32_t listener = kNoIndex;  // the plain listener
    std::uint32_t no_reuseport = 0;     // references of any kind without SO_REUSEPORT
    std::uint16_t exclusive = 0;        // bound without SO_REUSEADDR
    std::uint16_t reuse = 0;            // bound with SO_REUSEADDR
    std::uint16_t exclusive_no_reuseport = 0;  // bound with neither option
    bool grouped = false;               // groups_ holds this port's SO_REUSEPORT listeners
    std::uint32_t reuseport = 0;        // references with SO_REUSEPORT (listeners included)
    std::uint32_t reuseport_uid = 0;    // their uid (meaningful while reuseport > 0)
  };
  // A SO_REUSEPORT socket of `uid` may share with the port's SO_REUSEPORT holders.
  bool same_owner(const Use& u, std::uint32_t uid) const {
    return u.reuseport == 0 || u.reuseport_uid == uid;
  }

  std::vector<Use> ports_;  // 65536 entries: one per port
  // Only ports with a group have an entry: listen() may allocate, a SYN only looks up.
  std::unordered_map<std::uint16_t, std::vector<std::uint32_t>> groups_;
};

}  // namespace utcp::stack::engine
