// PortTable: per-port reference counts; see the header for the conflict rules.
#include "stack/engine/port_table.h"

namespace utcp::stack::engine {

PortTable::PortTable() : ports_(65536) {}

bool PortTable::can_bind(std::uint16_t port, bool reuse_addr) const {
  const Use& u = ports_[port];
  if (u.listener != 0xffffffffu || u.exclusive != 0) {
    return false;
  }
  return reuse_addr || (u.reuse == 0 && u.connections == 0);
}

bool PortTable::unused(std::uint16_t port) const {
  const Use& u = ports_[port];
  return u.listener == 0xffffffffu && u.exclusive == 0 && u.reuse == 0 && u.connections == 0;
}

bool PortTable::connectable(std::uint16_t port) const {
  const Use& u = ports_[port];
  return u.listener == 0xffffffffu && u.exclusive == 0 && u.reuse == 0;
}

void PortTable::add(std::uint16_t port, PortRef ref) {
  Use& u = ports_[port];
  switch (ref) {
    case PortRef::kNone: break;
    case PortRef::kBindExclusive: ++u.exclusive; break;
    case PortRef::kBindReuse: ++u.reuse; break;
    case PortRef::kConnection: ++u.connections; break;
  }
}

void PortTable::remove(std::uint16_t port, PortRef ref) {
  Use& u = ports_[port];
  switch (ref) {
    case PortRef::kNone: break;
    case PortRef::kBindExclusive: --u.exclusive; break;
    case PortRef::kBindReuse: --u.reuse; break;
    case PortRef::kConnection: --u.connections; break;
  }
}

}  // namespace utcp::stack::engine
