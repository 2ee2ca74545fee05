// TimerWheel: a hashed timing wheel (Varghese & Lauck, SOSP 1987, scheme 6) of
// intrusive TimerNodes, for retransmission, delayed-ACK, keep-alive and TIME-WAIT timers.
// Invariants: a node never fires before its deadline; every armed node sits in the slot
// of its tick (>= the wheel's current tick) or, only inside advance(), in the due list.
// Not thread-safe: one wheel per engine. advance() must not be called from its callback.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "stack/base/time.h"

namespace utcp::stack {

class TimerWheel;

// Embedded in the object that owns the timer; non-copyable and non-movable because
// the wheel links to it by address.
struct TimerNode {
  TimerNode() = default;
  TimerNode(const TimerNode&) = delete;
  TimerNode& operator=(const TimerNode&) = delete;
  ~TimerNode();  // a node destroyed while armed unlinks itself

  bool armed() const { return wheel_ != nullptr; }
  Instant deadline() const { return armed() ? deadline_ : kNever; }

  std::uint64_t user = 0;  // for the owner, e.g. a socket id

 private:
  friend class TimerWheel;

  TimerNode* prev_ = nullptr;
  TimerNode* next_ = nullptr;
  TimerWheel* wheel_ = nullptr;
  Instant deadline_ = kNever;
  std::int64_t tick_ = 0;       // the tick whose slot holds the node
  std::uint32_t slot_ = 0;      // kDueSlot while in the due list
};

class TimerWheel {
 public:
  // E.g. 1 ms x 4096 slots. Deadlines beyond tick*slots stay in their slot for more
  // rounds. Preconditions: tick > 0, slots > 0.
  TimerWheel(Duration tick, std::size_t slots, Instant start);
  TimerWheel(const TimerWheel&) = delete;
  TimerWheel& operator=(const TimerWheel&) = delete;
  ~TimerWheel();  // unarms every node still armed

  // Arms or re-arms node (also when armed on another wheel). A deadline <= the last
  // advance() time fires on the next advance(). kNever is the same as cancel().
  void schedule(TimerNode& node, Instant deadline);
  // No-op when the node is not armed (on this wheel).
  void cancel(TimerNode& node);

  // Fires every node with deadline <= now: unarms it, then calls fn(node). fn may
  // re-schedule or cancel any node (this one included) or destroy the owner of the
  // node it was given; a node it schedules at or before `now` fires on the next
  // advance(). Nodes fire in tick order when `now` moved less than one rotation
  // (tick * slots) since the last advance(); within one tick, in no particular order.
  // Work is bounded by min(elapsed ticks, slots) slot visits plus the nodes visited.
  template <class Fn>
  void advance(Instant now, Fn&& fn) {
    collect_due(now);
    while (TimerNode* node = pop_due()) fn(*node);
  }

  // The exact earliest armed deadline, kNever when none. Cached; recomputed only
  // after the earliest node was cancelled, re-armed later or fired.
  Instant next_deadline() const;
  std::size_t size() const { return size_; }  // armed nodes

 private:
  static constexpr std::uint32_t kDueSlot = 0xffffffffu;

  std::int64_t tick_of(Instant t) const;
  std::size_t slot_of(std::int64_t tick) const {
    return static_cast<std::size_t>(static_cast<std::uint64_t>(tick) % heads_.size());
  }
  void link(TimerNode* head, TimerNode& node);
  void unlink(TimerNode& node);
  void mark_slot(std::size_t slot);
  void clear_slot_if_empty(std::size_t slot);
  // The first occupied slot in circular order at distance < count from `from`, as a
  // distance; `count` when none.
  std::size_t next_occupied(std::size_t from, std::size_t distance, std::size_t count) const;
  void collect_due(Instant now);
  TimerNode* pop_due();
  Instant compute_min() const;
  Instant min_of_list(const TimerNode* head, std::int64_t only_tick) const;

  Duration tick_;
  Instant start_;
  std::int64_t current_tick_ = 0;
  std::vector<TimerNode> heads_;         // circular list sentinels, one per slot
  std::vector<std::uint64_t> occupied_;  // bit per slot: list not empty
  TimerNode due_;                        // sentinel of the nodes advance() will fire
  std::size_t size_ = 0;
  mutable Instant min_ = kNever;
  mutable bool min_valid_ = true;
};

}  // namespace utcp::stack
