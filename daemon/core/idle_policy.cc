// The engine loop's sleep decisions (read idle_policy.h first). Kept apart from the
// loop so the arithmetic (rounding, kNever, backoff) is unit-tested without threads.
#include "daemon/core/idle_policy.h"

#include <algorithm>

namespace utcp::daemon {

bool IdlePolicy::after_round(std::size_t work) {
  if (work > 0) {
    idle_rounds_ = 0;
    poll_sleep_us_ = cfg_.poll_sleep_min_us;
    return false;
  }
  if (cfg_.busy_poll || ++idle_rounds_ < cfg_.spin_rounds) return false;
  idle_rounds_ = 0;
  return true;
}

std::int64_t IdlePolicy::sleep_timeout_us(stack::Instant now, stack::Instant deadline) {
  std::int64_t timeout = -1;
  if (deadline != stack::kNever) {
    timeout = std::max<std::int64_t>(stack::to_us(deadline) - stack::to_us(now), 0);
  }
  if (!cfg_.rx_interrupts) {
    timeout = timeout < 0 ? poll_sleep_us_ : std::min(timeout, poll_sleep_us_);
    poll_sleep_us_ = std::min(poll_sleep_us_ * 2, cfg_.poll_sleep_max_us);
  }
  return timeout;
}

}  // namespace utcp::daemon
