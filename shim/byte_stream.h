// ByteStream: one producer, one consumer, a byte FIFO in shared memory: the data path
// of one socket direction between an app and its engine (send: app -> engine, recv:
// engine -> app), so send() and recv() are memory copies with no syscall while the
// other side is awake (DESIGN.md §3 "The channel").
//
// The same rules as SpscRing (spsc_ring.h, read it first): no lock; each side keeps
// its own counter privately and only publishes it; the other side's counter is
// untrusted and an impossible one poisons the stream for this side; the capacity is
// the daemon's, never read back from shared memory. Counters are free-running byte
// counts modulo 2^32, so a stream may carry any number of bytes; the capacity is at
// most 2^30 so that "used" can never be confused with a wrapped difference.
//
// Memory order: bytes are copied in, then the head is published with release; the
// reader acquires the head, copies out, then publishes the tail with release.
#pragma once

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <new>
#include <span>

#include "shim/spsc_ring.h"

namespace utcp::shim {

class ByteStream {
 public:
  static constexpr std::size_t bytes_for(std::uint32_t capacity) {
    return sizeof(RingControl) + capacity;
  }
  static constexpr bool valid_capacity(std::uint32_t capacity) {
    return capacity >= 64 && capacity <= (1u << 30) && (capacity & (capacity - 1)) == 0;
  }

  // Lays out an empty stream (both counters at `start`) in bytes_for(capacity) bytes.
  static void init(void* memory, std::uint32_t capacity, std::uint32_t start = 0) {
    auto* c = new (memory) RingControl;
    c->head.value.store(start, std::memory_order_relaxed);
    c->tail.value.store(start, std::memory_order_relaxed);
    std::atomic_thread_fence(std::memory_order_release);
    (void)capacity;
  }

  ByteStream(void* memory, std::uint32_t capacity)
      : control_(static_cast<RingControl*>(memory)),
        data_(static_cast<std::byte*>(memory) + sizeof(RingControl)),
        capacity_(capacity),
        head_(control_->head.value.load(std::memory_order_acquire)),
        tail_(control_->tail.value.load(std::memory_order_acquire)) {
    if (!valid_capacity(capacity) || head_ - tail_ > capacity_) poisoned_ = true;
  }

  // --- writer ---
  // Bytes that fit now (0 when poisoned).
  std::uint32_t writable() {
    const std::uint32_t tail = control_->tail.value.load(std::memory_order_acquire);
    const std::uint32_t used = head_ - tail;
    if (poisoned_ || used > capacity_) {
      poisoned_ = true;
      return 0;
    }
    return capacity_ - used;
  }
  // Copies in as much of `in` as fits and publishes it. Returns the bytes taken.
  std::size_t write(std::span<const std::byte> in) {
    const std::uint32_t n = static_cast<std::uint32_t>(std::min<std::size_t>(in.size(), writable()));
    if (n == 0) return 0;
    copy_in(head_, in.first(n));
    head_ += n;
    control_->head.value.store(head_, std::memory_order_release);
    return n;
  }

  // Free-running count of the bytes written so far (mod 2^32): where a record ends.
  std::uint32_t written() const { return head_; }

  // --- reader ---
  // Bytes published and not yet consumed (0 when poisoned).
  std::uint32_t readable() {
    const std::uint32_t head = control_->head.value.load(std::memory_order_acquire);
    const std::uint32_t avail = head - tail_;
    if (poisoned_ || avail > capacity_) {
      poisoned_ = true;
      return 0;
    }
    return avail;
  }
  // Copies out up to out.size() bytes without consuming them (MSG_PEEK).
  std::size_t peek(std::span<std::byte> out) {
    const std::uint32_t n = static_cast<std::uint32_t>(std::min<std::size_t>(out.size(), readable()));
    if (n == 0) return 0;
    copy_out(tail_, out.first(n));
    return n;
  }
  // Consumes up to n bytes already looked at; returns how many.
  std::size_t consume(std::size_t n) {
    const std::uint32_t k = static_cast<std::uint32_t>(std::min<std::size_t>(n, readable()));
    tail_ += k;
    if (k > 0) control_->tail.value.store(tail_, std::memory_order_release);
    return k;
  }
  // Free-running count of the bytes consumed so far (mod 2^32).
  std::uint32_t consumed() const { return tail_; }
  // peek + consume.
  std::size_t read(std::span<std::byte> out) { return consume(peek(out)); }

  bool poisoned() const { return poisoned_; }
  std::uint32_t capacity() const { return capacity_; }

 private:
  // The one or two pieces of the ring from counter `at` (non-empty spans only).
  void copy_in(std::uint32_t at, std::span<const std::byte> in) {
    const std::uint32_t off = at & (capacity_ - 1);
    const std::size_t first = std::min<std::size_t>(in.size(), capacity_ - off);
    std::memcpy(data_ + off, in.data(), first);
    std::memcpy(data_, in.data() + first, in.size() - first);
  }
  void copy_out(std::uint32_t at, std::span<std::byte> out) const {
    const std::uint32_t off = at & (capacity_ - 1);
    const std::size_t first = std::min<std::size_t>(out.size(), capacity_ - off);
    std::memcpy(out.data(), data_ + off, first);
    std::memcpy(out.data() + first, data_, out.size() - first);
  }

  RingControl* control_;
  std::byte* data_;
  std::uint32_t capacity_;
  std::uint32_t head_;  // writer: published (never read back)
  std::uint32_t tail_;  // reader: published (never read back)
  bool poisoned_ = false;
};

}  // namespace utcp::shim
