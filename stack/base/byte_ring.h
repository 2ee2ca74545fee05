// ByteRing: the fixed-capacity byte FIFO behind socket send and receive buffers.
// Out-of-order TCP data (RFC 9293 §3.10.7.4, "segment text") is stored in place past
// the tail with write_at() and made readable with commit() once the gap is filled.
// Invariants: size() <= capacity(); storage is allocated only by reset()/the constructor.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <utility>

namespace utcp::stack {

// A fixed-capacity FIFO of bytes with random access into the unread part and writes
// beyond the tail (out-of-order TCP data is stored in place).
class ByteRing {
 public:
  using Piece = std::span<const std::uint8_t>;

  ByteRing() = default;  // capacity 0, no storage
  explicit ByteRing(std::size_t capacity);

  // Drops the contents and (re)allocates; any capacity, not only powers of two.
  void reset(std::size_t capacity);
  // Frees the storage; capacity becomes 0.
  void release();

  std::size_t capacity() const { return capacity_; }
  std::size_t size() const { return size_; }  // readable bytes
  std::size_t free_space() const { return capacity_ - size_; }
  bool empty() const { return size_ == 0; }

  // Appends up to free_space() bytes; returns how many were taken.
  std::size_t push(std::span<const std::uint8_t> data);
  // Copies out and consumes up to out.size() bytes; returns how many.
  std::size_t pop(std::span<std::uint8_t> out);
  // Copies from head+offset without consuming; returns how many.
  std::size_t peek(std::size_t offset, std::span<std::uint8_t> out) const;
  // Precondition: n <= size().
  void consume(std::size_t n);

  // The readable bytes [offset, offset+len) as at most two contiguous pieces (len is
  // clamped to what exists); the second piece is empty unless the range wraps.
  std::pair<Piece, Piece> view(std::size_t offset, std::size_t len) const;

  // Stores data at offset_from_tail bytes past the end of the readable data without
  // making it readable; clamps to free space; returns bytes stored.
  std::size_t write_at(std::size_t offset_from_tail, std::span<const std::uint8_t> data);
  // Precondition: n <= free_space(). The next n bytes past the tail become readable.
  void commit(std::size_t n);

 private:
  // Physical index of the byte `offset` bytes after the head; offset < capacity_.
  std::size_t index(std::size_t offset) const;
  void copy_in(std::size_t offset, std::span<const std::uint8_t> data);
  void copy_out(std::size_t offset, std::span<std::uint8_t> out) const;

  std::unique_ptr<std::uint8_t[]> data_;
  std::size_t capacity_ = 0;
  std::size_t head_ = 0;
  std::size_t size_ = 0;
};

}  // namespace utcp::stack
