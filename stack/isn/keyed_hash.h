// The SipHash inputs shared by isn.cc and syn_cookie.cc: a domain tag byte, then the
// flow fields in network byte order. Distinct tags keep the uses independent when
// one secret serves all of them (RFC 6528 §3 asks only that F be a keyed PRF).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>

#include "stack/base/siphash.h"
#include "stack/wire/addresses.h"

namespace utcp::stack::isn {

enum class HashDomain : std::uint8_t {
  kIsn = 1,
  kPortOffset = 2,
  kCookieBase = 3,
  kCookieClass = 4,
  kReusePort = 5,  // which listener of a SO_REUSEPORT group gets a flow
  kTsOffset = 6,
};

// A fixed-size buffer filled front to back; no allocation.
class HashInput {
 public:
  explicit HashInput(HashDomain domain) { bytes_[len_++] = static_cast<std::uint8_t>(domain); }

  HashInput& u8(std::uint8_t v) {
    bytes_[len_++] = v;
    return *this;
  }
  HashInput& u16(std::uint16_t v) {
    return u8(static_cast<std::uint8_t>(v >> 8)).u8(static_cast<std::uint8_t>(v));
  }
  HashInput& u32(std::uint32_t v) {
    return u16(static_cast<std::uint16_t>(v >> 16)).u16(static_cast<std::uint16_t>(v));
  }
  HashInput& endpoint(const wire::Endpoint& e) { return u32(e.addr.value).u16(e.port); }

  std::uint64_t hash(const SipKey& key) const {
    return siphash24(key, std::span<const std::uint8_t>(bytes_.data(), len_));
  }

 private:
  std::array<std::uint8_t, 32> bytes_{};
  std::size_t len_ = 0;
};

}  // namespace utcp::stack::isn
