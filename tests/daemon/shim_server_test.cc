// ShimServer (daemon/core/shim_server.h): engine B is utcpd's engine serving a region;
// a tiny in-test app plays the app side of shim/protocol.h straight on the region (as
// preload/ does, minus threads); engine A is a plain client over a MemoryLink. All on
// virtual time. The control thread's mail (kChannelUp, kPlaceholder, kRelease,
// kChannelGone) is posted by the test into the Mailbox that ShimServer::run() reads.
// The rig is in shim_rig.h.
#include <catch2/catch.hpp>

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <string>

#include "tests/daemon/shim_rig.h"

using namespace utcp;
using namespace utcp::daemon;
using namespace utcp::daemon::test;
namespace st = shim::state;

// --- opening ---

TEST_CASE("shim: socket, bind, listen and accept a connection from engine A", "[daemon][shim]") {
  Rig rig;
  rig.channel_up(0);
  App app(rig.region(), 0);
  const Sock l = rig.socket(app);
  CHECK(l.generation != 0);
  CHECK(app.block(l).generation.load() == l.generation);
  CHECK(app.block(l).state.load() == 0);

  const shim::Reply bound = rig.call(app, Rig::command(shim::Op::kBind, l, 5000));
  CHECK(bound.result == 0);
  CHECK(bound.port == 5000);
  shim::Command listen = Rig::command(shim::Op::kListen, l);
  listen.value = 8;
  CHECK(rig.call(app, listen).result == 0);
  CHECK((app.block(l).state.load() & st::kListening) != 0);

  const SocketId client = rig.connect_from_a(5000);
  REQUIRE(rig.run_until([&] { return (app.block(l).acceptable.load() & 1) != 0; }));
  // The listener's readiness reached the app as an event.
  const auto evs = app.events();
  CHECK(std::any_of(evs.begin(), evs.end(), [&](const shim::Event& e) {
    return e.slot == l.slot && e.generation == l.generation;
  }));

  const shim::Reply acc = rig.call(app, Rig::command(shim::Op::kAccept, l));
  REQUIRE(acc.result == 0);
  const Sock child{static_cast<std::uint32_t>(acc.value), static_cast<std::uint32_t>(acc.value2)};
  CHECK(child.slot != l.slot);
  CHECK(child.slot < small_geometry().sockets);
  CHECK(app.block(child).generation.load() == child.generation);
  CHECK(app.block(child).state.load() == st::kConnected);
  const auto a_name = rig.a().getsockname(client);
  REQUIRE(a_name);
  CHECK(acc.ip == kIpA.value);
  CHECK(acc.port == a_name->port);
  // The accept queue is empty again: the engine's bit is cleared.
  CHECK((app.block(l).acceptable.load() & 1) == 0);
  CHECK(rig.shim().counters().sockets_opened == 2);
  CHECK(rig.shim().open_slots() == 2);

  const shim::Reply peer = rig.call(app, Rig::command(shim::Op::kGetPeer, child));
  CHECK(peer.result == 0);
  CHECK(peer.ip == kIpA.value);
  CHECK(peer.port == a_name->port);
  // A second accept finds nothing.
  CHECK(rig.call(app, Rig::command(shim::Op::kAccept, l)).result == -EAGAIN);
}

// --- data ---

TEST_CASE("shim: data flows both ways through the streams, many stream capacities long",
          "[daemon][shim]") {
  Rig rig;
  rig.channel_up(0);
  App app(rig.region(), 0);
  const Connection c = establish(rig, app, 5001);
  const std::string up = pattern(64 * 1024, 1);    // A -> app: 16 rx streams full
  const std::string down = pattern(48 * 1024, 2);  // app -> A: 12 tx streams full
  std::size_t a_sent = 0, app_sent = 0;
  std::string at_app, at_a;
  bool eof = false;
  int err = 0;
  REQUIRE(rig.run_until([&] {
    if (a_sent < up.size()) {
      auto r = rig.a().send(c.client, {reinterpret_cast<const std::uint8_t*>(up.data()) + a_sent,
                                       up.size() - a_sent}, {}, rig.now());
      if (r) a_sent += *r;
    }
    rig.drain_a(c.client, &at_a, &eof, &err);
    if (app_sent < down.size()) app_sent += app.write(c.child, std::string_view(down).substr(app_sent));
    app.read(c.child, &at_app);  // at most 1 KiB a round: the app is the slow side
    return (at_app.size() == up.size() && at_a.size() == down.size()) || err != 0 || eof;
  }));
  CHECK(err == 0);
  CHECK_FALSE(eof);
  CHECK(at_app == up);
  CHECK(at_a == down);
  // rx filled up and the engine asked for a kick, which is what kept the data moving.
  CHECK(app.rx_blocked_seen() > 0);
  CHECK(rig.shim().counters().bytes_to_apps == up.size());
  CHECK(rig.shim().counters().bytes_from_apps == down.size());
  CHECK(rig.shim().counters().bad_commands == 0);
}

TEST_CASE("shim: the peer's FIN shows as kRxEof once all its data is in rx", "[daemon][shim]") {
  Rig rig;
  rig.channel_up(0);
  App app(rig.region(), 0);
  const Connection c = establish(rig, app, 5002);
  const std::string data = pattern(10'000, 3);  // more than rx holds
  std::size_t sent = 0;
  REQUIRE(rig.run_until([&] {
    auto r = rig.a().send(c.client, {reinterpret_cast<const std::uint8_t*>(data.data()) + sent,
                                     data.size() - sent}, {}, rig.now());
    if (r) sent += *r;
    return sent == data.size();
  }));
  REQUIRE(rig.a().shutdown(c.client, stack::engine::ShutdownHow::kWrite, rig.now()) == 0);
  // Without reading, rx fills and the FIN waits behind the data the engine holds.
  rig.settle();
  CHECK(app.readable(c.child) == small_geometry().stream_capacity);
  CHECK((app.block(c.child).state.load() & st::kRxEof) == 0);

  std::string got;
  bool early_eof = false;
  REQUIRE(rig.run_until([&] {
    const bool eof = (app.block(c.child).state.load() & st::kRxEof) != 0;
    // kRxEof promises that everything the peer sent is in rx already.
    if (eof && got.size() + app.readable(c.child) != data.size()) early_eof = true;
    app.read(c.child, &got);
    return eof && got.size() == data.size();
  }));
  CHECK_FALSE(early_eof);
  CHECK(got == data);
  // Still connected the other way.
  CHECK((app.block(c.child).state.load() & st::kConnected) != 0);
  CHECK((app.block(c.child).state.load() & st::kError) == 0);
}

// --- closing ---

TEST_CASE("shim: kRelease after everything was read closes with FIN", "[daemon][shim]") {
  Rig rig;
  rig.channel_up(0);
  App app(rig.region(), 0);
  const Connection c = establish(rig, app, 5003);
  rig.mail(EngineMsg::Kind::kPlaceholder, 0, c.child);
  REQUIRE(rig.a().send(c.client, {reinterpret_cast<const std::uint8_t*>("hello"), 5}, {}, rig.now()));
  std::string got;
  REQUIRE(rig.run_until([&] {
    app.read(c.child, &got);
    return got == "hello";
  }));
  const std::uint64_t released = rig.shim().counters().sockets_released;
  rig.mail(EngineMsg::Kind::kRelease, 0, c.child);
  std::string at_a;
  bool eof = false;
  int err = 0;
  REQUIRE(rig.run_until([&] {
    rig.drain_a(c.client, &at_a, &eof, &err);
    return eof || err != 0;
  }));
  CHECK(eof);
  CHECK(err == 0);
  CHECK(rig.shim().counters().sockets_released == released + 1);
  CHECK(rig.shim().open_slots() == 1);  // the listener
  // The slot moved on: views the app kept see the new generation.
  CHECK(app.block(c.child).generation.load() != c.child.generation);
  CHECK(rig.call(app, Rig::command(shim::Op::kGetName, c.child)).result == -EBADF);
}

TEST_CASE("shim: kRelease with unread data in rx resets the connection", "[daemon][shim]") {
  Rig rig;
  rig.channel_up(0);
  App app(rig.region(), 0);
  const Connection c = establish(rig, app, 5004);
  rig.mail(EngineMsg::Kind::kPlaceholder, 0, c.child);
  const std::string data = pattern(100, 4);
  REQUIRE(rig.a().send(c.client, {reinterpret_cast<const std::uint8_t*>(data.data()), data.size()}, {},
                       rig.now()));
  REQUIRE(rig.run_until([&] { return app.readable(c.child) == data.size(); }));
  rig.mail(EngineMsg::Kind::kRelease, 0, c.child);
  std::string at_a;
  bool eof = false;
  int err = 0;
  REQUIRE(rig.run_until([&] {
    rig.drain_a(c.client, &at_a, &eof, &err);
    return eof || err != 0;
  }));
  CHECK(err == ECONNRESET);
  CHECK_FALSE(eof);
  CHECK(rig.shim().open_slots() == 1);
}

TEST_CASE("shim: kRelease sends what the app queued in tx before the FIN", "[daemon][shim]") {
  Rig rig;
  rig.channel_up(0);
  App app(rig.region(), 0);
  const Connection c = establish(rig, app, 5005);
  rig.mail(EngineMsg::Kind::kPlaceholder, 0, c.child);
  const std::string data = pattern(3000, 5);
  // Written but never kicked: only the release moves it.
  REQUIRE(app.write(c.child, data, false) == data.size());
  rig.mail(EngineMsg::Kind::kRelease, 0, c.child);
  std::string at_a;
  bool eof = false;
  int err = 0;
  REQUIRE(rig.run_until([&] {
    rig.drain_a(c.client, &at_a, &eof, &err);
    return eof || err != 0;
  }));
  CHECK(err == 0);
  CHECK(eof);
  CHECK(at_a == data);
}

TEST_CASE("shim: kChannelGone releases slots never registered and keeps registered ones",
          "[daemon][shim]") {
  Rig rig;
  rig.channel_up(0);
  rig.channel_up(1);
  App app(rig.region(), 0);
  App sibling(rig.region(), 1);
  const Sock orphan = rig.socket(app);
  const Sock kept = rig.socket(app);
  rig.mail(EngineMsg::Kind::kPlaceholder, 0, kept);
  rig.round();
  REQUIRE(rig.shim().open_slots() == 2);

  // The control thread counts the engines that still have to let go.
  rig.region().channel_pending(0).store(1);
  rig.mail(EngineMsg::Kind::kChannelGone, 0);
  rig.round();
  CHECK(rig.region().channel_pending(0).load() == 0);
  CHECK(rig.shim().counters().channels_gone == 1);
  CHECK(rig.shim().counters().released_by_death == 1);
  CHECK(rig.shim().counters().sockets_released == 1);
  CHECK(rig.shim().open_slots() == 1);
  CHECK(app.block(orphan).generation.load() != orphan.generation);
  CHECK(app.block(kept).generation.load() == kept.generation);

  // The family's other process still reaches the registered socket, not the orphan.
  CHECK(rig.call(sibling, Rig::command(shim::Op::kBind, kept, 6000)).result == 0);
  CHECK(rig.call(sibling, Rig::command(shim::Op::kGetName, orphan)).result == -EBADF);
  // The dead channel is not served any more.
  shim::Command late;
  late.op = shim::Op::kSocket;
  late.tag = 999;
  app.post(late);
  rig.settle(5);
  CHECK_FALSE(app.reply(999));
  CHECK(rig.shim().open_slots() == 1);
}

// A forked child writes on an inherited socket, kicks and exits at once: its kick is
// still in its command ring when the control thread reports its death (which the engine
// takes before commands). Regression: the kick was dropped with the channel, the data
// stayed in the stream and the kick flag stayed set, so the parent's writes never
// kicked again.
TEST_CASE("shim: a kick queued by a process that died is still carried out", "[daemon][shim]") {
  Rig rig;
  rig.channel_up(0);
  rig.channel_up(1);
  App parent(rig.region(), 0);
  App child(rig.region(), 1);
  const Connection c = establish(rig, parent, 5020);
  rig.mail(EngineMsg::Kind::kPlaceholder, 0, c.child);
  rig.round();

  REQUIRE(child.write(c.child, "from-child") == 10);  // data in tx, kKick in the ring
  rig.region().channel_pending(1).store(1);
  rig.mail(EngineMsg::Kind::kChannelGone, 1);         // before the engine ran the kick
  std::string at_a;
  bool eof = false;
  int err = 0;
  REQUIRE(rig.run_until([&] {
    rig.drain_a(c.client, &at_a, &eof, &err);
    return at_a.size() >= 10 || err != 0;
  }));
  CHECK(at_a == "from-child");
  CHECK(parent.block(c.child).kick.load() == 0);
  // The parent's own writes go out as before.
  REQUIRE(parent.write(c.child, "parent") == 6);
  REQUIRE(rig.run_until([&] {
    rig.drain_a(c.client, &at_a, &eof, &err);
    return at_a.size() >= 16 || err != 0;
  }));
  CHECK(at_a == "from-childparent");
}

// --- untrusted input ---

TEST_CASE("shim: a bad slot or a stale generation gets -EBADF and counts as bad or stale",
          "[daemon][shim]") {
  Rig rig;
  rig.channel_up(0);
  App app(rig.region(), 0);
  const Sock s = rig.socket(app);
  CHECK(rig.shim().counters().bad_commands == 0);

  CHECK(rig.call(app, Rig::command(shim::Op::kBind, {small_geometry().sockets, s.generation}, 7000)).result ==
        -EBADF);
  CHECK(rig.call(app, Rig::command(shim::Op::kBind, {0xffffffffu, s.generation}, 7000)).result == -EBADF);
  CHECK(rig.call(app, Rig::command(shim::Op::kGetName, {s.slot, s.generation + 1})).result == -EBADF);
  // A slot this engine never handed out.
  const Sock unused{(s.slot + 1) % small_geometry().sockets, 1};
  CHECK(rig.call(app, Rig::command(shim::Op::kGetName, unused)).result == -EBADF);
  CHECK(rig.shim().counters().bad_commands == 4);

  // A kick for a stale generation (posted before a close that overtook it) gets no
  // reply and counts as stale, not bad; one for a slot out of range is bad.
  app.post(Rig::command(shim::Op::kKick, {s.slot, s.generation + 7}));
  rig.round();
  CHECK(rig.shim().counters().bad_commands == 4);
  CHECK(rig.shim().counters().stale_commands == 1);
  app.post(Rig::command(shim::Op::kKick, {0xffffffffu, s.generation}));
  rig.round();
  CHECK(rig.shim().counters().bad_commands == 5);
  CHECK(app.replies_waiting() == 0);

  // An op that does not exist, on a good slot.
  shim::Command junk = Rig::command(static_cast<shim::Op>(200), s);
  CHECK(rig.call(app, junk).result == -EINVAL);
  CHECK(rig.shim().counters().bad_commands == 6);

  // The good slot was not disturbed.
  CHECK(rig.call(app, Rig::command(shim::Op::kBind, s, 7000)).result == 0);
}

TEST_CASE("shim: a poisoned command ring detaches only its channel", "[daemon][shim]") {
  Rig rig;
  rig.channel_up(0);
  rig.channel_up(1);
  App good(rig.region(), 0);
  App bad(rig.region(), 1);
  const Sock s = rig.socket(bad);  // the bad app worked before

  // The bad app scribbles an impossible head over its command ring.
  auto* control = static_cast<shim::RingControl*>(rig.view().command_ring(1, 0));
  control->head.value.store(control->tail.value.load() + small_geometry().command_capacity + 5);
  rig.round();
  CHECK(rig.shim().counters().poisoned_channels == 1);

  // The other channel goes on.
  const Sock other = rig.socket(good);
  CHECK(rig.call(good, Rig::command(shim::Op::kBind, other, 7100)).result == 0);

  // The bad one is not served again, even once its index looks sane.
  control->head.value.store(control->tail.value.load());
  shim::Command cmd = Rig::command(shim::Op::kGetName, s);
  cmd.tag = 4242;
  bad.post(cmd);
  rig.settle(10);
  CHECK_FALSE(bad.reply(4242));
  CHECK(rig.shim().counters().poisoned_channels == 1);  // counted once
}

// --- options and info ---

TEST_CASE("shim: SO_ERROR reports a refused connect once", "[daemon][shim]") {
  Rig rig;
  rig.channel_up(0);
  App app(rig.region(), 0);
  const Sock s = rig.socket(app);
  const shim::Reply r = rig.call(app, Rig::command(shim::Op::kConnect, s, 9, kIpA));  // nobody listens
  CHECK(r.result == -EINPROGRESS);
  CHECK(r.port != 0);  // bound to an ephemeral port
  CHECK(app.block(s).state.load() == st::kConnecting);
  app.events();

  REQUIRE(rig.run_until([&] { return (app.block(s).state.load() & st::kError) != 0; }));
  const std::uint32_t state = app.block(s).state.load();
  CHECK((state & st::kConnecting) == 0);
  CHECK((state & st::kConnected) == 0);
  CHECK((state & st::kTxShut) != 0);
  CHECK(app.block(s).error.load() == ECONNREFUSED);
  rig.round();
  const auto evs = app.events();
  CHECK(std::any_of(evs.begin(), evs.end(), [&](const shim::Event& e) { return e.slot == s.slot; }));

  shim::Command get = Rig::command(shim::Op::kGetOption, s);
  get.a = SOL_SOCKET;
  get.b = SO_ERROR;
  const shim::Reply first = rig.call(app, get);
  CHECK(first.result == 0);
  CHECK(first.value == ECONNREFUSED);
  const shim::Reply second = rig.call(app, get);  // SO_ERROR clears itself
  CHECK(second.result == 0);
  CHECK(second.value == 0);
}

TEST_CASE("shim: TCP_INFO reports the Linux state of listener and connection", "[daemon][shim]") {
  Rig rig;
  rig.channel_up(0);
  App app(rig.region(), 0);
  const Connection c = establish(rig, app, 5006);

  const shim::Reply listening = rig.call(app, Rig::command(shim::Op::kTcpInfo, c.listener));
  CHECK(listening.result == 0);
  CHECK(listening.info.state == TCP_LISTEN);

  const shim::Reply established = rig.call(app, Rig::command(shim::Op::kTcpInfo, c.child));
  CHECK(established.result == 0);
  CHECK(established.info.state == TCP_ESTABLISHED);
  CHECK(established.info.snd_mss > 0);
  CHECK(established.info.snd_cwnd > 0);

  REQUIRE(rig.a().shutdown(c.client, stack::engine::ShutdownHow::kWrite, rig.now()) == 0);
  REQUIRE(rig.run_until([&] { return (app.block(c.child).state.load() & st::kRxEof) != 0; }));
  CHECK(rig.call(app, Rig::command(shim::Op::kTcpInfo, c.child)).info.state == TCP_CLOSE_WAIT);

  shim::Command shut = Rig::command(shim::Op::kShutdown, c.child);
  shut.a = SHUT_WR;
  CHECK(rig.call(app, shut).result == 0);
  CHECK((app.block(c.child).state.load() & st::kTxShut) != 0);
  REQUIRE(rig.run_until([&] {
    auto info = rig.a().info(c.client);
    return info && info->state == stack::tcp::State::kTimeWait;
  }));
  rig.settle(5);
  CHECK(rig.call(app, Rig::command(shim::Op::kTcpInfo, c.child)).info.state == TCP_CLOSE);
}

// --- events and sleep ---

TEST_CASE("shim: a full event ring sets the channel's event_overflow", "[daemon][shim]") {
  shim::Geometry g = small_geometry();
  g.event_capacity = 2;
  Rig rig(g);
  rig.channel_up(0);
  App app(rig.region(), 0);
  const Sock s1 = rig.socket(app), s2 = rig.socket(app), s3 = rig.socket(app);

  // Two events fit.
  app.post(Rig::command(shim::Op::kWatch, s1));
  app.post(Rig::command(shim::Op::kWatch, s2));
  rig.round();
  CHECK(rig.view().channel(0).event_overflow.load() == 0);
  CHECK(app.events().size() == 2);

  // Three in one round while the app does not look: one is lost, and the app is told.
  app.post(Rig::command(shim::Op::kWatch, s1));
  app.post(Rig::command(shim::Op::kWatch, s2));
  app.post(Rig::command(shim::Op::kWatch, s3));
  rig.round();
  CHECK(rig.view().channel(0).event_overflow.load() == 1);
  CHECK(rig.shim().counters().event_overflows == 1);
  CHECK(app.events().size() == 2);

  // Until the app has taken the flag, more changes count no further overflow: it
  // rescans everything anyway.
  app.post(Rig::command(shim::Op::kWatch, s1));
  app.post(Rig::command(shim::Op::kWatch, s2));
  app.post(Rig::command(shim::Op::kWatch, s3));
  rig.round();
  CHECK(rig.shim().counters().event_overflows == 1);
  CHECK(app.events().empty());
  rig.view().channel(0).event_overflow.store(0);  // what drain_events does
  app.post(Rig::command(shim::Op::kWatch, s3));
  rig.round();
  CHECK(app.events().size() == 1);
}

TEST_CASE("shim: the sleep handshake with the engine's flag and the app's eventfd",
          "[daemon][shim]") {
  Rig rig;
  rig.channel_up(0);
  App app(rig.region(), 0);
  shim::SleepFlag& engine_flag = rig.view().engine_flag(0);

  // Nothing queued: the engine may sleep, and tells apps to ring its doorbell.
  CHECK(rig.shim().prepare_sleep());
  CHECK(engine_flag.asleep.load() == 1);
  CHECK(shim::needs_wakeup(engine_flag));
  rig.shim().finish_sleep();
  CHECK(engine_flag.asleep.load() == 0);

  // A command arrived between the last round and the sleep: do not sleep.
  shim::Command cmd;
  cmd.op = shim::Op::kSocket;
  cmd.tag = 77;
  app.post(cmd);
  CHECK_FALSE(rig.shim().prepare_sleep());
  CHECK(engine_flag.asleep.load() == 0);
  CHECK(app.doorbells() == 0);  // the engine was awake when the command was posted

  // A sleeping app gets its eventfd written when its reply is ready.
  const int efd = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  REQUIRE(efd >= 0);
  rig.region().set_wake_fd(0, efd);  // the region owns it now
  shim::announce_sleep(rig.view().channel(0).app_asleep);
  rig.round();
  CHECK(app.reply(77).has_value());
  std::uint64_t n = 0;
  CHECK(::read(efd, &n, sizeof n) == sizeof n);
  CHECK(n == 1);
  CHECK(rig.shim().counters().app_wakeups == 1);

  // An awake app is not woken.
  shim::end_sleep(rig.view().channel(0).app_asleep);
  cmd.tag = 78;
  app.post(cmd);
  rig.round();
  CHECK(app.reply(78).has_value());
  CHECK(rig.shim().counters().app_wakeups == 1);
  CHECK(::read(efd, &n, sizeof n) == -1);
  CHECK(errno == EAGAIN);
}

TEST_CASE("shim: kBarrier is answered only after a later round's mail", "[daemon][shim]") {
  Rig rig;
  rig.channel_up(0);
  App app(rig.region(), 0);
  const Sock l = rig.listener(app, 5011);
  rig.mail(EngineMsg::Kind::kPlaceholder, 0, l);
  rig.round();
  shim::Command barrier;
  barrier.op = shim::Op::kBarrier;
  barrier.tag = 777;
  app.post(barrier);
  rig.round();  // takes the barrier; this round's mail was taken before
  CHECK_FALSE(app.reply(777).has_value());
  // The engine must not sleep on a barrier it owes.
  CHECK_FALSE(rig.shim().prepare_sleep());
  rig.shim().finish_sleep();
  // close() of a listener: the control thread's release reaches the mailbox after that
  // round took its mail; the answer comes once it is handled.
  rig.mail(EngineMsg::Kind::kRelease, 0, l);
  rig.round();
  const auto rep = app.reply(777);
  REQUIRE(rep.has_value());
  CHECK(rep->result == 0);
  CHECK(rig.shim().open_slots() == 0);
  CHECK(rig.shim().counters().sockets_released == 1);
}
