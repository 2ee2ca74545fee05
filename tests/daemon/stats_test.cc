// utcpd's counter snapshot: with --fault the injector's own counts are in it, per
// direction, so a test can prove a wire was really impaired; without, no fault_ lines.
#include <catch2/catch.hpp>

#include <algorithm>
#include <string>

#include "daemon/core/stats.h"
#include "stack/io/memory_link.h"

using namespace utcp;
using namespace utcp::daemon;

namespace {

std::uint64_t value_of(const CounterSnapshot& snap, const std::string& name) {
  const auto it = std::find_if(snap.begin(), snap.end(), [&](const CounterLine& l) { return l.name == name; });
  REQUIRE(it != snap.end());
  return it->value;
}

}  // namespace

TEST_CASE("stats: the snapshot carries the fault injector's counts per direction", "[daemon][stats]") {
  stack::io::MemoryLink link(stack::io::MemoryLinkConfig{});
  std::string error;
  const auto spec = stack::io::parse_fault_spec("tx:loss=100%,seed=3", &error);
  REQUIRE(spec);
  stack::io::FaultInjector fault(link.a(), *spec);
  const stack::Instant now = stack::instant_from_us(1'000'000);
  for (int i = 0; i < 3; ++i) {
    stack::io::PacketBuf* buf = fault.alloc();
    REQUIRE(buf != nullptr);
    buf->len = 60;
    stack::io::PacketBuf* const one[] = {buf};
    CHECK(fault.tx_burst(one, now) == 1);  // taken, and lost
  }
  const stack::engine::EngineCounters engine;
  const CounterSnapshot with = snapshot(engine, ServiceCounters{}, ShimCounters{}, &fault);
  CHECK(value_of(with, "fault_tx_lost") == 3);
  CHECK(value_of(with, "fault_rx_lost") == 0);
  CHECK(value_of(with, "fault_tx_duplicated") == 0);
  const CounterSnapshot without = snapshot(engine, ServiceCounters{}, ShimCounters{});
  CHECK(std::none_of(without.begin(), without.end(),
                     [](const CounterLine& l) { return l.name.starts_with("fault_"); }));
}
