// Listener queues. The accept queue is a fixed ring so a SYN flood that fills it
// costs no allocation.
#include "stack/engine/listener.h"

#include <algorithm>

namespace utcp::stack::engine {

Listener::Listener(std::uint32_t backlog, std::uint32_t backlog_cap, std::uint32_t syn_limit)
    : backlog_(std::min(backlog, backlog_cap)), syn_limit_(syn_limit), ring_(backlog_cap + 1) {}

void Listener::set_backlog(std::uint32_t backlog) {
  // The ring was sized for the cap; a smaller backlog leaves queued children in
  // place (Linux does not drop them either), it only stops new ones.
  backlog_ = std::min<std::uint32_t>(backlog, static_cast<std::uint32_t>(ring_.size() - 1));
}

std::uint32_t Listener::syn_capacity() const {
  return std::min(syn_limit_, accept_capacity());
}

bool Listener::push_accepted(std::uint32_t socket_index) {
  if (accept_count_ >= ring_.size()) {
    return false;
  }
  const std::size_t tail = (head_ + accept_count_) % ring_.size();
  ring_[tail] = socket_index;
  ++accept_count_;
  return true;
}

std::optional<std::uint32_t> Listener::pop_accepted() {
  if (accept_count_ == 0) {
    return std::nullopt;
  }
  const std::uint32_t index = ring_[head_];
  head_ = static_cast<std::uint32_t>((head_ + 1) % ring_.size());
  --accept_count_;
  return index;
}

}  // namespace utcp::stack::engine
