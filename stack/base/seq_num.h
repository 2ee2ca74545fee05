// TCP sequence numbers: 32-bit values compared modulo 2^32 (RFC 9293 §3.4).
// Invariant: comparisons are only meaningful between numbers less than 2^31 apart,
// which the window rules guarantee for any two numbers a connection compares.
#pragma once

#include <cstdint>

namespace utcp::stack {

class SeqNum {
 public:
  constexpr SeqNum() = default;
  constexpr explicit SeqNum(std::uint32_t v) : v_(v) {}

  constexpr std::uint32_t raw() const { return v_; }

  constexpr SeqNum operator+(std::uint32_t n) const { return SeqNum(v_ + n); }
  constexpr SeqNum operator-(std::uint32_t n) const { return SeqNum(v_ - n); }
  constexpr SeqNum& operator+=(std::uint32_t n) { v_ += n; return *this; }
  constexpr SeqNum& operator-=(std::uint32_t n) { v_ -= n; return *this; }
  // Signed distance a - b, correct across wrap-around.
  constexpr std::int32_t operator-(SeqNum b) const {
    return static_cast<std::int32_t>(v_ - b.v_);
  }

  friend constexpr bool operator==(SeqNum a, SeqNum b) { return a.v_ == b.v_; }
  friend constexpr bool operator<(SeqNum a, SeqNum b) { return (a - b) < 0; }
  friend constexpr bool operator<=(SeqNum a, SeqNum b) { return (a - b) <= 0; }
  friend constexpr bool operator>(SeqNum a, SeqNum b) { return (a - b) > 0; }
  friend constexpr bool operator>=(SeqNum a, SeqNum b) { return (a - b) >= 0; }

 private:
  std::uint32_t v_ = 0;
};

inline constexpr SeqNum seq_max(SeqNum a, SeqNum b) { return a < b ? b : a; }
inline constexpr SeqNum seq_min(SeqNum a, SeqNum b) { return a < b ? a : b; }

// lo <= x < lo + len, in sequence space.
inline constexpr bool seq_in_window(SeqNum x, SeqNum lo, std::uint32_t len) {
  return static_cast<std::uint32_t>(x.raw() - lo.raw()) < len;
}

// A half-open range [start, end) of sequence space.
struct SeqRange {
  SeqNum start;
  SeqNum end;
  constexpr std::uint32_t length() const { return static_cast<std::uint32_t>(end - start); }
  constexpr bool contains(SeqNum x) const { return start <= x && x < end; }
  friend constexpr bool operator==(const SeqRange&, const SeqRange&) = default;
};

}  // namespace utcp::stack
