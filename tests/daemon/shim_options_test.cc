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
  Rig rig;
  rig.channel_up(0);
  App app(rig.region(), 0);
  const Connection c = establish(rig, app, 5102);
  CHECK(set_opt(rig, app, c.child, IPPROTO_TCP, TCP_NODELAY, 1).result == 0);
  std::string got;
  bool eof = false;
  int err = 0;

  post(app, shim::Op::kSendMore, c.child, 1);
  app.write(c.child, "ab");
  rig.settle(150);
  rig.drain_a(c.client, &got, &eof, &err);
  CHECK(got.empty());
  CHECK(app.block(c.child).notsent.load() == 2);  // TCP_NOTSENT_LOWAT's measure
  rig.settle(100);
  rig.drain_a(c.client, &got, &eof, &err);
  CHECK(got == "ab");  // the 200 ms ceiling

  app.write(c.child, "cd");  // still MSG_MORE: held again
  rig.settle(20);
  post(app, shim::Op::kSendMore, c.child, 0);  // a send without MSG_MORE ...
  app.write(c.child, "ef");
  rig.settle(20);
  rig.drain_a(c.client, &got, &eof, &err);
  CHECK(got == "abcdef");  // ... releases everything at once
  CHECK(app.block(c.child).notsent.load() == 0);
}

TEST_CASE("shim options: MSG_EOR record ends pass to the engine; stale ones are ignored",
          "[daemon][shim][options][eor]") {
  Rig rig;
  rig.channel_up(0);
  App app(rig.region(), 0);
  const Connection c = establish(rig, app, 5103);
  app.write(c.child, "rec1", /*kick_after=*/false);
  post(app, shim::Op::kRecordEnd, c.child, 0, 4);     // tx counted 4 bytes at its end
  post(app, shim::Op::kRecordEnd, c.child, 0, -7);    // behind the stream: dropped
  post(app, shim::Op::kRecordEnd, c.child, 0, 1 << 30);  // beyond any stream: dropped
  app.write(c.child, "rec2");
  std::string got;
  bool eof = false;
  int err = 0;
  REQUIRE(rig.run_until([&] {
    rig.drain_a(c.client, &got, &eof, &err);
    return got.size() >= 8;
  }));
  CHECK(got == "rec1rec2");
  CHECK(err == 0);
}

TEST_CASE("shim options: TCP_NODELAY set to 1 under TCP_CORK pushes, even when it was 1",
          "[daemon][shim][options][cork]") {
  Rig rig;
  rig.channel_up(0);
  App app(rig.region(), 0);
  const Connection c = establish(rig, app, 5104);
  CHECK(set_opt(rig, app, c.child, IPPROTO_TCP, TCP_NODELAY, 1).result == 0);
  CHECK(set_opt(rig, app, c.child, IPPROTO_TCP, TCP_CORK, 1).result == 0);
  app.write(c.child, "corked");
  rig.settle(50);
  std::string got;
  bool eof = false;
  int err = 0;
  rig.drain_a(c.client, &got, &eof, &err);
  CHECK(got.empty());
  CHECK(set_opt(rig, app, c.child, IPPROTO_TCP, TCP_KEEPIDLE, 30).result == 0);  // no push
  rig.settle(20);
  rig.drain_a(c.client, &got, &eof, &err);
  CHECK(got.empty());
  CHECK(set_opt(rig, app, c.child, IPPROTO_TCP, TCP_NODELAY, 1).result == 0);
  rig.settle(5);
  rig.drain_a(c.client, &got, &eof, &err);
  CHECK(got == "corked");
}
