// MemoryLink: a point-to-point Ethernet wire in memory with a PacketIo at each end,
// for unit tests. It performs the offloads it advertises in software (soft_offload.h).
// Invariants: each direction holds at most queue_limit frames; each end's pool holds
// pool_size buffers; a buffer is owned by exactly one of: a pool, a queue, the caller.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "stack/io/packet_io.h"
#include "stack/wire/addresses.h"

namespace utcp::stack::io {

struct MemoryLinkConfig {
  std::size_t pool_size = 4096;  // buffers per end; alloc() returns nullptr when empty
  std::uint32_t buffer_size = 2048;
  std::uint16_t mtu = 1500;
  wire::MacAddr mac_a{{0x02, 0, 0, 0, 0, 0x01}}, mac_b{{0x02, 0, 0, 0, 0, 0x02}};
  std::size_t queue_limit = 4096;  // frames in flight per direction; tx_burst takes only what fits
  IoCapabilities caps_template{};  // offload flags each end advertises (mac/mtu overwritten)
};

// Buffers belong to the link, not to an end: a frame b received may be freed or
// transmitted back by b although a's pool holds it, as with a shared DPDK mempool.
// Freeing a buffer twice or one the link never gave out aborts the process: that is a
// caller bug a test must not survive silently.
class MemoryLink {
 public:
  explicit MemoryLink(const MemoryLinkConfig& cfg);
  ~MemoryLink();
  MemoryLink(const MemoryLink&) = delete;
  MemoryLink& operator=(const MemoryLink&) = delete;

  PacketIo& a();  // frames a transmits arrive at b's rx_burst, and the other way
  PacketIo& b();

  struct Stats {
    std::uint64_t a_to_b = 0, b_to_a = 0;  // frames delivered into a queue (TSO: per segment)
    std::uint64_t refused = 0;             // frames tx_burst did not take
  };
  const Stats& stats() const { return stats_; }
  std::size_t buffers_in_use() const;  // over both ends: lets tests prove no buffer leaked

 private:
  class Pool;
  class Queue;
  class End;

  void check_owned(const PacketBuf* pkt) const;
  Pool* pool_of(const PacketBuf* pkt) const;

  MemoryLinkConfig cfg_;
  Stats stats_;
  std::unique_ptr<Pool> pool_a_, pool_b_;
  std::unique_ptr<Queue> to_b_, to_a_;
  std::unique_ptr<End> end_a_, end_b_;
};

}  // namespace utcp::stack::io
