// The engine loop's sleep decisions (read idle_policy.h first). Kept apart from the
// loop so the arithmetic (rounding, kNever, backoff) is unit-tested without threads.
#include "daemon/core/idle_policy.h"

#include <algorithm>

namespace utcp::daemon {

bool IdlePolicy::after_round(std::size_t work) {
  if (work > 0) {
    idle_rounds_ = 0;
    poll_sleep_ms_ = cfg_.poll_sleep_min_ms;
    return false;
  }
  if (cfg_.busy_poll || ++idle_rounds_ < cfg_.spin_rounds) return false;
  idle_rounds_ = 0;
  return true;
}

int IdlePolicy::sleep_timeout_ms(stack::Instant now, stack::Instant deadline) {
  // An int of ms holds ~24 days; a deadline further out is the same as none.
  constexpr std::int64_t kMaxMs = 24LL * 24 * 3600 * 1000;
  int timeout = -1;
  if (deadline != stack::kNever) {
    const std::int64_t us = std::max<std::int64_t>(stack::to_us(deadline) - stack::to_us(now), 0);
    timeout = static_cast<int>(std::min((us + 999) / 1000, kMaxMs));
  }
  if (!cfg_.rx_interrupts) {
    timeout = timeout < 0 ? poll_sleep_ms_ : std::min(timeout, poll_sleep_ms_);
    poll_sleep_ms_ = std::min(poll_sleep_ms_ * 2, cfg_.poll_sleep_max_ms);
  }
  return timeout;
}

}  // namespace utcp::daemon
