// bind's permission checks in the ShimServer (daemon/core/shim_commands.cc): a port
// below ip_unprivileged_port_start needs CAP_NET_BIND_SERVICE in the binding process
// (EACCES, before any port conflict, as Linux's inet_bind); a SO_REUSEPORT socket
// carries its process's uid into the port table. Credentials come from /proc, never
// from the region; a process that is gone is refused.
#include <catch2/catch.hpp>
#include <fcntl.h>
#include <unistd.h>

#include "daemon/core/credentials.h"
#include "tests/daemon/shim_rig.h"

using namespace utcp;
using namespace utcp::daemon;
using namespace utcp::daemon::test;

namespace {

bool can_bind_service() {
  const int dir = ::open("/proc/self", O_PATH | O_DIRECTORY | O_CLOEXEC);
  const auto c = read_credentials(dir);
  ::close(dir);
  REQUIRE(c);
  return c->has(kCapNetBindService);
}

}  // namespace

TEST_CASE("shim: a bind below 1024 is judged by the process's CAP_NET_BIND_SERVICE",
          "[daemon][shim][permissions]") {
  Rig rig;
  rig.channel_up(0);
  App app(rig.region(), 0);
  const Sock low = rig.socket(app);
  const shim::Reply r = rig.call(app, Rig::command(shim::Op::kBind, low, 80));
  CHECK(r.result == (can_bind_service() ? 0 : -EACCES));
  const Sock high = rig.socket(app);
  CHECK(rig.call(app, Rig::command(shim::Op::kBind, high, 1024)).result == 0);
}

TEST_CASE("shim: a process whose credentials cannot be read binds no low port",
          "[daemon][shim][permissions]") {
  Rig rig;
  rig.channel_up(0);
  rig.region().set_proc_fd(0, -1);  // as if the process were gone
  App app(rig.region(), 0);
  const Sock held = rig.socket(app);
  REQUIRE(rig.call(app, Rig::command(shim::Op::kBind, held, 5000)).result == 0);
  // EACCES comes first, even where the port is taken (Linux's order in inet_bind).
  const Sock low = rig.socket(app);
  CHECK(rig.call(app, Rig::command(shim::Op::kBind, low, 80)).result == -EACCES);
  shim::Command reuse = Rig::command(shim::Op::kBind, low, 5001);
  reuse.b = 1;  // SO_REUSEPORT needs the uid: refused as well
  CHECK(rig.call(app, reuse).result == -EACCES);
  CHECK(rig.call(app, Rig::command(shim::Op::kBind, low, 5001)).result == 0);
}

TEST_CASE("shim: a SO_REUSEPORT group of another uid refuses the process",
          "[daemon][shim][permissions]") {
  Rig rig;
  rig.channel_up(0);
  App app(rig.region(), 0);
  // A group on 5000 that a socket of another uid holds, made on the engine directly.
  auto other = rig.b().socket();
  REQUIRE(other);
  auto o = rig.b().options(*other).value();
  o.reuse_port = true;
  o.uid = ::geteuid() + 1;
  REQUIRE(rig.b().set_options(*other, o, rig.now()) == 0);
  REQUIRE(rig.b().bind(*other, {stack::wire::Ipv4Addr{}, 5000}) == 0);
  REQUIRE(rig.b().listen(*other, 16) == 0);

  const Sock s = rig.socket(app);
  shim::Command bind = Rig::command(shim::Op::kBind, s, 5000);
  bind.b = 1;
  CHECK(rig.call(app, bind).result == -EADDRINUSE);
  // Once that socket is gone, the process makes a group of its own, with its uid.
  REQUIRE(rig.b().close(*other, rig.now()) == 0);
  CHECK(rig.call(app, bind).result == 0);
}

TEST_CASE("region: a listener share finds the owner's grant only as it was bound",
          "[daemon][permissions]") {
  std::string error;
  auto region = Region::create(small_geometry(), 1, &error);
  REQUIRE(region);
  CHECK_FALSE(region->granted(3, 7, 80, false));
  region->grant(3, 7, 80, true, 1000);
  CHECK(region->granted(3, 7, 80, true) == 1000u);
  CHECK_FALSE(region->granted(3, 8, 80, true));   // another generation of the slot
  CHECK_FALSE(region->granted(3, 7, 81, true));   // another port
  // Bound without SO_REUSEPORT (no uid was read): a share asking for it is judged anew.
  region->grant(4, 1, 8080, false, 0);
  CHECK_FALSE(region->granted(4, 1, 8080, true));
  CHECK(region->granted(4, 1, 8080, false) == 0u);
  CHECK_FALSE(region->granted(1u << 30, 1, 8080, false));  // out of range
}
