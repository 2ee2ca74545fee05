// RFC 1071 Internet checksum with a 64-bit accumulator, 8 bytes per step.
// RFC 1071 §2(B): the ones-complement sum is independent of byte order, so words
// are summed in host order and the folded result is byte-swapped once at the end.
// Invariant: every function returns a value that fits in 16 bits.
#include "stack/wire/checksum.h"

#include <bit>
#include <cstring>

namespace utcp::stack::wire {
namespace {

// Adds with end-around carry (RFC 1071 §1: "any overflow ... is added back").
std::uint64_t add_carry(std::uint64_t sum, std::uint64_t word) {
  sum += word;
  return sum + (sum < word ? 1 : 0);
}

std::uint32_t fold64(std::uint64_t sum) {
  sum = (sum & 0xffffffffu) + (sum >> 32);
  sum = (sum & 0xffffffffu) + (sum >> 32);
  return checksum_reduce(static_cast<std::uint32_t>(sum));
}

std::uint16_t host_to_big16(std::uint32_t v) {
  const auto w = static_cast<std::uint16_t>(v);
  if constexpr (std::endian::native == std::endian::little) {
    return static_cast<std::uint16_t>((w >> 8) | (w << 8));
  } else {
    return w;
  }
}

}  // namespace

std::uint32_t checksum_partial(std::span<const std::uint8_t> bytes, std::uint32_t initial) {
  const std::uint8_t* p = bytes.data();
  std::size_t n = bytes.size();
  std::uint64_t sum = 0;
  while (n >= 8) {
    std::uint64_t word;
    std::memcpy(&word, p, sizeof word);
    sum = add_carry(sum, word);
    p += 8;
    n -= 8;
  }
  if (n > 0) {
    // The zero padding after an odd last byte makes it the high byte of its
    // big-endian word, as RFC 1071 §4.1 requires.
    std::uint64_t word = 0;
    std::memcpy(&word, p, n);
    sum = add_carry(sum, word);
  }
  const std::uint32_t data_sum = host_to_big16(fold64(sum));
  return checksum_reduce(data_sum + checksum_reduce(initial));
}

std::uint16_t checksum_reduce(std::uint32_t sum) {
  sum = (sum & 0xffffu) + (sum >> 16);
  sum = (sum & 0xffffu) + (sum >> 16);
  return static_cast<std::uint16_t>(sum);
}

std::uint16_t checksum_fold(std::uint32_t sum) {
  return static_cast<std::uint16_t>(~checksum_reduce(sum));
}

std::uint32_t pseudo_header_sum(Ipv4Addr src, Ipv4Addr dst, std::uint8_t protocol,
                                std::uint16_t l4_len) {
  std::uint32_t sum = (src.value >> 16) + (src.value & 0xffffu);
  sum += (dst.value >> 16) + (dst.value & 0xffffu);
  sum += protocol;
  sum += l4_len;
  return checksum_reduce(sum);
}

}  // namespace utcp::stack::wire
