// PortTable: per-port reference counts; see the header for the conflict rules. The
// pairwise Linux rule reduces to counts: holders without SO_REUSEPORT must each pass
// the SO_REUSEADDR test, holders with it pass whenever the new socket sets it too.
#include "stack/engine/port_table.h"

#include <algorithm>

namespace utcp::stack::engine {

PortRef bind_ref(bool reuse_addr, bool reuse_port) {
  if (reuse_port) {
    return reuse_addr ? PortRef::kBindReuseAddrPort : PortRef::kBindReusePort;
  }
  return reuse_addr ? PortRef::kBindReuse : PortRef::kBindExclusive;
}

PortRef connection_ref(bool reuse_port) {
  return reuse_port ? PortRef::kConnectionReusePort : PortRef::kConnection;
}

bool has_reuse_port(PortRef ref) {
  return ref == PortRef::kBindReusePort || ref == PortRef::kBindReuseAddrPort ||
         ref == PortRef::kConnectionReusePort;
}

PortTable::PortTable() : ports_(65536) {}

bool PortTable::can_bind(std::uint16_t port, bool reuse_addr, bool reuse_port,
                         std::uint32_t uid) const {
  const Use& u = ports_[port];
  if (reuse_port) {
    // Linux lets a holder of another uid pass by SO_REUSEADDR alone when both set it
    // and it is not listening; this table keeps one uid per port's SO_REUSEPORT
    // holders, so it refuses that mix too (stricter, never looser).
    if (!same_owner(u, uid)) {
      return false;
    }
    // A plain listener fails both tests (listening, no SO_REUSEPORT). With
    // SO_REUSEADDR, only holders bound with neither option remain in the way (a
    // group member is no obstacle: it set SO_REUSEPORT); without it, any holder
    // that did not set SO_REUSEPORT is.
    if (u.listener != kNoIndex) {
      return false;
    }
    return reuse_addr ? u.exclusive_no_reuseport == 0 : u.no_reuseport == 0;
  }
  // Without SO_REUSEPORT only the SO_REUSEADDR test is left: a listener of any
  // kind or an exclusive bind excludes; SO_REUSEADDR shares with the rest.
  if (u.listener != kNoIndex || u.grouped || u.exclusive != 0) {
    return false;
  }
  return reuse_addr || (u.reuse == 0 && u.connections == 0);
}

bool PortTable::unused(std::uint16_t port) const {
  const Use& u = ports_[port];
  return u.listener == kNoIndex && !u.grouped && u.exclusive == 0 && u.reuse == 0 &&
         u.connections == 0;
}

bool PortTable::connectable(std::uint16_t port) const {
  const Use& u = ports_[port];
  return u.listener == kNoIndex && !u.grouped && u.exclusive == 0 && u.reuse == 0;
}

void PortTable::add(std::uint16_t port, PortRef ref, std::uint32_t uid) {
  Use& u = ports_[port];
  switch (ref) {
    case PortRef::kNone: return;
    case PortRef::kBindExclusive: ++u.exclusive; ++u.exclusive_no_reuseport; break;
    case PortRef::kBindReuse: ++u.reuse; break;
    case PortRef::kConnection: ++u.connections; break;
    case PortRef::kBindReusePort: ++u.exclusive; break;
    case PortRef::kBindReuseAddrPort: ++u.reuse; break;
    case PortRef::kConnectionReusePort: ++u.connections; break;
  }
  if (!has_reuse_port(ref)) {
    ++u.no_reuseport;
  } else if (u.reuseport++ == 0) {
    u.reuseport_uid = uid;
  }
}

void PortTable::remove(std::uint16_t port, PortRef ref) {
  Use& u = ports_[port];
  switch (ref) {
    case PortRef::kNone: return;
    case PortRef::kBindExclusive: --u.exclusive; --u.exclusive_no_reuseport; break;
    case PortRef::kBindReuse: --u.reuse; break;
    case PortRef::kConnection: --u.connections; break;
    case PortRef::kBindReusePort: --u.exclusive; break;
    case PortRef::kBindReuseAddrPort: --u.reuse; break;
    case PortRef::kConnectionReusePort: --u.connections; break;
  }
  if (!has_reuse_port(ref)) {
    --u.no_reuseport;
  } else {
    --u.reuseport;
  }
}

bool PortTable::can_listen(std::uint16_t port, bool reuse_port, std::uint32_t uid) const {
  // The other holders passed the bind check against this socket already; what
  // changed since is who listens, and a listener only shares by SO_REUSEPORT.
  const Use& u = ports_[port];
  if (u.listener != kNoIndex) {
    return false;
  }
  return !u.grouped || (reuse_port && same_owner(u, uid));
}

void PortTable::add_listener(std::uint16_t port, std::uint32_t index, bool reuse_port) {
  if (!reuse_port) {
    set_listener(port, index);
    return;
  }
  groups_[port].push_back(index);
  ports_[port].grouped = true;
}

void PortTable::remove_listener(std::uint16_t port, std::uint32_t index) {
  Use& u = ports_[port];
  if (u.listener == index) {
    u.listener = kNoIndex;
    return;
  }
  const auto it = groups_.find(port);
  if (it == groups_.end()) {
    return;
  }
  // Order kept so the survivors' relative order stays the listen() order.
  std::erase(it->second, index);
  if (it->second.empty()) {
    groups_.erase(it);
    u.grouped = false;
  }
}

std::uint32_t PortTable::listener(std::uint16_t port, std::uint32_t hash) const {
  const Use& u = ports_[port];
  if (!u.grouped) {
    return u.listener;
  }
  const std::vector<std::uint32_t>& members = groups_.at(port);
  // reciprocal_scale as in Linux: the hash's high bits pick, so a hash whose low
  // bits already chose this engine's queue still spreads over the group.
  const std::uint64_t pick = (std::uint64_t{hash} * members.size()) >> 32;
  return members[static_cast<std::size_t>(pick)];
}

}  // namespace utcp::stack::engine
