// Toeplitz hashing and RSS queue selection, bit-compatible with NICs (Microsoft,
// "RSS hashing functions" and "Verifying the RSS Hash Calculation"; Intel 82599
// datasheet §7.1.2.8). Invariant: hash input is in network byte order.
#include "stack/rss/rss.h"

#include <algorithm>
#include <bit>
#include <stdexcept>
#include <utility>

namespace utcp::stack::rss {
namespace {

void put_be32(std::uint8_t* p, std::uint32_t v) {
  p[0] = static_cast<std::uint8_t>(v >> 24);
  p[1] = static_cast<std::uint8_t>(v >> 16);
  p[2] = static_cast<std::uint8_t>(v >> 8);
  p[3] = static_cast<std::uint8_t>(v);
}

void put_be16(std::uint8_t* p, std::uint16_t v) {
  p[0] = static_cast<std::uint8_t>(v >> 8);
  p[1] = static_cast<std::uint8_t>(v);
}

// Key byte i, zero past the end of the key.
std::uint64_t key_byte(const Key& key, std::size_t i) { return i < key.size() ? key[i] : 0; }

// DPDK's default redirection table: entry i -> queue i % queues.
std::vector<std::uint16_t> round_robin(std::size_t size, std::uint16_t queues) {
  if (queues == 0) throw std::invalid_argument("rss::Reta: zero queues");
  std::vector<std::uint16_t> table(size);
  for (std::size_t i = 0; i < size; ++i) table[i] = static_cast<std::uint16_t>(i % queues);
  return table;
}

}  // namespace

Key symmetric_key() {
  Key key{};
  for (std::size_t i = 0; i < key.size(); ++i) key[i] = i % 2 == 0 ? 0x6d : 0x5a;
  return key;
}

Key microsoft_key() {
  return {0x6d, 0x5a, 0x56, 0xda, 0x25, 0x5b, 0x0e, 0xc2, 0x41, 0x67,
          0x25, 0x3d, 0x43, 0xa3, 0x8f, 0xb0, 0xd0, 0xca, 0x2b, 0xcb,
          0xae, 0x7b, 0x30, 0xb4, 0x77, 0xcb, 0x2d, 0xa3, 0x80, 0x30,
          0xf2, 0x0c, 0x6a, 0x42, 0xb7, 0x3b, 0xbe, 0xac, 0x01, 0xfa};
}

// For every set input bit i (MSB first), XOR in the 32 key bits starting at bit i.
// `window` holds the next 64 key bits; its top 32 are the ones for the current bit.
std::uint32_t toeplitz(const Key& key, std::span<const std::uint8_t> input) {
  std::uint64_t window = 0;
  for (std::size_t i = 0; i < 8; ++i) window = (window << 8) | key_byte(key, i);
  std::uint32_t hash = 0;
  for (std::size_t i = 0; i < input.size(); ++i) {
    for (int bit = 7; bit >= 0; --bit) {
      if ((input[i] >> bit) & 1u) hash ^= static_cast<std::uint32_t>(window >> 32);
      window <<= 1;
    }
    window |= key_byte(key, i + 8);
  }
  return hash;
}

std::uint32_t hash_ipv4_tcp(const Key& key, wire::Ipv4Addr src, wire::Ipv4Addr dst,
                            std::uint16_t sport, std::uint16_t dport) {
  std::uint8_t input[12];
  put_be32(input, src.value);
  put_be32(input + 4, dst.value);
  put_be16(input + 8, sport);
  put_be16(input + 10, dport);
  return toeplitz(key, input);
}

std::uint32_t hash_ipv4(const Key& key, wire::Ipv4Addr src, wire::Ipv4Addr dst) {
  std::uint8_t input[8];
  put_be32(input, src.value);
  put_be32(input + 4, dst.value);
  return toeplitz(key, input);
}

Reta::Reta() : table_{0} {}

Reta::Reta(std::size_t size, std::uint16_t queues) : Reta(round_robin(size, queues)) {}

Reta::Reta(std::vector<std::uint16_t> table) : table_(std::move(table)) {
  if (table_.empty() || !std::has_single_bit(table_.size()) || table_.size() > (1u << 16)) {
    throw std::invalid_argument("rss::Reta: size must be a power of two");
  }
  mask_ = static_cast<std::uint32_t>(table_.size() - 1);
  std::uint16_t highest = 0;
  for (const std::uint16_t q : table_) highest = std::max(highest, q);
  queues_ = static_cast<std::uint16_t>(highest + 1);
}

std::optional<std::uint16_t> pick_local_port(const Key& key, const Reta& reta,
                                             std::uint16_t engine, wire::Ipv4Addr local,
                                             wire::Endpoint remote, std::uint16_t lo,
                                             std::uint16_t hi, std::uint16_t hint,
                                             const std::function<bool(std::uint16_t)>& is_free) {
  if (lo > hi) return std::nullopt;
  const std::uint32_t range = std::uint32_t{hi} - lo + 1;
  const std::uint32_t start = (std::uint32_t{hint} + range - lo % range) % range;
  for (std::uint32_t i = 0; i < range; ++i) {
    const auto port = static_cast<std::uint16_t>(lo + (start + i) % range);
    // Replies travel remote -> local: that is the direction the NIC hashes on receive.
    const std::uint32_t hash = hash_ipv4_tcp(key, remote.addr, local, remote.port, port);
    if (reta.queue_for(hash) == engine && is_free(port)) return port;
  }
  return std::nullopt;
}

}  // namespace utcp::stack::rss
