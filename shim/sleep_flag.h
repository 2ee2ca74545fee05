// SleepFlag: "wake me only when I sleep" between two processes (DESIGN.md §3 "The
// channel"): the engine writes an app's eventfd, and the app rings the engine's
// doorbell, only when the other side announced that it sleeps, so a busy pair makes
// no syscall at all.
//
// The protocol is Dekker's: the sleeper stores "asleep", then looks at its rings once
// more; the waker publishes into a ring, then looks at the flag. A full fence on both
// sides orders each store before the following load, so at least one of them sees
// the other: either the sleeper finds the new entry and does not sleep, or the waker
// sees the flag and sends the wake-up. Nothing is missed; at worst a wake-up is spare.
//
// The flag lives in shared memory and the other side may be hostile: a flag stuck at
// "asleep" only costs the waker spare wake-ups, a flag stuck at "awake" only makes
// that side's own sleeps end at their timeout.
#pragma once

#include <atomic>
#include <cstdint>

namespace utcp::shim {

struct alignas(64) SleepFlag {
  std::atomic<std::uint32_t> asleep{0};
};

// Sleeper, before its last look at its rings: announces it is about to sleep.
inline void announce_sleep(SleepFlag& f) {
  f.asleep.store(1, std::memory_order_relaxed);
  std::atomic_thread_fence(std::memory_order_seq_cst);
}

// Sleeper, once awake (or when the last look found work).
inline void end_sleep(SleepFlag& f) { f.asleep.store(0, std::memory_order_relaxed); }

// Waker, after publishing into the sleeper's ring: true when it must send the
// wake-up (write the eventfd / doorbell).
inline bool needs_wakeup(const SleepFlag& f) {
  std::atomic_thread_fence(std::memory_order_seq_cst);
  return f.asleep.load(std::memory_order_relaxed) != 0;
}

}  // namespace utcp::shim
