// Prng: xoshiro256** (Blackman & Vigna, 2018) seeded through splitmix64, for seeded
// fault injection. std:: distributions are implementation-defined, so every draw here
// is spelled out to give the same sequence on every compiler and platform.
// Invariant: the state is never all zero (splitmix64 cannot produce four zero words).
#pragma once

#include <array>
#include <cstdint>

namespace utcp::stack::io {

class Prng {
 public:
  explicit Prng(std::uint64_t seed) {
    for (auto& word : s_) word = splitmix64(seed);
  }

  std::uint64_t next() {
    const std::uint64_t result = rotl(s_[1] * 5, 7) * 9;
    const std::uint64_t t = s_[1] << 17;
    s_[2] ^= s_[0];
    s_[3] ^= s_[1];
    s_[1] ^= s_[2];
    s_[0] ^= s_[3];
    s_[2] ^= t;
    s_[3] = rotl(s_[3], 45);
    return result;
  }

  // True with probability p; p <= 0 never, p >= 1 always. The top 53 bits make a
  // double in [0, 1) exactly, so the comparison is the same everywhere.
  bool chance(double p) {
    const double u = static_cast<double>(next() >> 11) * 0x1.0p-53;
    return u < p;
  }

  // Uniform in [0, bound) for bound > 0, by rejection so no value is favoured.
  std::uint64_t below(std::uint64_t bound) {
    const std::uint64_t limit = ~std::uint64_t{0} - (~std::uint64_t{0} % bound);
    std::uint64_t x = next();
    while (x >= limit) x = next();
    return x % bound;
  }

  // The splitmix64 step: advances `state` and returns its mix. Also derives the
  // independent seeds of separate streams from one user seed.
  static std::uint64_t splitmix64(std::uint64_t& state) {
    std::uint64_t z = (state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
  }

 private:
  static std::uint64_t rotl(std::uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

  std::array<std::uint64_t, 4> s_{};
};

}  // namespace utcp::stack::io
