// The Internet checksum (RFC 1071; incremental use per RFC 1624 is not needed here).
// Sums are kept as host integers of the big-endian 16-bit words, so 00 01 f2 03 sums
// to 0xf204 on every host. Invariant: checksum_partial never overflows its result,
// because it returns the sum folded to 16 bits (carries added back).
#pragma once

#include <cstdint>
#include <span>

#include "stack/wire/addresses.h"

namespace utcp::stack::wire {

// The ones-complement sum of `bytes` added to `initial`, folded to 16 bits.
// An odd trailing byte is summed as the high byte of a word padded with zero
// (RFC 1071 §4.1). So a partial sum continues correctly over a second span only if
// every earlier span had an even length; otherwise copy the pieces together first.
std::uint32_t checksum_partial(std::span<const std::uint8_t> bytes, std::uint32_t initial = 0);

// Folds a sum to 16 bits without complementing it: the "pseudo-header sum" a NIC
// with checksum offload expects in the TCP checksum field.
std::uint16_t checksum_reduce(std::uint32_t sum);

// The value to store in a checksum field: the ones-complement of the folded sum.
// Over data that already holds a correct checksum, it yields 0.
std::uint16_t checksum_fold(std::uint32_t sum);

// Sum of the IPv4 pseudo-header (RFC 9293 §3.1): src, dst, zero, protocol, length.
std::uint32_t pseudo_header_sum(Ipv4Addr src, Ipv4Addr dst, std::uint8_t protocol,
                                std::uint16_t l4_len);

}  // namespace utcp::stack::wire
