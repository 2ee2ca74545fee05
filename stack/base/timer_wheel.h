// TimerWheel: a hierarchical timing wheel (Varghese & Lauck, SOSP 1987, scheme 7) of
// intrusive TimerNodes, for retransmission, delayed-ACK, keep-alive and TIME-WAIT timers.
// Two levels: a fine wheel of `slots` ticks and a coarse wheel whose tick is one fine
// rotation. Deadlines less than one fine rotation away sit in the fine wheel, later
// ones in the coarse wheel until their coarse tick begins. The levels keep next_deadline()
// cheap with many long timers: a host closing 3,000 connections a second holds 180,000
// TIME-WAIT timers of 60 s, which a single 4 s wheel would mix into every slot.
// Invariants: a node never fires before its deadline; every armed node sits in the slot
// of its tick (fine: tick < the wheel's current tick + slots; coarse: tick / slots >
// current tick / slots) or, only inside advance(), in the due list.
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
  std::int64_t tick_ = 0;       // the tick of the deadline (>= the tick when armed)
  std::uint32_t slot_ = 0;      // within its level
  std::uint8_t level_ = 0;      // kFine, kCoarse or kDue
};

class TimerWheel {
 public:
  // E.g. 1 ms x 4096 slots: a fine rotation of 4.1 s and a coarse one of 4.7 h.
  // Deadlines beyond the coarse rotation stay in their coarse slot for more rounds.
  // Preconditions: tick > 0, slots > 0.
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
  // Work is bounded by min(elapsed ticks, slots) fine slot visits, as many coarse slot
  // visits per elapsed rotation (at most slots), plus the nodes visited.
  template <class Fn>
  void advance(Instant now, Fn&& fn) {
    collect_due(now);
    while (TimerNode* node = pop_due()) fn(*node);
  }

  // The exact earliest armed deadline, kNever when none. Cached; recomputed only
  // after the earliest node was cancelled, re-armed later or fired, from the first
  // occupied fine slot (one tick's nodes); the coarse wheel is looked at only when no
  // fine node comes before the next coarse tick.
  Instant next_deadline() const;
  std::size_t size() const { return size_; }  // armed nodes

 private:
  enum Level : std::uint8_t { kFine = 0, kCoarse = 1, kDue = 2 };

  // One wheel: circular list sentinels, one per slot, and a bit per non-empty slot.
  struct Ring {
    explicit Ring(std::size_t slots);
    std::size_t size() const { return heads.size(); }
    void mark(std::size_t slot) { bits[slot / 64] |= std::uint64_t{1} << (slot % 64); }
    void clear_if_empty(std::size_t slot);
    // The first occupied slot in circular order at distance < count from `from`, as a
    // distance; `count` when none.
    std::size_t next_occupied(std::size_t from, std::size_t distance, std::size_t count) const;

    std::vector<TimerNode> heads;
    std::vector<std::uint64_t> bits;
  };

  std::int64_t tick_of(Instant t) const;
  std::int64_t coarse_of(std::int64_t tick) const {
    return tick / static_cast<std::int64_t>(fine_.size());
  }
  std::size_t slot_in(const Ring& ring, std::int64_t tick) const {
    return static_cast<std::size_t>(static_cast<std::uint64_t>(tick) % ring.size());
  }
  Ring& ring_of(std::uint8_t level) { return level == kFine ? fine_ : coarse_; }
  void link(TimerNode* head, TimerNode& node);
  void unlink(TimerNode& node);
  void place(TimerNode& node);  // into the level its tick_ belongs to
  void detach(TimerNode& node);  // out of its slot's list, for re-linking elsewhere
  void cascade(std::int64_t first, std::int64_t last, Instant now);
  void collect_due(Instant now);
  TimerNode* pop_due();
  Instant compute_min() const;
  Instant coarse_min() const;   // cached
  Instant scan_coarse() const;
  template <class Pred>
  static Instant min_deadline(const TimerNode* head, Pred&& take);

  Duration tick_;
  Instant start_;
  std::int64_t current_tick_ = 0;
  Ring fine_;
  Ring coarse_;
  TimerNode due_;  // sentinel of the nodes advance() will fire
  std::size_t size_ = 0;
  mutable Instant min_ = kNever;
  mutable bool min_valid_ = true;
  // The earliest coarse deadline, cached apart: coarse nodes leave in bulk only when
  // their coarse tick begins, so it is walked for about once per rotation.
  mutable Instant coarse_min_ = kNever;
  mutable bool coarse_min_valid_ = true;
};

}  // namespace utcp::stack
