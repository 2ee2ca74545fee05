// Toeplitz receive-side scaling (Microsoft "RSS hashing types"; DESIGN.md §3 "Per-core
// engines and RSS"): the NIC's hash, a software mirror of its redirection table, and
// the local-port choice that makes a connect()'s replies land on the calling engine.
// Invariants: hashing matches the NIC bit for bit; a Reta's size is a power of two.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <vector>

#include "stack/wire/addresses.h"

namespace utcp::stack::rss {

inline constexpr std::size_t kKeyLen = 40;
using Key = std::array<std::uint8_t, kKeyLen>;

// 0x6d,0x5a repeated: hash(src,dst,sport,dport) == hash(dst,src,dport,sport), so both
// directions of a flow reach the same queue (Woo & Park, "Scalable TCP Session
// Monitoring with Symmetric Receive-side Scaling", 2012).
Key symmetric_key();
// The key of Microsoft's RSS verification suite (and many NICs' default).
Key microsoft_key();

// The Toeplitz hash of input under key; input longer than kKeyLen - 4 bytes is
// hashed as if the key were zero-extended.
std::uint32_t toeplitz(const Key& key, std::span<const std::uint8_t> input);

// NIC input order: src addr, dst addr, src port, dst port, network byte order.
std::uint32_t hash_ipv4_tcp(const Key& key, wire::Ipv4Addr src, wire::Ipv4Addr dst,
                            std::uint16_t sport, std::uint16_t dport);
// The IPv4-only hash type (src addr, dst addr): what NICs use for non-TCP/UDP packets.
std::uint32_t hash_ipv4(const Key& key, wire::Ipv4Addr src, wire::Ipv4Addr dst);

// Software mirror of a redirection table: hash -> queue (= engine) index by the low
// bits of the hash, like NICs. The size must be a power of two.
class Reta {
 public:
  Reta();  // 1 entry -> queue 0
  // Round-robin fill like DPDK's default. Throws std::invalid_argument when size is
  // not a power of two or queues is 0.
  Reta(std::size_t size, std::uint16_t queues);
  // Throws std::invalid_argument when the size is not a power of two.
  explicit Reta(std::vector<std::uint16_t> table);

  std::uint16_t queue_for(std::uint32_t hash) const { return table_[hash & mask_]; }
  std::size_t size() const { return table_.size(); }
  std::uint16_t queues() const { return queues_; }  // highest entry + 1
  std::span<const std::uint16_t> table() const { return table_; }

 private:
  std::vector<std::uint16_t> table_;
  std::uint32_t mask_ = 0;
  std::uint16_t queues_ = 1;
};

// A local port in [lo, hi] such that packets remote->local hash to queue `engine`
// through reta and is_free(port) holds. The scan starts at `hint` (the caller
// randomises it, RFC 6056 §3.3.3) and wraps; nullopt when none qualifies.
std::optional<std::uint16_t> pick_local_port(const Key& key, const Reta& reta,
                                             std::uint16_t engine, wire::Ipv4Addr local,
                                             wire::Endpoint remote, std::uint16_t lo,
                                             std::uint16_t hi, std::uint16_t hint,
                                             const std::function<bool(std::uint16_t)>& is_free);

}  // namespace utcp::stack::rss
