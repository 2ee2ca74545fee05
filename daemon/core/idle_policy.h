// When an engine loop sleeps and for how long (DESIGN.md §3 "Idle engines sleep"):
// spin a few empty rounds after work, then sleep until the engine's next deadline.
// A queue without RX interrupts is polled after sleeps growing 1 -> 8 ms. Pure.
#pragma once

#include <cstdint>

#include "stack/base/time.h"

namespace utcp::daemon {

struct IdleConfig {
  bool busy_poll = false;     // --poll busy: never sleep
  bool rx_interrupts = true;  // the queue's wakeup fd covers device RX
  int spin_rounds = 64;       // empty rounds before sleeping: work often comes in bursts
  int poll_sleep_min_ms = 1;  // without interrupts: ~1000 wake-ups/s at worst, a few %
  int poll_sleep_max_ms = 8;  //   of a CPU; the first frame after idling waits <= 8 ms
};

class IdlePolicy {
 public:
  explicit IdlePolicy(const IdleConfig& cfg) : cfg_(cfg), poll_sleep_ms_(cfg.poll_sleep_min_ms) {}

  // After each round: work > 0 resets the spin. Returns true when the loop should sleep.
  bool after_round(std::size_t work);
  // The epoll_wait timeout in ms for a sleep starting at now with the engine's next
  // deadline (-1: until woken). Rounded up so a timer is never run early in a loop.
  int sleep_timeout_ms(stack::Instant now, stack::Instant deadline);

 private:
  IdleConfig cfg_;
  int idle_rounds_ = 0;
  int poll_sleep_ms_;
};

}  // namespace utcp::daemon
