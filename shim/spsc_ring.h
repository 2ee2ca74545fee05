// SpscRing: one producer, one consumer, fixed-size entries, in memory shared between
// utcpd and an application process (DESIGN.md §3 "The channel"). The building block of
// command, reply and event rings (shim/protocol.h).
//
// Why it is shaped like this:
// - No lock: a process killed at any instruction leaves at worst an entry that was
//   written but never published. Nothing the other side waits on stays held.
// - The other side may be hostile or broken (an app scribbling over its mapping). So
//   each side keeps its own index privately and only publishes it; it never reads its
//   own index back from shared memory. The other side's index is untrusted: one that
//   claims more entries than the capacity, or moves backwards, poisons the ring for
//   this side, which then refuses all work and reports it (poisoned()) instead of
//   reading or writing out of bounds. The capacity is fixed by the side that laid the
//   memory out (the daemon) and passed to both constructors, never read back from
//   shared memory.
// - Entries are copied out before use, so a writer that changes an entry after
//   publishing it cannot show the reader two different values (no double fetch).
//   Consumers still validate every field of what they popped.
// - Indices are free-running 32-bit counters (wrap-around is fine: differences are
//   taken modulo 2^32); the slot is index & (capacity - 1).
//
// Memory order: the producer writes the slot, then publishes head with release; the
// consumer loads head with acquire, copies the slots, then publishes tail with release
// (so the producer does not overwrite a slot still being copied).
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <new>
#include <optional>
#include <span>
#include <type_traits>

namespace utcp::shim {

// One index per cache line: producer and consumer do not false-share.
struct alignas(64) RingIndex {
  std::atomic<std::uint32_t> value{0};
};
static_assert(std::atomic<std::uint32_t>::is_always_lock_free,
              "indices are shared between processes: they must be lock-free (address-free)");

struct RingControl {
  RingIndex head;  // written by the producer only: entries published so far
  RingIndex tail;  // written by the consumer only: entries consumed so far
};

template <class Entry>
class SpscRing {
  static_assert(std::is_trivially_copyable_v<Entry>, "entries are copied through shared memory");

 public:
  // Bytes of shared memory a ring of `capacity` entries needs (control + slots).
  static constexpr std::size_t bytes_for(std::uint32_t capacity) {
    return sizeof(RingControl) + std::size_t{capacity} * sizeof(Entry);
  }
  static constexpr bool valid_capacity(std::uint32_t capacity) {
    return capacity >= 2 && capacity <= (1u << 24) && (capacity & (capacity - 1)) == 0;
  }

  // Lays out a fresh ring in `memory` (bytes_for(capacity) bytes, 64-byte aligned):
  // both indices at `start` (tests start near 2^32 to cross the wrap).
  static void init(void* memory, std::uint32_t capacity, std::uint32_t start = 0) {
    auto* c = new (memory) RingControl;
    c->head.value.store(start, std::memory_order_relaxed);
    c->tail.value.store(start, std::memory_order_relaxed);
    std::memset(static_cast<std::byte*>(memory) + sizeof(RingControl), 0,
                std::size_t{capacity} * sizeof(Entry));
    std::atomic_thread_fence(std::memory_order_release);
  }

  // A view of a ring laid out by init() with the same capacity. The view takes the
  // indices as they are now (each side starts from what is published, e.g. when an
  // app re-attaches after exec).
  SpscRing(void* memory, std::uint32_t capacity)
      : control_(static_cast<RingControl*>(memory)),
        slots_(reinterpret_cast<std::byte*>(memory) + sizeof(RingControl)),
        mask_(capacity - 1),
        capacity_(capacity),
        head_(control_->head.value.load(std::memory_order_acquire)),
        tail_(control_->tail.value.load(std::memory_order_acquire)) {
    if (!valid_capacity(capacity) || head_ - tail_ > capacity_) {
      poisoned_ = true;
    }
  }

  // --- producer side ---
  // false when full or poisoned.
  bool push(const Entry& e) { return push_burst(std::span<const Entry>(&e, 1)) == 1; }
  // Publishes as many of `in` as fit, with one index store. Returns how many.
  std::size_t push_burst(std::span<const Entry> in) {
    const std::uint32_t tail = control_->tail.value.load(std::memory_order_acquire);
    const std::uint32_t used = head_ - tail;
    // The consumer's index may only lag ours by at most the capacity, and may not run
    // ahead of what we published.
    if (poisoned_ || used > capacity_) {
      poisoned_ = true;
      return 0;
    }
    const std::size_t n = std::min<std::size_t>(in.size(), capacity_ - used);
    for (std::size_t i = 0; i < n; ++i) {
      std::memcpy(slot(head_ + static_cast<std::uint32_t>(i)), &in[i], sizeof(Entry));
    }
    head_ += static_cast<std::uint32_t>(n);
    if (n > 0) control_->head.value.store(head_, std::memory_order_release);
    return n;
  }

  // --- consumer side ---
  std::optional<Entry> pop() {
    Entry e;
    if (pop_burst(std::span<Entry>(&e, 1)) == 0) return std::nullopt;
    return e;
  }
  // Copies out up to out.size() entries, with one index store. Returns how many.
  std::size_t pop_burst(std::span<Entry> out) {
    const std::uint32_t head = control_->head.value.load(std::memory_order_acquire);
    const std::uint32_t avail = head - tail_;
    if (poisoned_ || avail > capacity_) {
      poisoned_ = true;
      return 0;
    }
    const std::size_t n = std::min<std::size_t>(out.size(), avail);
    for (std::size_t i = 0; i < n; ++i) {
      std::memcpy(&out[i], slot(tail_ + static_cast<std::uint32_t>(i)), sizeof(Entry));
    }
    tail_ += static_cast<std::uint32_t>(n);
    if (n > 0) control_->tail.value.store(tail_, std::memory_order_release);
    return n;
  }

  // True once the other side published an impossible index: this side stops using
  // the ring (the daemon then treats the app as broken and detaches it).
  bool poisoned() const { return poisoned_; }
  std::uint32_t capacity() const { return capacity_; }
  // Entries published and not yet consumed, as this side sees it (0 when poisoned).
  std::uint32_t readable() const {
    if (poisoned_) return 0;
    const std::uint32_t head = control_->head.value.load(std::memory_order_acquire);
    const std::uint32_t n = head - tail_;
    return n <= capacity_ ? n : 0;
  }

 private:
  std::byte* slot(std::uint32_t index) const {
    return slots_ + std::size_t{index & mask_} * sizeof(Entry);
  }

  RingControl* control_;
  std::byte* slots_;
  std::uint32_t mask_;
  std::uint32_t capacity_;
  std::uint32_t head_;  // producer: our published head (never read back)
  std::uint32_t tail_;  // consumer: our published tail (never read back)
  bool poisoned_ = false;
};

}  // namespace utcp::shim
