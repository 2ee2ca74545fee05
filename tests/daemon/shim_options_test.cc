// utcpd's side of setsockopt/getsockopt and the send flags (daemon/core/shim_options.cc,
// kSendMore, kRecordEnd): Linux's checks and values for the IP-level options,
// TCP_CONGESTION by number, TCP_MAXSEG before and after connect, MSG_MORE's hold and
// release, MSG_EOR's record end, and the unsent count TCP_NOTSENT_LOWAT reads. The rig
// is in shim_rig.h (engine B serves the region, engine A is the peer).
#include <catch2/catch.hpp>

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <cerrno>
#include <string>

#include "tests/daemon/shim_rig.h"

using namespace utcp;
using namespace utcp::daemon;
using namespace utcp::daemon::test;

namespace {

shim::Reply set_opt(Rig& rig, App& app, Sock s, int level, int name, std::int64_t v) {
  shim::Command set = Rig::command(shim::Op::kSetOption, s);
  set.a = level;
  set.b = name;
  set.value = v;
  return rig.call(app, set);
}

shim::Reply get_opt(Rig& rig, App& app, Sock s, int level, int name) {
  shim::Command get = Rig::command(shim::Op::kGetOption, s);
  get.a = level;
  get.b = name;
  return rig.call(app, get);
}

void post(App& app, shim::Op op, Sock s, std::int32_t a, std::int64_t value = 0) {
  shim::Command cmd = Rig::command(op, s);
  cmd.a = a;
  cmd.value = value;
  app.post(cmd);
}

// A connection from engine A, accepted by the app through utcpd (engine B).
struct Accepted {
  Rig rig;
  App app;
  Connection c;
  std::string got;  // what A received so far

  explicit Accepted(std::uint16_t port)
      : app((rig.channel_up(0), rig.region()), 0), c(establish(rig, app, port)) {}
  shim::Reply set(int level, int name, std::int64_t v) { return set_opt(rig, app, c.child, level, name, v); }
  // Lets `ms` of virtual time pass, then returns everything A has received.
  const std::string& received_after(int ms) {
    rig.settle(static_cast<std::size_t>(ms));
    bool eof = false;
    int err = 0;
    rig.drain_a(c.client, &got, &eof, &err);
    CHECK(err == 0);
    return got;
  }
};

}  // namespace

TEST_CASE("shim options: IP_TOS drops the ECN bits, IP_TTL takes -1 and 1..255",
          "[daemon][shim][options]") {
  Rig rig;
  rig.channel_up(0);
  App app(rig.region(), 0);
  const Sock s = rig.socket(app);
  CHECK(get_opt(rig, app, s, IPPROTO_IP, IP_TOS).value == 0);
  CHECK(set_opt(rig, app, s, IPPROTO_IP, IP_TOS, 0x13).result == 0);
  CHECK(get_opt(rig, app, s, IPPROTO_IP, IP_TOS).value == 0x10);
  CHECK(get_opt(rig, app, s, IPPROTO_IP, IP_TTL).value == 64);
  CHECK(set_opt(rig, app, s, IPPROTO_IP, IP_TTL, 200).result == 0);
  CHECK(get_opt(rig, app, s, IPPROTO_IP, IP_TTL).value == 200);
  CHECK(set_opt(rig, app, s, IPPROTO_IP, IP_TTL, 0).result == -EINVAL);
  CHECK(set_opt(rig, app, s, IPPROTO_IP, IP_TTL, 256).result == -EINVAL);
  CHECK(set_opt(rig, app, s, IPPROTO_IP, IP_TTL, -1).result == 0);
  CHECK(get_opt(rig, app, s, IPPROTO_IP, IP_TTL).value == 64);
  CHECK(set_opt(rig, app, s, IPPROTO_IP, IP_MTU_DISCOVER, 1).result == -ENOPROTOOPT);
}

TEST_CASE("shim options: TCP_CONGESTION, TCP_USER_TIMEOUT, TCP_QUICKACK", "[daemon][shim][options]") {
  Rig rig;
  rig.channel_up(0);
  App app(rig.region(), 0);
  const Sock s = rig.socket(app);
  CHECK(get_opt(rig, app, s, IPPROTO_TCP, TCP_CONGESTION).value == shim::kCongestionCubic);
  CHECK(set_opt(rig, app, s, IPPROTO_TCP, TCP_CONGESTION, shim::kCongestionReno).result == 0);
  CHECK(get_opt(rig, app, s, IPPROTO_TCP, TCP_CONGESTION).value == shim::kCongestionReno);
  CHECK(set_opt(rig, app, s, IPPROTO_TCP, TCP_CONGESTION, 99).result == -ENOENT);
  CHECK(set_opt(rig, app, s, IPPROTO_TCP, TCP_USER_TIMEOUT, -1).result == -EINVAL);
  CHECK(set_opt(rig, app, s, IPPROTO_TCP, TCP_USER_TIMEOUT, 2500).result == 0);
  CHECK(get_opt(rig, app, s, IPPROTO_TCP, TCP_USER_TIMEOUT).value == 2500);
  CHECK(get_opt(rig, app, s, IPPROTO_TCP, TCP_QUICKACK).value == 1);
  CHECK(set_opt(rig, app, s, IPPROTO_TCP, TCP_QUICKACK, 0).result == 0);
  CHECK(get_opt(rig, app, s, IPPROTO_TCP, TCP_QUICKACK).value == 0);
}

TEST_CASE("shim options: TCP_MAXSEG is 536 or the set value before connect, the MSS in use after",
          "[daemon][shim][options][mss]") {
  Rig rig;
  rig.channel_up(0);
  App app(rig.region(), 0);
  const Connection c = establish(rig, app, 5101);
  CHECK(get_opt(rig, app, c.listener, IPPROTO_TCP, TCP_MAXSEG).value == 536);
  CHECK(set_opt(rig, app, c.listener, IPPROTO_TCP, TCP_MAXSEG, 1000).result == 0);
  CHECK(get_opt(rig, app, c.listener, IPPROTO_TCP, TCP_MAXSEG).value == 1000);
  const shim::Reply info = rig.call(app, Rig::command(shim::Op::kTcpInfo, c.child));
  CHECK(get_opt(rig, app, c.child, IPPROTO_TCP, TCP_MAXSEG).value == info.info.snd_mss);
  CHECK(info.info.snd_mss > 1000);  // set after this connection was made
}

TEST_CASE("shim options: MSG_MORE data waits 200 ms, or until a send without it",
          "[daemon][shim][options][cork]") {
  Accepted t(5102);
  CHECK(t.set(IPPROTO_TCP, TCP_NODELAY, 1).result == 0);
  post(t.app, shim::Op::kSendMore, t.c.child, 1);
  t.app.write(t.c.child, "ab");
  CHECK(t.received_after(150).empty());
  CHECK(t.app.block(t.c.child).notsent.load() == 2);  // TCP_NOTSENT_LOWAT's measure
  CHECK(t.received_after(100) == "ab");  // the 200 ms ceiling

  t.app.write(t.c.child, "cd");  // still MSG_MORE: held again
  t.rig.settle(20);
  post(t.app, shim::Op::kSendMore, t.c.child, 0);  // a send without MSG_MORE ...
  t.app.write(t.c.child, "ef");
  CHECK(t.received_after(20) == "abcdef");  // ... releases everything at once
  CHECK(t.app.block(t.c.child).notsent.load() == 0);
}

TEST_CASE("shim options: MSG_EOR record ends pass to the engine; stale ones are ignored",
          "[daemon][shim][options][eor]") {
  Accepted t(5103);
  t.app.write(t.c.child, "rec1", /*kick_after=*/false);
  post(t.app, shim::Op::kRecordEnd, t.c.child, 0, 4);        // tx counted 4 bytes at its end
  post(t.app, shim::Op::kRecordEnd, t.c.child, 0, -7);       // behind the stream: dropped
  post(t.app, shim::Op::kRecordEnd, t.c.child, 0, 1 << 30);  // beyond any stream: dropped
  t.app.write(t.c.child, "rec2");
  CHECK(t.received_after(50) == "rec1rec2");
}

TEST_CASE("shim options: TCP_NODELAY set to 1 under TCP_CORK pushes, even when it was 1",
          "[daemon][shim][options][cork]") {
  Accepted t(5104);
  CHECK(t.set(IPPROTO_TCP, TCP_NODELAY, 1).result == 0);
  CHECK(t.set(IPPROTO_TCP, TCP_CORK, 1).result == 0);
  t.app.write(t.c.child, "corked");
  CHECK(t.received_after(50).empty());
  CHECK(t.set(IPPROTO_TCP, TCP_KEEPIDLE, 30).result == 0);  // another option: no push
  CHECK(t.received_after(20).empty());
  CHECK(t.set(IPPROTO_TCP, TCP_NODELAY, 1).result == 0);
  CHECK(t.received_after(5) == "corked");
}
