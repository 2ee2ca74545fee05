// A stand-in for Catch2's header, first on the fuzz targets' include path. The test
// support they reuse (tests/stack/engine/support/frames.cc, tests/daemon/shim_rig.h)
// asserts with REQUIRE/CHECK; outside a Catch2 session those would need its runner.
// Here a failed assertion throws RigGaveUp: the well-behaved helper could not do its
// job (a ring the fuzzer poisoned, a frame too big), which the target handles, and
// which is never a finding by itself: the targets' own invariants decide that.
#pragma once

#include <stdexcept>

namespace utcp::fuzz {
struct RigGaveUp : std::runtime_error {
  using std::runtime_error::runtime_error;
};
}  // namespace utcp::fuzz

#define REQUIRE(...)                                                 \
  do {                                                               \
    if (!(__VA_ARGS__)) throw ::utcp::fuzz::RigGaveUp(#__VA_ARGS__); \
  } while (0)
#define CHECK(...) REQUIRE(__VA_ARGS__)
