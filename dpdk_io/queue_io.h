// Internal: one engine's PacketIo over its queue pair and mempool, plus what engines
// share for software steering and idle sleep. Read stack/io/packet_io.h, steering.h.
// Invariants: a QueueIo is used only by its engine's thread (except counters() and
// the Sleeper flag); ring (from, to) has one producer (from) and one consumer (to).
#pragma once

#include <rte_mbuf.h>
#include <rte_mempool.h>
#include <rte_ring.h>

#include <array>
#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "dpdk_io/dpdk_port.h"
#include "dpdk_io/steering.h"
#include "stack/io/packet_io.h"

namespace utcp::dpdk_io {

inline constexpr std::uint16_t kBurst = 32;

// Owner-written counters: a relaxed load + store, no locked instruction, because
// only the engine's own thread writes them.
struct CounterCells {
  std::atomic<std::uint64_t> rx_packets{0}, rx_bytes{0}, tx_packets{0}, tx_bytes{0};
  std::atomic<std::uint64_t> rx_dropped{0}, tx_refused{0}, tx_dropped{0};
  std::atomic<std::uint64_t> steered_out{0}, steered_in{0}, steer_ring_full{0};
  std::atomic<std::uint64_t> alloc_failures{0}, arp_copies{0};

  QueueCounters snapshot() const;
};

inline void bump(std::atomic<std::uint64_t>& cell, std::uint64_t n = 1) {
  cell.store(cell.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
}

// The part of an engine others touch: "I am going to sleep" and the doorbell that
// wakes it when another engine hands it packets. Own cache line, so producers
// polling it do not disturb the engine's hot state.
struct alignas(64) Sleeper {
  std::atomic<bool> sleeping{false};
  int doorbell = -1;  // eventfd
};

// Shared by all engines of a port; owned by the port.
struct Fabric {
  std::uint16_t engines = 1;
  RssMode mode = RssMode::kSingleQueue;
  // Set by an engine that saw the device's hash disagree with ours; from then on
  // every engine hashes TCP in software.
  std::atomic<bool> device_hash_untrusted{false};
  std::unique_ptr<Steering> steering;
  std::vector<rte_ring*> rings;  // rings[from * engines + to]; empty for one engine
  std::unique_ptr<Sleeper[]> sleepers;

  rte_ring* ring(std::uint16_t from, std::uint16_t to) const { return rings[from * engines + to]; }
};

struct QueueConfig {
  std::uint16_t port_id = 0;
  std::uint16_t engine = 0;
  rte_mempool* pool = nullptr;
  stack::io::IoCapabilities caps;
  int rx_intr_fd = -1;  // -1: the device cannot interrupt on this queue
  // net_tap: the PMD reads a queue's fd only after its rx signal handler ran (an
  // rt-signal sent on every frame, "tap_trigger"). Sent to the whole process, it can
  // run on another thread after the engine woke from epoll: the engine reads nothing
  // and sleeps with the frame queued. Directed at the engine's own thread, it is
  // pending before the epoll wake-up (the kernel signals first) and runs first.
  bool rx_signal_to_engine = false;
};

class QueueIo final : public stack::io::PacketIo {
 public:
  QueueIo(const QueueConfig& cfg, Fabric* fabric);
  ~QueueIo() override;
  QueueIo(const QueueIo&) = delete;
  QueueIo& operator=(const QueueIo&) = delete;

  std::size_t rx_burst(std::span<stack::io::PacketBuf*> out, stack::Instant now) override;
  std::size_t tx_burst(std::span<stack::io::PacketBuf* const> pkts, stack::Instant now) override;
  stack::io::PacketBuf* alloc() override;
  void free(stack::io::PacketBuf* pkt) override;
  const stack::io::IoCapabilities& capabilities() const override { return caps_; }

  // Creates the epoll set (device interrupt fd + doorbell); false and *error if not.
  bool open_wakeup(std::string* error);
  // Called on the engine's thread before it starts (see rx_signal_to_engine).
  void adopt_thread();
  int wakeup_fd() const { return epoll_fd_; }
  bool prepare_sleep();
  void finish_sleep(bool woken = true);

  QueueCounters counters() const { return cells_.snapshot(); }
  // Frees what this engine still holds (stash, packets steered to it). Close path.
  void release();

 private:
  void dispatch(rte_mbuf* m, std::span<stack::io::PacketBuf*> out, std::size_t& n);
  void hand_over(std::uint16_t owner, rte_mbuf* m);
  void copy_to_others(rte_mbuf* m);
  void flush_handovers();
  void deliver(stack::io::PacketBuf* pb, std::span<stack::io::PacketBuf*> out, std::size_t& n);
  std::size_t drain_rings(std::span<stack::io::PacketBuf*> out);
  bool ring_pending() const;
  void set_interrupt(bool on);

  std::uint16_t port_id_;
  std::uint16_t engine_;
  rte_mempool* pool_;
  stack::io::IoCapabilities caps_;
  int rx_intr_fd_;
  bool rx_signal_to_engine_;
  int epoll_fd_ = -1;
  Fabric* fabric_;
  std::uint32_t verify_left_ = 64;  // device hashes still to check against ours

  // Frames received by prepare_sleep's last look, returned by the next rx_burst.
  std::array<rte_mbuf*, kBurst> stash_{};
  std::uint16_t stash_len_ = 0;
  // Frames for other engines, collected during one rx_burst and enqueued together.
  std::vector<std::array<rte_mbuf*, kBurst * 2>> handover_;
  std::vector<std::uint16_t> handover_len_;

  CounterCells cells_;
};

}  // namespace utcp::dpdk_io
