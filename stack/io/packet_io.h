// PacketIo: the seam between the stack and a packet device (DESIGN.md §2).
// dpdk_io implements it over an RX/TX queue pair; stack/io/memory_link implements
// it in memory for tests; stack/io/fault_injector wraps any PacketIo to impair it.
// Ownership: a PacketBuf comes from alloc() or rx_burst() and goes back exactly once,
// through free() or by being accepted by tx_burst().
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

#include "stack/base/time.h"
#include "stack/wire/addresses.h"

namespace utcp::stack::io {

// One frame. The struct lives in storage owned by the PacketIo (for DPDK: the
// mbuf's private area), so handing it around never allocates.
struct PacketBuf {
  std::uint8_t* data = nullptr;  // first byte of the Ethernet frame
  std::uint32_t len = 0;         // frame length in bytes
  std::uint32_t capacity = 0;    // bytes writable from data

  // Set by the device on receive.
  std::uint32_t rss_hash = 0;
  bool rss_hash_valid = false;
  bool rx_ip_checksum_ok = false;  // device verified the IPv4 header checksum
  bool rx_l4_checksum_ok = false;  // device verified the TCP checksum

  // Requests to the device on transmit (only when the capability is present).
  bool tx_ip_checksum = false;  // device fills the IPv4 header checksum
  bool tx_l4_checksum = false;  // device fills the TCP checksum (field holds pseudo sum)
  std::uint16_t tso_segsz = 0;  // nonzero: device segments the payload into this MSS
  std::uint8_t l2_len = 0;
  std::uint8_t l3_len = 0;
  std::uint8_t l4_len = 0;

  void* owner = nullptr;  // the implementation's handle (mbuf, slot index)

  std::span<std::uint8_t> bytes() { return {data, len}; }
  std::span<const std::uint8_t> bytes() const { return {data, len}; }
};

struct IoCapabilities {
  wire::MacAddr mac;
  std::uint16_t mtu = 1500;  // IPv4 MTU: largest IP datagram the wire carries
  bool rx_ip_checksum = false;
  bool rx_l4_checksum = false;
  bool tx_ip_checksum = false;
  bool tx_l4_checksum = false;
  bool tso = false;
  std::uint32_t tso_max_bytes = 0;
};

class PacketIo {
 public:
  virtual ~PacketIo() = default;

  // Moves up to out.size() received frames into out; returns how many.
  virtual std::size_t rx_burst(std::span<PacketBuf*> out, Instant now) = 0;
  // Offers frames to the device; returns how many it took (a prefix of pkts).
  // The caller still owns the rest and must retry or free them.
  virtual std::size_t tx_burst(std::span<PacketBuf* const> pkts, Instant now) = 0;
  // A buffer of at least capacity bytes, or nullptr when the pool is empty.
  virtual PacketBuf* alloc() = 0;
  virtual void free(PacketBuf* pkt) = 0;
  virtual const IoCapabilities& capabilities() const = 0;
  // The earliest time this device holds something to deliver (a delayed frame);
  // kNever when it has nothing pending.
  virtual Instant next_deadline() const { return kNever; }
};

}  // namespace utcp::stack::io
