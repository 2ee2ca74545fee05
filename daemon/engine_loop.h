// The engine threads (DESIGN.md §3): one Engine + Services per queue of the port,
// each on its pinned EAL thread, polling then sleeping on the queue's wakeup fd, its
// own eventfd (stop, counter requests) and its next timer. Read dpdk_io/dpdk_port.h
// first. Invariant: an Engine is touched only by its own thread; the control thread
// sees its counters only through snapshots the engine copies out.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "daemon/core/mailbox.h"
#include "daemon/core/options.h"
#include "daemon/core/stats.h"
#include "dpdk_io/dpdk_port.h"
#include "stack/isn/isn.h"

namespace utcp::daemon {

class EngineLoops {
 public:
  EngineLoops(dpdk_io::Port& port, const Options& opts, const stack::isn::Secret& secret);
  ~EngineLoops();
  EngineLoops(const EngineLoops&) = delete;
  EngineLoops& operator=(const EngineLoops&) = delete;

  bool start(std::string* error);
  // Asks every engine for a snapshot of its counters and waits up to `timeout`;
  // nullopt for an engine that did not answer in time.
  std::vector<std::optional<CounterSnapshot>> collect(std::chrono::milliseconds timeout);
  // The same, whole reports: with_sockets adds every engine's listeners and connections.
  std::vector<std::optional<EngineReport>> collect_reports(std::chrono::milliseconds timeout,
                                                           bool with_sockets);
  // Stops the loops (each engine resets its connections and flushes the RSTs first)
  // and joins them. Returns every engine's final counters.
  std::vector<CounterSnapshot> stop();

  // The control thread's way in: each engine's mailbox, and the eventfd it sleeps on,
  // which apps ring as its doorbell (shim/sleep_flag.h).
  std::vector<Mailbox*> mailboxes() const;
  const std::vector<int>& doorbells() const { return wake_fds_; }

 private:
  void run(std::uint16_t e);
  void wake(std::uint16_t e);
  void publish(std::uint16_t e, EngineReport report, std::uint64_t generation);

  dpdk_io::Port& port_;
  const Options& opts_;
  const stack::isn::Secret secret_;
  const std::uint16_t count_;
  std::vector<int> wake_fds_;  // eventfd per engine: stop, snapshots, mail, app doorbell
  std::vector<std::unique_ptr<Mailbox>> mailboxes_;
  std::atomic<bool> stop_{false};
  std::atomic<std::uint64_t> requested_{0};  // snapshot generation asked for
  std::atomic<bool> want_sockets_{false};    // ... and whether with the sockets
  bool started_ = false;

  std::mutex mu_;  // guards the three vectors below; never held across engine work
  std::condition_variable published_cv_;
  std::vector<EngineReport> snapshots_;
  std::vector<std::uint64_t> served_;  // generation of each engine's last snapshot
  std::vector<bool> exited_;
};

}  // namespace utcp::daemon
