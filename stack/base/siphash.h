// SipHash-2-4 (Aumasson & Bernstein, "SipHash: a fast short-input PRF", 2012): the
// keyed PRF behind ISNs (RFC 6528 §3), ephemeral port offsets (RFC 6056 §3.3.3) and
// SYN cookies (RFC 4987 §3.6). Pure function; the key is little-endian k0 || k1.
#pragma once

#include <array>
#include <cstdint>
#include <span>

namespace utcp::stack {

using SipKey = std::array<std::uint8_t, 16>;

std::uint64_t siphash24(const SipKey& key, std::span<const std::uint8_t> data);

}  // namespace utcp::stack
