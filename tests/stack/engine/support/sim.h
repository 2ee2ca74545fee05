// Sim: engines 198.18.0.1/24 (a) and 198.18.0.2/24 (b) on a MemoryLink, each end
// optionally behind a FaultInjector, on virtual time: step() polls both and, when
// neither worked, jumps to the earliest deadline. run_until() is bounded in steps and
// virtual time, so a bug fails instead of hanging. Same options, same run.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>

#include "stack/base/time.h"
#include "stack/engine/engine.h"
#include "stack/io/fault_injector.h"
#include "stack/io/memory_link.h"

namespace utcp::stack::engine::test {

inline constexpr wire::Ipv4Addr kIpA = wire::Ipv4Addr::from_octets(198, 18, 0, 1);
inline constexpr wire::Ipv4Addr kIpB = wire::Ipv4Addr::from_octets(198, 18, 0, 2);

// Sanitizer and debug builds run the same scenarios with less data, so the whole
// test_engine run stays within seconds there too.
#if defined(__SANITIZE_ADDRESS__) || !defined(NDEBUG)
inline constexpr bool kSlowBuild = true;
#else
inline constexpr bool kSlowBuild = false;
#endif
inline constexpr std::uint64_t scaled(std::uint64_t fast, std::uint64_t slow) {
  return kSlowBuild ? slow : fast;
}

// An EngineConfig suitable for tests: small tables, short MSL, fixed secret.
EngineConfig test_engine_config(wire::Ipv4Addr ip, std::uint8_t secret_seed);

struct SimOptions {
  // Applied to what each end transmits, so every frame is impaired exactly once.
  io::FaultConfig fault{};
  std::uint64_t seed = 1;
  io::MemoryLinkConfig link{};
  EngineConfig a = test_engine_config(kIpA, 1);
  EngineConfig b = test_engine_config(kIpB, 2);
  Duration step_cost = std::chrono::microseconds(5);  // virtual time a busy step costs
  Duration max_time = std::chrono::seconds(900);      // per run_until()
  std::size_t max_steps = 20'000'000;                 // per run_until()
};

class Sim {
 public:
  explicit Sim(const SimOptions& opts = {});
  ~Sim();

  Engine& a() { return *a_; }
  Engine& b() { return *b_; }
  io::MemoryLink& link() { return link_; }
  // The injectors in front of each end (nullptr without faults).
  const io::FaultInjector* fault_a() const { return fault_a_.get(); }
  const io::FaultInjector* fault_b() const { return fault_b_.get(); }
  Instant now() const { return now_; }
  std::uint64_t steps() const { return steps_; }

  // One step; false when nothing will ever happen again (no work, no deadline).
  bool step();

  // Steps until done() (called after every step) returns true. False when the
  // budget ran out or the simulation went idle first.
  template <class Done>
  bool run_until(Done&& done) {
    const Instant start = now_;
    for (std::size_t i = 0; i < opts_.max_steps; ++i) {
      if (done()) return true;
      if (now_ - start > opts_.max_time || !step()) return done();
    }
    return false;
  }
  // Runs for `d` of virtual time (or until idle).
  void run_for(Duration d);

 private:
  std::size_t poll_both();

  SimOptions opts_;
  io::MemoryLink link_;
  std::unique_ptr<io::FaultInjector> fault_a_, fault_b_;
  Instant now_;
  std::unique_ptr<Engine> a_, b_;
  std::uint64_t steps_ = 0;
};

}  // namespace utcp::stack::engine::test
