// Prng: the sequence is pinned to reference values (splitmix64 seeding, then
// xoshiro256**), so a fault seed means the same faults on every build and platform.
#include <catch2/catch.hpp>

#include <array>

#include "stack/io/prng.h"

namespace utcp::stack::io {
namespace {

TEST_CASE("seed 0 yields the reference xoshiro256** sequence", "[prng]") {
  // Computed independently from the published algorithms (Vigna's reference C code).
  constexpr std::array<std::uint64_t, 5> kExpected{0x99ec5f36cb75f2b4ull, 0xbf6e1f784956452aull,
                                                   0x1a5f849d4933e6e0ull, 0x6aa594f1262d2d2cull,
                                                   0xbba5ad4a1f842e59ull};
  Prng prng(0);
  for (const std::uint64_t expected : kExpected) CHECK(prng.next() == expected);
}

TEST_CASE("chance never fires at 0 and always at 1", "[prng]") {
  Prng prng(42);
  for (int i = 0; i < 1000; ++i) {
    CHECK_FALSE(prng.chance(0.0));
    CHECK(prng.chance(1.0));
  }
}

TEST_CASE("below stays under its bound and reaches every value", "[prng]") {
  Prng prng(9);
  std::array<int, 7> hits{};
  for (int i = 0; i < 7000; ++i) {
    const std::uint64_t v = prng.below(7);
    REQUIRE(v < 7);
    ++hits[v];
  }
  for (const int h : hits) CHECK(h > 800);  // 1000 expected each
  CHECK(prng.below(1) == 0);
}

}  // namespace
}  // namespace utcp::stack::io
