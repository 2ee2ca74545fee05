// ByteReader: the fuzz input read front to back as small integers. Past the end every
// read returns 0, so any input is a complete program, and a mutation changes only the
// operations whose bytes it touched (unlike FuzzedDataProvider, which reads integers
// from the back and so shifts every later decision when the input grows).
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

namespace utcp::fuzz {

class ByteReader {
 public:
  explicit ByteReader(std::span<const std::uint8_t> data) : data_(data) {}

  bool done() const { return pos_ >= data_.size(); }
  std::size_t remaining() const { return done() ? 0 : data_.size() - pos_; }

  std::uint8_t u8() { return done() ? 0 : data_[pos_++]; }
  std::uint16_t u16() {
    const auto hi = u8();
    return static_cast<std::uint16_t>((hi << 8) | u8());
  }
  std::uint32_t u32() {
    const std::uint32_t hi = u16();
    return (hi << 16) | u16();
  }
  // Up to n bytes as they are (fewer at the end of the input).
  std::span<const std::uint8_t> bytes(std::size_t n) {
    const std::size_t k = n < remaining() ? n : remaining();
    const std::span<const std::uint8_t> out = data_.subspan(pos_, k);
    pos_ += k;
    return out;
  }

 private:
  std::span<const std::uint8_t> data_;
  std::size_t pos_ = 0;
};

}  // namespace utcp::fuzz
