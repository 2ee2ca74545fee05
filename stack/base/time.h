// Time as the stack sees it. The stack never reads a clock (DESIGN.md §2): every
// entry point takes `now`, and components report their next deadline. Production
// feeds TSC time, tests feed virtual time; both are microseconds since an epoch
// the caller chooses.
#pragma once

#include <chrono>
#include <cstdint>

namespace utcp::stack {

// A clock type with no now(): it only names the time scale.
struct StackClock {
  using rep = std::int64_t;
  using period = std::micro;
  using duration = std::chrono::duration<rep, period>;
  using time_point = std::chrono::time_point<StackClock>;
  static constexpr bool is_steady = true;
};

using Duration = StackClock::duration;
using Instant = StackClock::time_point;

// "Never": a deadline that is not armed.
inline constexpr Instant kNever = Instant::max();

inline constexpr Instant instant_from_us(std::int64_t us) { return Instant(Duration(us)); }
inline constexpr std::int64_t to_us(Instant t) { return t.time_since_epoch().count(); }
inline constexpr std::int64_t to_ms(Instant t) { return to_us(t) / 1000; }

}  // namespace utcp::stack
