// Mailbox: what the control thread tells one engine (a new region or channel, a
// socket whose last app reference closed, a process that died). Both ends are daemon
// threads, so a mutex is fine here; the engine takes it only when `pending` says
// there is mail, so an idle mailbox costs one relaxed load per round.
// The engine announces its sleeps here too, so the control thread rings its doorbell
// (a syscall and a wake-up) only for an engine that may be asleep: the engine sets
// `asleep` and then looks at `pending`; the poster sets `pending` and then looks at
// `asleep` (both seq_cst), so one of them sees the other.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <vector>

#include "daemon/core/region.h"

namespace utcp::daemon {

struct EngineMsg {
  enum class Kind : std::uint8_t {
    kChannelUp,    // channel joined `region` (the engine adds the region on first sight)
    kPlaceholder,  // the app registered the placeholder of (slot, generation)
    kRelease,      // the placeholder's last reference closed: close like the kernel
    kChannelGone,  // the process died: release what only it held, stop writing to it
    kFamilyOver,   // no process and no placeholder left: nothing of `region` may stay
  };
  Kind kind = Kind::kChannelUp;
  std::shared_ptr<Region> region;
  std::uint32_t channel = 0;
  std::uint32_t slot = 0;
  std::uint32_t generation = 0;
};

class Mailbox {
 public:
  // Returns whether the engine may be asleep (then ring its doorbell).
  bool post(EngineMsg msg) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      msgs_.push_back(std::move(msg));
      pending_.store(true, std::memory_order_seq_cst);
    }
    return asleep_.load(std::memory_order_seq_cst);
  }
  // Takes everything posted so far (empty when nothing is pending).
  std::vector<EngineMsg> take() {
    std::vector<EngineMsg> out;
    if (!pending_.load(std::memory_order_acquire)) return out;
    std::lock_guard<std::mutex> lock(mu_);
    out.swap(msgs_);
    pending_.store(false, std::memory_order_relaxed);
    return out;
  }
  bool pending() const { return pending_.load(std::memory_order_acquire); }

  // The engine, before sleeping: false when mail arrived (do not sleep).
  bool prepare_sleep() {
    asleep_.store(true, std::memory_order_seq_cst);
    return !pending_.load(std::memory_order_seq_cst);
  }
  void finish_sleep() { asleep_.store(false, std::memory_order_relaxed); }

 private:
  std::mutex mu_;
  std::vector<EngineMsg> msgs_;
  std::atomic<bool> pending_{false};
  std::atomic<bool> asleep_{false};
};

}  // namespace utcp::daemon
