// When an engine loop sleeps and for how long (DESIGN.md §3 "Idle engines sleep"):
// spin a few empty rounds after work, then sleep until the engine's next deadline.
// A queue without RX interrupts (memif) is polled after sleeps growing 20 us -> 8 ms:
// a first sleep of a millisecond capped a busy memif wire at a 64 KiB window per ms
// (bulk ~180 MB/s) and left request/response traffic waiting. Pure.
#pragma once

#include <cstdint>

#include "stack/base/time.h"

namespace utcp::daemon {

struct IdleConfig {
  bool busy_poll = false;     // --poll busy: never sleep
  bool rx_interrupts = true;  // the queue's wakeup fd covers device RX
  int spin_rounds = 64;       // empty rounds before sleeping: work often comes in bursts
  // Without interrupts: short sleeps while traffic is likely to come back at once (a
  // peer's ACK or answer is tens of microseconds away), then backing off to 8 ms, so an
  // idle engine wakes ~125 times a second and the first frame after idling waits <= 8 ms.
  std::int64_t poll_sleep_min_us = 20;
  std::int64_t poll_sleep_max_us = 8000;
};

class IdlePolicy {
 public:
  explicit IdlePolicy(const IdleConfig& cfg) : cfg_(cfg), poll_sleep_us_(cfg.poll_sleep_min_us) {}

  // After each round: work > 0 resets the spin. Returns true when the loop should sleep.
  bool after_round(std::size_t work);
  // The sleep's timeout in microseconds for a sleep starting at now with the engine's
  // next deadline (-1: until woken). Never before the deadline: a timer is not run early.
  std::int64_t sleep_timeout_us(stack::Instant now, stack::Instant deadline);

 private:
  IdleConfig cfg_;
  int idle_rounds_ = 0;
  std::int64_t poll_sleep_us_;
};

}  // namespace utcp::daemon
