// Region: one process family's shared memory as utcpd holds it (shim/protocol.h): the
// memfd, the daemon's mapping, and each channel's wake-up eventfd. Created by the
// control thread at attach; engines hold it through shared_ptr, so the mapping and the
// fds outlive every engine still looking at it.
//
// The memfd is sealed against shrinking and growing before the app sees it: an app
// that could truncate it would make the daemon fault (SIGBUS) on its next access.
#pragma once

#include <sys/types.h>

#include <array>
#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "shim/protocol.h"

namespace utcp::daemon {

class Region {
 public:
  // A fresh, zero-filled, sealed region; nullptr and *error on failure.
  static std::shared_ptr<Region> create(const shim::Geometry& g, std::uint64_t id, std::string* error);
  ~Region();
  Region(const Region&) = delete;
  Region& operator=(const Region&) = delete;

  std::uint64_t id() const { return id_; }
  int memfd() const { return memfd_; }
  ino_t inode() const { return inode_; }
  const shim::Geometry& geometry() const { return view_.layout().geometry(); }
  const shim::RegionView& view() const { return view_; }

  // The eventfd the engines write to wake channel c (-1: none). Set by the control
  // thread before any engine learns of the channel; closed only after every engine
  // confirmed it stopped using the channel (channel_done).
  int wake_fd(std::uint32_t c) const { return wake_fds_[c].load(std::memory_order_acquire); }
  void set_wake_fd(std::uint32_t c, int fd);
  void close_wake_fd(std::uint32_t c);  // and the proc fd below
  // The /proc/<pid> directory of channel c's process (credentials.h), -1: none. Same
  // life as the wake fd: set before any engine learns of the channel, closed with it.
  int proc_fd(std::uint32_t c) const { return proc_fds_[c].load(std::memory_order_acquire); }
  void set_proc_fd(std::uint32_t c, int fd);
  // What the owner engine granted a slot at bind (daemon-private, never in the shared
  // memory): the port, SO_REUSEPORT and the socket's uid (sk_uid), for the listener
  // shares other engines create at listen(), which must neither re-judge nor trust the
  // app. The uid is only known (read) for a SO_REUSEPORT bind, hence the flag.
  void grant(std::uint32_t slot, std::uint32_t generation, std::uint16_t port, bool reuse_port,
             std::uint32_t uid);
  // The uid granted to (slot, generation) on `port` with that SO_REUSEPORT; nullopt:
  // not granted so.
  std::optional<std::uint32_t> granted(std::uint32_t slot, std::uint32_t generation,
                                       std::uint16_t port, bool reuse_port) const;
  // Engines that still have to let go of channel c after it went away.
  std::atomic<std::uint32_t>& channel_pending(std::uint32_t c) { return pending_[c]; }

 private:
  Region(int memfd, ino_t inode, void* base, std::size_t bytes, const shim::Geometry& g, std::uint64_t id);

  int memfd_;
  ino_t inode_;
  void* base_;
  std::size_t bytes_;
  shim::RegionView view_;
  std::uint64_t id_;
  std::array<std::atomic<int>, shim::kMaxChannels> wake_fds_;
  std::array<std::atomic<std::uint32_t>, shim::kMaxChannels> pending_{};
  std::array<std::atomic<int>, shim::kMaxChannels> proc_fds_;
  struct Grant {
    // generation << 32 | reuse_port << 17 | 1 << 16 | port (0: no grant)
    std::atomic<std::uint64_t> key{0};
    std::atomic<std::uint32_t> uid{0};
  };
  std::unique_ptr<Grant[]> grants_;
};

}  // namespace utcp::daemon
