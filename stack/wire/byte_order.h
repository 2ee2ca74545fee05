// Big-endian loads and stores for the wire/ parsers and emitters: the only place
// network byte order is converted. Callers have checked the length first (every
// view's check() does), so these never bounds-check. memcpy keeps them free of
// alignment and aliasing assumptions.
#pragma once

#include <cstdint>
#include <cstring>

#include "stack/wire/addresses.h"

namespace utcp::stack::wire {

inline std::uint16_t load_be16(const std::uint8_t* p) {
  return static_cast<std::uint16_t>((p[0] << 8) | p[1]);
}

inline std::uint32_t load_be32(const std::uint8_t* p) {
  return (std::uint32_t{p[0]} << 24) | (std::uint32_t{p[1]} << 16) |
         (std::uint32_t{p[2]} << 8) | std::uint32_t{p[3]};
}

inline void store_be16(std::uint8_t* p, std::uint16_t v) {
  p[0] = static_cast<std::uint8_t>(v >> 8);
  p[1] = static_cast<std::uint8_t>(v);
}

inline void store_be32(std::uint8_t* p, std::uint32_t v) {
  p[0] = static_cast<std::uint8_t>(v >> 24);
  p[1] = static_cast<std::uint8_t>(v >> 16);
  p[2] = static_cast<std::uint8_t>(v >> 8);
  p[3] = static_cast<std::uint8_t>(v);
}

inline MacAddr load_mac(const std::uint8_t* p) {
  MacAddr m;
  std::memcpy(m.bytes.data(), p, m.bytes.size());
  return m;
}

inline void store_mac(std::uint8_t* p, const MacAddr& m) {
  std::memcpy(p, m.bytes.data(), m.bytes.size());
}

inline Ipv4Addr load_ipv4(const std::uint8_t* p) { return Ipv4Addr{load_be32(p)}; }
inline void store_ipv4(std::uint8_t* p, Ipv4Addr a) { store_be32(p, a.value); }

}  // namespace utcp::stack::wire
