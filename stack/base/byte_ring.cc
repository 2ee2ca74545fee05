// ByteRing: copies split at the physical end of storage; no allocation after reset().
// Invariants: head_ < capacity_ (or both 0); size_ <= capacity_.
#include "stack/base/byte_ring.h"

#include <algorithm>
#include <cassert>
#include <cstring>

namespace utcp::stack {

ByteRing::ByteRing(std::size_t capacity) { reset(capacity); }

void ByteRing::reset(std::size_t capacity) {
  // Not zeroed: only bytes written by copy_in are ever read, and zeroing 256 KiB per
  // buffer was a third of the engine's time when connections are short.
  data_ = capacity == 0 ? nullptr : std::make_unique_for_overwrite<std::uint8_t[]>(capacity);
  capacity_ = capacity;
  head_ = 0;
  size_ = 0;
}

void ByteRing::release() { reset(0); }

std::size_t ByteRing::index(std::size_t offset) const {
  const std::size_t to_end = capacity_ - head_;
  return offset < to_end ? head_ + offset : offset - to_end;
}

void ByteRing::copy_in(std::size_t offset, std::span<const std::uint8_t> data) {
  if (data.empty()) return;
  const std::size_t at = index(offset);
  const std::size_t first = std::min(data.size(), capacity_ - at);
  std::memcpy(data_.get() + at, data.data(), first);
  std::memcpy(data_.get(), data.data() + first, data.size() - first);
}

void ByteRing::copy_out(std::size_t offset, std::span<std::uint8_t> out) const {
  if (out.empty()) return;
  const std::size_t at = index(offset);
  const std::size_t first = std::min(out.size(), capacity_ - at);
  std::memcpy(out.data(), data_.get() + at, first);
  std::memcpy(out.data() + first, data_.get(), out.size() - first);
}

std::size_t ByteRing::push(std::span<const std::uint8_t> data) {
  const std::size_t n = std::min(data.size(), free_space());
  copy_in(size_, data.first(n));
  size_ += n;
  return n;
}

std::size_t ByteRing::pop(std::span<std::uint8_t> out) {
  const std::size_t n = peek(0, out);
  consume(n);
  return n;
}

std::size_t ByteRing::peek(std::size_t offset, std::span<std::uint8_t> out) const {
  if (offset >= size_) return 0;
  const std::size_t n = std::min(out.size(), size_ - offset);
  copy_out(offset, out.first(n));
  return n;
}

void ByteRing::consume(std::size_t n) {
  assert(n <= size_);
  n = std::min(n, size_);
  size_ -= n;
  // The head only ever moves by what was consumed, also when the ring empties:
  // bytes stored past the tail by write_at() (out-of-order TCP data) keep their
  // place relative to it.
  head_ = capacity_ == 0 ? 0 : index(n);
}

std::pair<ByteRing::Piece, ByteRing::Piece> ByteRing::view(std::size_t offset,
                                                           std::size_t len) const {
  if (offset >= size_) return {};
  len = std::min(len, size_ - offset);
  const std::size_t at = index(offset);
  const std::size_t first = std::min(len, capacity_ - at);
  return {Piece(data_.get() + at, first), Piece(data_.get(), len - first)};
}

std::size_t ByteRing::write_at(std::size_t offset_from_tail,
                               std::span<const std::uint8_t> data) {
  if (offset_from_tail >= free_space()) return 0;
  const std::size_t n = std::min(data.size(), free_space() - offset_from_tail);
  copy_in(size_ + offset_from_tail, data.first(n));
  return n;
}

void ByteRing::commit(std::size_t n) {
  assert(n <= free_space());
  size_ += std::min(n, free_space());
}

}  // namespace utcp::stack
