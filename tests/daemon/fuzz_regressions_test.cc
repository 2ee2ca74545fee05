// Regressions found by fuzz_shim (tests/fuzz/, docs/fuzzing.md) and by reviewing what
// hostile_app_test attacks: each case is the smallest program that broke an invariant,
// replayed through the ShimServer rig.
#include <catch2/catch.hpp>
#include <sys/socket.h>

#include <climits>
#include <cstdint>

#include "tests/daemon/shim_rig.h"

using namespace utcp;
using namespace utcp::daemon;
using namespace utcp::daemon::test;

// fuzz_shim artifact shim-crash-cdd5f1e4: the app wrote into the tx stream of a socket
// that never connected, then died. The engine refuses that data (EPIPE), so tx can
// never drain, and the release waited for it forever: the slot, its engine socket and
// the whole region stayed behind.
TEST_CASE("shim regression: a released slot whose tx the engine refuses is freed", "[daemon][shim]") {
  Rig rig;
  rig.channel_up(0);
  App app(rig.region(), 0);
  const Sock s = rig.socket(app);
  CHECK(app.write(s, "never sent") == 10);
  rig.settle(5);
  CHECK(rig.shim().open_slots() == 1);

  rig.region().channel_pending(0).store(1);
  rig.mail(EngineMsg::Kind::kChannelGone, 0);
  rig.settle(5);
  CHECK(rig.shim().counters().released_by_death == 1);
  CHECK(rig.shim().open_slots() == 0);
  CHECK(rig.shim().counters().open_slots == 0);
}

// The same through kRelease: a registered socket shut for writing (the data after the
// FIN can never go) is closed when its last placeholder goes.
TEST_CASE("shim regression: data written after SHUT_WR does not keep a released slot", "[daemon][shim]") {
  Rig rig;
  rig.channel_up(0);
  App app(rig.region(), 0);
  const Connection c = establish(rig, app, 5301);
  CHECK(rig.call(app, Rig::command(shim::Op::kShutdown, c.child)).result == 0);  // a = SHUT_RD: 0
  shim::Command wr = Rig::command(shim::Op::kShutdown, c.child);
  wr.a = 1;  // SHUT_WR
  CHECK(rig.call(app, wr).result == 0);
  rig.settle(5);
  CHECK(app.write(c.child, "after the FIN") == 13);  // a broken app ignores kTxShut
  rig.settle(5);
  rig.mail(EngineMsg::Kind::kPlaceholder, 0, c.child);
  rig.mail(EngineMsg::Kind::kRelease, 0, c.child);
  rig.settle(5);
  CHECK(rig.shim().open_slots() == 1);  // the listener only
}

// fuzz_shim, reported as a known gap in session 5: a kListen for another engine's slot
// makes this engine's share of that listener, released only by the owner's kRelease of
// exactly that (slot, generation). An app that asks with a pair no owner registered
// left a listening socket, its port and the region behind for good. The control thread
// now ends the family (kFamilyOver) and every engine releases what is left of it.
TEST_CASE("shim regression: a listener share nobody owns goes when the family ends", "[daemon][shim]") {
  shim::Geometry g = small_geometry();
  g.engines = 2;  // this engine is 0: odd slots belong to engine 1
  Rig rig(g);
  rig.channel_up(0);
  App app(rig.region(), 0);
  shim::Command share = Rig::command(shim::Op::kListen, Sock{3, 77}, 5402);
  share.value = 16;
  CHECK(rig.call(app, share).result == 0);
  CHECK(rig.shim().open_slots() == 1);

  rig.region().channel_pending(0).store(1);
  rig.mail(EngineMsg::Kind::kChannelGone, 0);
  rig.settle(5);
  CHECK(rig.shim().open_slots() == 1);  // a share lives as long as its owner's placeholder

  rig.mail(EngineMsg::Kind::kFamilyOver, 0);
  rig.settle(5);
  CHECK(rig.shim().open_slots() == 0);
  CHECK(rig.shim().counters().released_at_family_end == 1);
  // The port is free again: a new listener binds it.
  const auto l = rig.b().socket();
  REQUIRE(l.ok());
  CHECK(rig.b().bind(*l, {stack::wire::Ipv4Addr{}, 5402}) == 0);
}

// hostile_app_test's review: SO_LINGER's time comes from an app-written 64-bit field
// and was converted to microseconds unchecked (signed overflow for huge values).
// Linux's l_linger is an int: the daemon clamps to [0, INT_MAX] seconds.
TEST_CASE("shim regression: a huge SO_LINGER time is clamped, not overflowed", "[daemon][shim]") {
  Rig rig;
  rig.channel_up(0);
  App app(rig.region(), 0);
  const Sock s = rig.socket(app);
  shim::Command set = Rig::command(shim::Op::kSetOption, s);
  set.a = SOL_SOCKET;
  set.b = SO_LINGER;
  set.value = 1;
  set.value2 = INT64_MAX;
  CHECK(rig.call(app, set).result == 0);
  shim::Command get = Rig::command(shim::Op::kGetOption, s);
  get.a = SOL_SOCKET;
  get.b = SO_LINGER;
  const shim::Reply r = rig.call(app, get);
  CHECK(r.result == 0);
  CHECK(r.value == 1);
  CHECK(r.value2 == INT_MAX);
  set.value2 = -5;
  CHECK(rig.call(app, set).result == 0);
  CHECK(rig.call(app, get).value2 == 0);
}
