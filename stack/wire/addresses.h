// Addresses and flow keys. Ipv4Addr and ports are held in host byte order; the
// wire/ parsers and emitters are the only places that convert to network order.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <string>

namespace utcp::stack::wire {

struct MacAddr {
  std::array<std::uint8_t, 6> bytes{};

  static constexpr MacAddr broadcast() { return {{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}}; }
  constexpr bool is_broadcast() const { return *this == broadcast(); }
  constexpr bool is_multicast() const { return (bytes[0] & 0x01) != 0; }
  constexpr bool is_zero() const { return *this == MacAddr{}; }
  std::string to_string() const;
  friend constexpr bool operator==(const MacAddr&, const MacAddr&) = default;
};

struct Ipv4Addr {
  std::uint32_t value = 0;  // host byte order: 198.18.0.1 is 0xc6120001

  static constexpr Ipv4Addr from_octets(std::uint8_t a, std::uint8_t b, std::uint8_t c,
                                        std::uint8_t d) {
    return {(std::uint32_t{a} << 24) | (std::uint32_t{b} << 16) | (std::uint32_t{c} << 8) | d};
  }
  // Parses dotted-quad text; false on anything else.
  static bool parse(const std::string& text, Ipv4Addr& out);
  std::string to_string() const;

  constexpr bool is_unspecified() const { return value == 0; }
  constexpr bool is_broadcast() const { return value == 0xffffffffu; }
  constexpr bool is_multicast() const { return (value >> 28) == 0xe; }
  constexpr bool is_loopback() const { return (value >> 24) == 127; }
  constexpr bool in_subnet(Ipv4Addr net, int prefix_len) const {
    const std::uint32_t mask = prefix_len == 0 ? 0 : ~std::uint32_t{0} << (32 - prefix_len);
    return (value & mask) == (net.value & mask);
  }
  friend constexpr auto operator<=>(const Ipv4Addr&, const Ipv4Addr&) = default;
};

struct Endpoint {
  Ipv4Addr addr;
  std::uint16_t port = 0;
  friend constexpr auto operator<=>(const Endpoint&, const Endpoint&) = default;
};

// A TCP connection's key, always from this host's point of view.
struct FourTuple {
  Endpoint local;
  Endpoint remote;
  friend constexpr bool operator==(const FourTuple&, const FourTuple&) = default;
};

struct FourTupleHash {
  std::size_t operator()(const FourTuple& t) const noexcept {
    // Mixes the 96 bits with a multiply-xorshift; flows are not attacker-chosen in
    // a way that matters here because buckets are bounded by the flow-table limit.
    std::uint64_t a = (std::uint64_t{t.local.addr.value} << 32) | t.remote.addr.value;
    std::uint64_t b = (std::uint64_t{t.local.port} << 16) | t.remote.port;
    std::uint64_t h = a * 0x9e3779b97f4a7c15ull ^ (b + 0x632be59bd9b4e019ull);
    h ^= h >> 29;
    h *= 0xbf58476d1ce4e5b9ull;
    h ^= h >> 32;
    return static_cast<std::size_t>(h);
  }
};

}  // namespace utcp::stack::wire
