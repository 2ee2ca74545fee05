// SocketTable: a free stack of slot indices; ids carry the slot's generation so an
// id kept past close() can never reach the slot's next occupant.
#include "stack/engine/socket_table.h"

namespace utcp::stack::engine {

void Socket::reset() {
  kind = SocketKind::kFree;
  app_owned = false;
  connect_reported = false;
  in_flow_table = false;
  in_accept_queue = false;
  dirty = false;
  gauge_state = tcp::State::kClosed;
  port_ref = PortRef::kNone;
  events = 0;
  parent = kNoIndex;
  error = 0;
  options = SocketOptions{};
  local = wire::Endpoint{};
  remote = wire::Endpoint{};
  conn.reset();
  listener.reset();
  // Destroying the connection does not touch the node; the engine cancels it
  // before releasing, and a node not armed makes this a no-op.
  timer.user = 0;
}

SocketTable::SocketTable(std::size_t capacity)
    : capacity_(capacity),
      slots_(std::make_unique<Socket[]>(capacity)),
      generations_(capacity, 1) {
  free_.reserve(capacity);
  // Pushed in reverse so slot 0 is handed out first: ids in tests are predictable.
  for (std::size_t i = capacity; i > 0; --i) {
    free_.push_back(static_cast<std::uint32_t>(i - 1));
  }
}

std::optional<std::uint32_t> SocketTable::allocate() {
  if (free_.empty()) {
    return std::nullopt;
  }
  const std::uint32_t index = free_.back();
  free_.pop_back();
  slots_[index].kind = SocketKind::kFresh;
  slots_[index].timer.user = index;
  ++in_use_;
  return index;
}

void SocketTable::release(std::uint32_t index) {
  slots_[index].reset();
  bump_generation(index);
  free_.push_back(index);
  --in_use_;
}

void SocketTable::bump_generation(std::uint32_t index) {
  ++generations_[index];
  // Generation 0 is reserved for "no socket"; skip it on wrap-around.
  if (generations_[index] == 0) {
    generations_[index] = 1;
  }
}

Socket* SocketTable::find(SocketId id) {
  if (id.index >= capacity_ || id.generation != generations_[id.index] ||
      slots_[id.index].kind == SocketKind::kFree) {
    return nullptr;
  }
  return &slots_[id.index];
}

}  // namespace utcp::stack::engine
