// Regressions found by fuzz_engine (tests/fuzz/, docs/fuzzing.md): each case is the
// smallest program that broke an invariant, replayed on the two-engine Sim.
#include <catch2/catch.hpp>
#include <cerrno>

#include "stack/engine/support/sim.h"

namespace utcp::stack::engine::test {
namespace {

// fuzz_engine artifact engine-crash-f99e8b57: shutdown(SHUT_RD) on a listener resets
// the children nobody accepted and reaps them, but the `connections` and `sockets`
// gauges kept counting them until the next poll (counters.h: gauges are kept current).
TEST_CASE("engine regression: shutting a listener down updates the gauges at once", "[engine]") {
  Sim sim;
  Engine& b = sim.b();
  const Result<SocketId> l = b.socket();
  REQUIRE(l.ok());
  REQUIRE(b.bind(*l, {wire::Ipv4Addr{}, 5401}) == 0);
  REQUIRE(b.listen(*l, 8) == 0);
  const Result<SocketId> c = sim.a().socket();
  REQUIRE(c.ok());
  REQUIRE(sim.a().connect(*c, {kIpB, 5401}, sim.now()) == EINPROGRESS);
  REQUIRE(sim.run_until([&] { return b.counters().connections == 1 && sim.a().getpeername(*c).ok(); }));
  REQUIRE(b.counters().sockets == 2);

  REQUIRE(b.shutdown(*l, ShutdownHow::kRead, sim.now()) == 0);
  CHECK(b.report_sockets().empty());
  CHECK(b.counters().connections == 0);
  CHECK(b.counters().sockets == 1);  // the listener, now a fresh socket the app holds
  CHECK(b.counters().listeners == 0);
}

}  // namespace
}  // namespace utcp::stack::engine::test
