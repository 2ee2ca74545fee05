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

// fuzz_engine, reported as a known gap in session 5: after shutdown(SHUT_RD) recv()
// returned 0 at once but readiness() lacked kReadable, so a poll() on it would sleep;
// Linux's tcp_poll says EPOLLIN | EPOLLRDHUP, and EPOLLHUP once both sides are shut.
TEST_CASE("engine regression: a socket shut for reading polls readable, both ways a hangup",
          "[engine]") {
  namespace ev = tcp::events;
  Sim sim;
  Engine& a = sim.a();
  Engine& b = sim.b();
  const SocketId l = b.socket().value();
  REQUIRE(b.bind(l, {wire::Ipv4Addr{}, 5402}) == 0);
  REQUIRE(b.listen(l, 8) == 0);
  const SocketId c = a.socket().value();
  REQUIRE(a.connect(c, {kIpB, 5402}, sim.now()) == EINPROGRESS);
  Result<SocketId> s = Result<SocketId>::error(EAGAIN);
  REQUIRE(sim.run_until([&] {
    s = b.accept(l, nullptr);
    return s.ok() && a.info(c).value().state == tcp::State::kEstablished;
  }));
  CHECK((a.readiness(c).value() & ev::kReadable) == 0);

  REQUIRE(a.shutdown(c, ShutdownHow::kRead, sim.now()) == 0);
  std::uint8_t buf[16];
  CHECK(a.recv(c, buf, MsgFlags{}, sim.now()).value() == 0);
  const std::uint32_t shut_rd = a.readiness(c).value();
  CHECK((shut_rd & (ev::kReadable | ev::kReadHangup)) == (ev::kReadable | ev::kReadHangup));
  CHECK((shut_rd & ev::kHangup) == 0);
  CHECK((shut_rd & ev::kWritable) != 0);

  REQUIRE(a.shutdown(c, ShutdownHow::kWrite, sim.now()) == 0);
  const std::uint32_t both = a.readiness(c).value();
  CHECK((both & ev::kHangup) != 0);
  CHECK((both & ev::kWritable) != 0);  // send() fails at once with EPIPE: it won't block
  CHECK(a.send(c, buf, MsgFlags{}, sim.now()).err() == EPIPE);
}

}  // namespace
}  // namespace utcp::stack::engine::test
