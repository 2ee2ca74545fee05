// TimerWheel: slots are circular doubly linked lists with sentinels, so schedule and
// cancel are O(1) and a node can unlink itself without knowing its slot's position.
// Invariants: a node is in slot tick_ % slots with tick_ >= current_tick_ (or in due_);
// occupied_ has a bit set exactly for the non-empty slots; min_ is exact when min_valid_.
#include "stack/base/timer_wheel.h"

#include <algorithm>
#include <bit>
#include <cassert>
#include <limits>

namespace utcp::stack {

TimerNode::~TimerNode() {
  if (wheel_ != nullptr) wheel_->cancel(*this);
}

TimerWheel::TimerWheel(Duration tick, std::size_t slots, Instant start)
    : tick_(tick), start_(start), heads_(std::max<std::size_t>(slots, 1)),
      occupied_((heads_.size() + 63) / 64) {
  assert(tick.count() > 0 && slots > 0);
  if (tick_.count() <= 0) tick_ = Duration(1);
  for (TimerNode& head : heads_) head.prev_ = head.next_ = &head;
  due_.prev_ = due_.next_ = &due_;
}

TimerWheel::~TimerWheel() {
  auto detach_all = [](TimerNode& head) {
    for (TimerNode* n = head.next_; n != &head;) {
      TimerNode* next = n->next_;
      n->prev_ = n->next_ = nullptr;
      n->wheel_ = nullptr;
      n = next;
    }
  };
  for (TimerNode& head : heads_) detach_all(head);
  detach_all(due_);
}

std::int64_t TimerWheel::tick_of(Instant t) const {
  if (t <= start_) return 0;
  // Unsigned difference: exact for any t > start_, even across the int64 range.
  const std::uint64_t diff = static_cast<std::uint64_t>(to_us(t)) -
                             static_cast<std::uint64_t>(to_us(start_));
  const std::uint64_t ticks = diff / static_cast<std::uint64_t>(tick_.count());
  constexpr std::uint64_t kMaxTick = std::numeric_limits<std::int64_t>::max() / 2;
  return static_cast<std::int64_t>(std::min(ticks, kMaxTick));
}

void TimerWheel::link(TimerNode* head, TimerNode& node) {
  node.prev_ = head->prev_;
  node.next_ = head;
  head->prev_->next_ = &node;
  head->prev_ = &node;
}

void TimerWheel::unlink(TimerNode& node) {
  node.prev_->next_ = node.next_;
  node.next_->prev_ = node.prev_;
  node.prev_ = node.next_ = nullptr;
  node.wheel_ = nullptr;
  if (node.slot_ != kDueSlot) clear_slot_if_empty(node.slot_);
  --size_;
  if (min_valid_ && node.deadline_ <= min_) min_valid_ = false;
}

void TimerWheel::mark_slot(std::size_t slot) {
  occupied_[slot / 64] |= std::uint64_t{1} << (slot % 64);
}

void TimerWheel::clear_slot_if_empty(std::size_t slot) {
  if (heads_[slot].next_ == &heads_[slot]) {
    occupied_[slot / 64] &= ~(std::uint64_t{1} << (slot % 64));
  }
}

std::size_t TimerWheel::next_occupied(std::size_t from, std::size_t distance,
                                      std::size_t count) const {
  const std::size_t slots = heads_.size();
  while (distance < count) {
    const std::size_t pos = (from + distance) % slots;
    // Bits at or past `slots` are never set, so a hit never crosses the wrap point.
    const std::uint64_t bits = occupied_[pos / 64] >> (pos % 64);
    if (bits != 0) {
      distance += static_cast<std::size_t>(std::countr_zero(bits));
      return std::min(distance, count);
    }
    distance += std::min((pos / 64 + 1) * 64, slots) - pos;
  }
  return count;
}

void TimerWheel::schedule(TimerNode& node, Instant deadline) {
  if (deadline == kNever) {
    cancel(node);
    return;
  }
  // Re-arming the earliest node earlier keeps the cached minimum exact.
  const bool keeps_min = min_valid_ && node.wheel_ == this && node.deadline_ == min_ &&
                         deadline <= node.deadline_;
  if (node.wheel_ != nullptr) node.wheel_->cancel(node);
  const std::int64_t tick = std::max(tick_of(deadline), current_tick_);
  const auto slot = static_cast<std::uint32_t>(slot_of(tick));
  node.deadline_ = deadline;
  node.tick_ = tick;
  node.slot_ = slot;
  node.wheel_ = this;
  link(&heads_[slot], node);
  mark_slot(slot);
  ++size_;
  if (keeps_min) {
    min_ = deadline;
    min_valid_ = true;
  } else if (min_valid_ && deadline < min_) {
    min_ = deadline;
  }
}

void TimerWheel::cancel(TimerNode& node) {
  if (node.wheel_ == this) unlink(node);
}

void TimerWheel::collect_due(Instant now) {
  const std::size_t slots = heads_.size();
  const std::int64_t old_tick = current_tick_;
  // Set first: nodes that fn() schedules in the past land in the slot of `now`, which
  // the next advance() visits, never in a slot this pass already left behind.
  current_tick_ = std::max(tick_of(now), old_tick);
  const std::size_t count = static_cast<std::size_t>(
      std::min<std::uint64_t>(static_cast<std::uint64_t>(current_tick_ - old_tick) + 1, slots));
  const std::size_t from = slot_of(old_tick);
  bool moved = false;
  for (std::size_t d = next_occupied(from, 0, count); d < count;
       d = next_occupied(from, d + 1, count)) {
    const std::size_t slot = (from + d) % slots;
    TimerNode& head = heads_[slot];
    for (TimerNode* n = head.next_; n != &head;) {
      TimerNode* next = n->next_;
      if (n->deadline_ <= now) {
        n->prev_->next_ = n->next_;
        n->next_->prev_ = n->prev_;
        n->slot_ = kDueSlot;
        link(&due_, *n);
        moved = true;
      }
      n = next;
    }
    clear_slot_if_empty(slot);
  }
  if (moved) min_valid_ = false;
}

TimerNode* TimerWheel::pop_due() {
  if (due_.next_ == &due_) return nullptr;
  TimerNode* node = due_.next_;
  unlink(*node);
  return node;
}

Instant TimerWheel::min_of_list(const TimerNode* head, std::int64_t only_tick) const {
  Instant best = kNever;
  for (const TimerNode* n = head->next_; n != head; n = n->next_) {
    if (only_tick < 0 || n->tick_ == only_tick) best = std::min(best, n->deadline_);
  }
  return best;
}

Instant TimerWheel::compute_min() const {
  const Instant due_min = min_of_list(&due_, -1);
  const std::size_t slots = heads_.size();
  const std::size_t from = slot_of(current_tick_);
  // Ticks are disjoint time intervals, so the first tick of this rotation that holds a
  // node holds the earliest deadline; only nodes a rotation or more away need a full scan.
  for (std::size_t d = next_occupied(from, 0, slots); d < slots;
       d = next_occupied(from, d + 1, slots)) {
    const Instant m = min_of_list(&heads_[(from + d) % slots],
                                  current_tick_ + static_cast<std::int64_t>(d));
    if (m != kNever) return std::min(due_min, m);
  }
  Instant best = due_min;
  for (std::size_t d = next_occupied(0, 0, slots); d < slots; d = next_occupied(0, d + 1, slots)) {
    best = std::min(best, min_of_list(&heads_[d], -1));
  }
  return best;
}

Instant TimerWheel::next_deadline() const {
  if (size_ == 0) return kNever;
  if (!min_valid_) {
    min_ = compute_min();
    min_valid_ = true;
  }
  return min_;
}

}  // namespace utcp::stack
