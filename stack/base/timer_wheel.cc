// TimerWheel: slots are circular doubly linked lists with sentinels, so schedule and
// cancel are O(1) and a node can unlink itself without knowing its slot's position.
// Invariants: a fine node is in fine slot tick_ % slots with current_tick_ <= tick_ <
// current_tick_ + slots; a coarse node is in coarse slot (tick_ / slots) % slots with
// tick_ / slots > current_tick_ / slots; due nodes are in due_. A ring's bits are set
// exactly for its non-empty slots; min_ is exact when min_valid_, coarse_min_ (the
// earliest coarse node) when coarse_min_valid_.
#include "stack/base/timer_wheel.h"

#include <algorithm>
#include <bit>
#include <cassert>
#include <limits>

namespace utcp::stack {

TimerNode::~TimerNode() {
  if (wheel_ != nullptr) wheel_->cancel(*this);
}

TimerWheel::Ring::Ring(std::size_t slots) : heads(slots), bits((slots + 63) / 64) {
  for (TimerNode& head : heads) head.prev_ = head.next_ = &head;
}

void TimerWheel::Ring::clear_if_empty(std::size_t slot) {
  if (heads[slot].next_ == &heads[slot]) {
    bits[slot / 64] &= ~(std::uint64_t{1} << (slot % 64));
  }
}

std::size_t TimerWheel::Ring::next_occupied(std::size_t from, std::size_t distance,
                                            std::size_t count) const {
  const std::size_t slots = heads.size();
  while (distance < count) {
    const std::size_t pos = (from + distance) % slots;
    // Bits at or past `slots` are never set, so a hit never crosses the wrap point.
    const std::uint64_t word = bits[pos / 64] >> (pos % 64);
    if (word != 0) {
      distance += static_cast<std::size_t>(std::countr_zero(word));
      return std::min(distance, count);
    }
    distance += std::min((pos / 64 + 1) * 64, slots) - pos;
  }
  return count;
}

TimerWheel::TimerWheel(Duration tick, std::size_t slots, Instant start)
    : tick_(tick), start_(start), fine_(std::max<std::size_t>(slots, 1)),
      coarse_(std::max<std::size_t>(slots, 1)) {
  assert(tick.count() > 0 && slots > 0);
  if (tick_.count() <= 0) tick_ = Duration(1);
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
  for (TimerNode& head : fine_.heads) detach_all(head);
  for (TimerNode& head : coarse_.heads) detach_all(head);
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

void TimerWheel::detach(TimerNode& node) {
  node.prev_->next_ = node.next_;
  node.next_->prev_ = node.prev_;
  if (node.level_ != kDue) ring_of(node.level_).clear_if_empty(node.slot_);
}

void TimerWheel::unlink(TimerNode& node) {
  detach(node);
  node.prev_ = node.next_ = nullptr;
  node.wheel_ = nullptr;
  --size_;
  if (min_valid_ && node.deadline_ <= min_) min_valid_ = false;
  if (node.level_ == kCoarse && coarse_min_valid_ && node.deadline_ <= coarse_min_) {
    coarse_min_valid_ = false;
  }
}

void TimerWheel::place(TimerNode& node) {
  const bool fine = node.tick_ - current_tick_ < static_cast<std::int64_t>(fine_.size());
  Ring& ring = fine ? fine_ : coarse_;
  const std::size_t slot = slot_in(ring, fine ? node.tick_ : coarse_of(node.tick_));
  node.level_ = fine ? kFine : kCoarse;
  node.slot_ = static_cast<std::uint32_t>(slot);
  link(&ring.heads[slot], node);
  ring.mark(slot);
  if (!fine && coarse_min_valid_) coarse_min_ = std::min(coarse_min_, node.deadline_);
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
  node.deadline_ = deadline;
  node.tick_ = std::max(tick_of(deadline), current_tick_);
  node.wheel_ = this;
  place(node);
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

// Moves the coarse nodes of coarse ticks first..last (current_tick_ already in `last`)
// to the fine wheel, or straight to due_ when their deadline has passed.
void TimerWheel::cascade(std::int64_t first, std::int64_t last, Instant now) {
  const std::size_t count = static_cast<std::size_t>(
      std::min<std::uint64_t>(static_cast<std::uint64_t>(last - first) + 1, coarse_.size()));
  const std::size_t from = slot_in(coarse_, first);
  for (std::size_t d = coarse_.next_occupied(from, 0, count); d < count;
       d = coarse_.next_occupied(from, d + 1, count)) {
    const std::size_t slot = (from + d) % coarse_.size();
    TimerNode& head = coarse_.heads[slot];
    for (TimerNode* n = head.next_; n != &head;) {
      TimerNode* next = n->next_;
      if (coarse_of(n->tick_) <= last) {  // else a later round of this slot
        coarse_min_valid_ = false;
        n->prev_->next_ = n->next_;
        n->next_->prev_ = n->prev_;
        if (n->deadline_ <= now) {
          n->level_ = kDue;
          link(&due_, *n);
        } else {
          place(*n);  // tick_ >= current_tick_ since the deadline is after now
        }
      }
      n = next;
    }
    coarse_.clear_if_empty(slot);
  }
}

void TimerWheel::collect_due(Instant now) {
  const std::size_t slots = fine_.size();
  const std::int64_t old_tick = current_tick_;
  // Set first: nodes that fn() schedules in the past land in the slot of `now`, which
  // the next advance() visits, never in a slot this pass already left behind.
  current_tick_ = std::max(tick_of(now), old_tick);
  bool moved = false;
  if (coarse_of(current_tick_) > coarse_of(old_tick)) {
    const TimerNode* before = due_.prev_;
    cascade(coarse_of(old_tick) + 1, coarse_of(current_tick_), now);
    moved = due_.prev_ != before;
  }
  const std::size_t count = static_cast<std::size_t>(
      std::min<std::uint64_t>(static_cast<std::uint64_t>(current_tick_ - old_tick) + 1, slots));
  const std::size_t from = slot_in(fine_, old_tick);
  for (std::size_t d = fine_.next_occupied(from, 0, count); d < count;
       d = fine_.next_occupied(from, d + 1, count)) {
    const std::size_t slot = (from + d) % slots;
    TimerNode& head = fine_.heads[slot];
    for (TimerNode* n = head.next_; n != &head;) {
      TimerNode* next = n->next_;
      if (n->deadline_ <= now) {
        n->prev_->next_ = n->next_;
        n->next_->prev_ = n->prev_;
        n->level_ = kDue;
        link(&due_, *n);
        moved = true;
      }
      n = next;
    }
    fine_.clear_if_empty(slot);
  }
  if (moved) min_valid_ = false;
}

template <class Pred>
Instant TimerWheel::min_deadline(const TimerNode* head, Pred&& take) {
  Instant best = kNever;
  for (const TimerNode* n = head->next_; n != head; n = n->next_) {
    if (take(*n)) best = std::min(best, n->deadline_);
  }
  return best;
}

TimerNode* TimerWheel::pop_due() {
  if (due_.next_ == &due_) return nullptr;
  TimerNode* node = due_.next_;
  unlink(*node);
  return node;
}

Instant TimerWheel::coarse_min() const {
  if (!coarse_min_valid_) {
    coarse_min_ = scan_coarse();
    coarse_min_valid_ = true;
  }
  return coarse_min_;
}

// The earliest coarse deadline: the first occupied coarse tick of this coarse rotation
// holds it; only nodes a coarse rotation or more away need a full scan.
Instant TimerWheel::scan_coarse() const {
  const std::size_t slots = coarse_.size();
  const std::int64_t next = coarse_of(current_tick_) + 1;
  const std::size_t from = slot_in(coarse_, next);
  for (std::size_t d = coarse_.next_occupied(from, 0, slots); d < slots;
       d = coarse_.next_occupied(from, d + 1, slots)) {
    const std::int64_t coarse_tick = next + static_cast<std::int64_t>(d);
    const Instant m = min_deadline(&coarse_.heads[(from + d) % slots], [&](const TimerNode& n) {
      return coarse_of(n.tick_) == coarse_tick;
    });
    if (m != kNever) return m;
  }
  Instant best = kNever;
  for (const TimerNode& head : coarse_.heads) {
    best = std::min(best, min_deadline(&head, [](const TimerNode&) { return true; }));
  }
  return best;
}

Instant TimerWheel::compute_min() const {
  const auto all = [](const TimerNode&) { return true; };
  Instant best = min_deadline(&due_, all);
  // Fine slots hold one tick each, so the first occupied one holds the earliest.
  const std::size_t slots = fine_.size();
  const std::size_t from = slot_in(fine_, current_tick_);
  const std::size_t d = fine_.next_occupied(from, 0, slots);
  const std::int64_t next_coarse_start =
      (coarse_of(current_tick_) + 1) * static_cast<std::int64_t>(slots);
  if (d < slots) {
    best = std::min(best, min_deadline(&fine_.heads[(from + d) % slots], all));
    // Every coarse node's tick is at or after the next coarse tick's start.
    if (current_tick_ + static_cast<std::int64_t>(d) < next_coarse_start) return best;
  }
  return std::min(best, coarse_min());
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
