// ControlServer (daemon/core/control_server.h) on a unix socket in a temp dir, with two
// engines' mailboxes and eventfd doorbells made here; clients speak shim/control.h
// through shim::send_control/recv_control. Real sockets, but every wait is bounded and
// driven by serve() with a short timeout; nothing sleeps.
#include <catch2/catch.hpp>

#include <fcntl.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "daemon/core/control_server.h"
#include "daemon/core/credentials.h"
#include "daemon/core/mailbox.h"
#include "shim/control.h"
#include "shim/protocol.h"

using namespace utcp;
using namespace utcp::daemon;
using Kind = EngineMsg::Kind;

namespace {

constexpr std::size_t kEngines = 2;
constexpr std::uint32_t kIp = 0xc6120002;  // 198.18.0.2

// An fd closed when it goes out of scope.
class Fd {
 public:
  Fd() = default;
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() { reset(); }
  Fd(Fd&& o) noexcept : fd_(o.release()) {}
  Fd& operator=(Fd&& o) noexcept {
    if (this != &o) {
      reset();
      fd_ = o.release();
    }
    return *this;
  }
  int get() const { return fd_; }
  int release() { return std::exchange(fd_, -1); }
  void reset() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

 private:
  int fd_ = -1;
};

std::uint64_t drain_eventfd(int fd) {
  std::uint64_t n = 0;
  return ::read(fd, &n, sizeof n) == sizeof n ? n : 0;
}

ino_t inode_of(int fd) {
  struct stat st {};
  REQUIRE(::fstat(fd, &st) == 0);
  return st.st_ino;
}

shim::Geometry small_geometry() {
  shim::Geometry g;
  g.channels = 8;
  g.sockets = 8;
  g.command_capacity = 16;
  g.reply_capacity = 16;
  g.event_capacity = 16;
  g.stream_capacity = 4096;
  return g;
}

// What one process sees of its control connection.
struct Client {
  Fd sock;
  Fd wake;                     // the eventfd it passed
  shim::ControlMsg answer;
  std::vector<Fd> fds;         // memfd, then one doorbell per engine
};

// utcpd's control thread with two engines' mailboxes and doorbells.
class Rig {
 public:
  explicit Rig(std::function<std::string(shim::Query, std::uint32_t)> report = {}) {
    char tmpl[] = "/tmp/utcp-control-test-XXXXXX";
    REQUIRE(::mkdtemp(tmpl) != nullptr);
    dir_ = tmpl;
    ControlConfig cfg;
    cfg.path = dir_ + "/run/utcpd.sock";  // the server makes the directory
    cfg.geometry = small_geometry();
    cfg.ip = kIp;
    cfg.prefix_len = 24;
    cfg.engine_cpus = {3, 5};
    cfg.report = std::move(report);
    std::vector<Mailbox*> boxes;
    for (std::size_t e = 0; e < kEngines; ++e) {
      bells_[e] = Fd(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
      REQUIRE(bells_[e].get() >= 0);
      cfg.doorbells.push_back(bells_[e].get());
      boxes.push_back(&mail_[e]);
      // No engine thread runs here: each is as if asleep (so its doorbell is rung).
      (void)mail_[e].prepare_sleep();
    }
    server_ = std::make_unique<ControlServer>(cfg, boxes);
    std::string error;
    REQUIRE(server_->open(&error));
    CHECK(error.empty());
  }
  ~Rig() {
    server_.reset();  // unlinks the socket
    ::rmdir((dir_ + "/run").c_str());
    ::rmdir(dir_.c_str());
  }

  ControlServer& server() { return *server_; }
  Mailbox& mailbox(std::size_t e) { return mail_[e]; }
  int bell(std::size_t e) const { return bells_[e].get(); }

  // Serves until done() holds (bounded: a broken server fails the test, not hangs it).
  template <class Done>
  bool serve_until(Done&& done, int rounds = 200) {
    for (int i = 0; i < rounds; ++i) {
      collect();
      if (done()) return true;
      REQUIRE(server_->serve(5));
    }
    collect();
    return done();
  }
  void serve(int rounds = 3) {
    for (int i = 0; i < rounds; ++i) REQUIRE(server_->serve(5));
    collect();
  }

  Fd connect() {
    Fd s(::socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0));
    REQUIRE(s.get() >= 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::strncpy(addr.sun_path, server_->path().c_str(), sizeof addr.sun_path - 1);
    REQUIRE(::connect(s.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
    return s;
  }
  // One message from the daemon on `sock`, serving until it arrives. rc as recv_control.
  int receive(int sock, shim::ControlMsg* msg, std::vector<Fd>* fds = nullptr) {
    pollfd p{sock, POLLIN, 0};
    if (!serve_until([&] { return ::poll(&p, 1, 0) > 0; })) return -2;
    int raw[shim::kMaxPassedFds];
    std::size_t n = 0;
    const int rc = shim::recv_control(sock, msg, raw, &n);
    for (std::size_t i = 0; i < n; ++i) {
      if (fds) {
        fds->emplace_back(raw[i]);
      } else {
        ::close(raw[i]);
      }
    }
    return rc;
  }
  // kAttach (memfd < 0) or kJoin with `memfd`.
  Client attach(int memfd = -1) {
    Client c;
    c.sock = connect();
    c.wake = Fd(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
    shim::ControlMsg msg;
    msg.kind = memfd < 0 ? shim::ControlKind::kAttach : shim::ControlKind::kJoin;
    msg.pid = 4242;
    const int out[2] = {c.wake.get(), memfd};
    REQUIRE(shim::send_control(c.sock.get(), msg, std::span<const int>(out, memfd < 0 ? 1 : 2)));
    REQUIRE(receive(c.sock.get(), &c.answer, &c.fds) == 0);
    CHECK(c.answer.kind == shim::ControlKind::kAttached);
    return c;
  }

  // Every message each engine was sent so far.
  const std::vector<EngineMsg>& mail(std::size_t e) { return got_[e]; }
  std::size_t count(std::size_t e, Kind kind, std::uint32_t channel, std::uint32_t slot = 0,
                    std::uint32_t generation = 0) {
    return static_cast<std::size_t>(std::count_if(got_[e].begin(), got_[e].end(), [&](const EngineMsg& m) {
      return m.kind == kind && m.channel == channel && m.slot == slot && m.generation == generation;
    }));
  }
  // The engines' part of letting a channel go (ShimServer::deliver on kChannelGone).
  void engine_lets_go(std::size_t e) {
    for (const EngineMsg& m : got_[e]) {
      if (m.kind == Kind::kChannelGone && m.region->channel_pending(m.channel).load() != 0) {
        m.region->channel_pending(m.channel).fetch_sub(1);
      }
    }
  }
  std::shared_ptr<Region> region_of(std::size_t e, std::uint32_t channel) {
    for (const EngineMsg& m : got_[e]) {
      if (m.kind == Kind::kChannelUp && m.channel == channel) return m.region;
    }
    return nullptr;
  }

 private:
  void collect() {
    for (std::size_t e = 0; e < kEngines; ++e) {
      for (EngineMsg& m : mail_[e].take()) got_[e].push_back(std::move(m));
    }
  }

  std::string dir_;
  std::array<Fd, kEngines> bells_;
  std::array<Mailbox, kEngines> mail_;
  std::array<std::vector<EngineMsg>, kEngines> got_;
  std::unique_ptr<ControlServer> server_;
};

// A placeholder as preload registers one: the daemon gets one end, the app keeps the other.
Fd register_placeholder(Rig& rig, const Client& c, std::uint32_t slot, std::uint32_t generation) {
  int sv[2];
  REQUIRE(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
  shim::ControlMsg msg;
  msg.kind = shim::ControlKind::kPlaceholder;
  msg.slot = slot;
  msg.generation = generation;
  REQUIRE(shim::send_control(c.sock.get(), msg, std::span<const int>(&sv[1], 1)));
  ::close(sv[1]);
  REQUIRE(rig.serve_until([&] {
    return rig.count(0, Kind::kPlaceholder, c.answer.channel, slot, generation) == 1 &&
           rig.count(1, Kind::kPlaceholder, c.answer.channel, slot, generation) == 1;
  }));
  return Fd(sv[0]);
}

}  // namespace

TEST_CASE("control: attach answers with the memfd, a doorbell per engine and the geometry",
          "[daemon][control]") {
  Rig rig;
  Client c = rig.attach();
  const shim::ControlMsg& a = c.answer;
  CHECK(a.status == 0);
  CHECK(a.channel == 0);
  CHECK(a.geometry.engines == kEngines);
  CHECK(a.geometry.sockets == small_geometry().sockets);
  CHECK(a.geometry.stream_capacity == small_geometry().stream_capacity);
  CHECK(a.ip == kIp);
  CHECK(a.prefix_len == 24);
  CHECK(a.engine_cpu[0] == 3);
  CHECK(a.engine_cpu[1] == 5);
  REQUIRE(c.fds.size() == 1 + kEngines);

  // The memfd: sealed against resizing, as big as the layout, with a fresh header.
  const int memfd = c.fds[0].get();
  const shim::Layout layout(a.geometry);
  struct stat st {};
  REQUIRE(::fstat(memfd, &st) == 0);
  CHECK(static_cast<std::size_t>(st.st_size) == layout.total_bytes());
  const int seals = ::fcntl(memfd, F_GET_SEALS);
  CHECK((seals & F_SEAL_SHRINK) != 0);
  CHECK((seals & F_SEAL_GROW) != 0);
  CHECK(::ftruncate(memfd, 0) != 0);
  void* base = ::mmap(nullptr, layout.total_bytes(), PROT_READ | PROT_WRITE, MAP_SHARED, memfd, 0);
  REQUIRE(base != MAP_FAILED);
  const shim::RegionView view(base, a.geometry);
  CHECK(view.header().magic == shim::kRegionMagic);
  CHECK(view.header().version == shim::kProtocolVersion);
  CHECK(view.header().geometry.engines == kEngines);
  ::munmap(base, layout.total_bytes());

  // Every engine heard of the channel and had its doorbell rung.
  for (std::size_t e = 0; e < kEngines; ++e) {
    CHECK(rig.count(e, Kind::kChannelUp, 0) == 1);
    CHECK(drain_eventfd(rig.bell(e)) >= 1);
    const auto region = rig.region_of(e, 0);
    REQUIRE(region);
    CHECK(region->inode() == inode_of(memfd));
    CHECK(region->wake_fd(0) >= 0);
    // The process's /proc directory, from which engines read its credentials: this one.
    const auto cred = read_credentials(region->proc_fd(0));
    REQUIRE(cred);
    CHECK(cred->euid == ::geteuid());
  }
  // The doorbells passed are the engines' own, in engine order.
  for (std::size_t e = 0; e < kEngines; ++e) {
    const std::uint64_t n = 5 + e;
    REQUIRE(::write(c.fds[1 + e].get(), &n, sizeof n) == sizeof n);
    CHECK(drain_eventfd(rig.bell(e)) == n);
  }
  CHECK(rig.server().counters().attaches == 1);
  CHECK(rig.server().counters().families == 1);
}

TEST_CASE("control: an engine that is awake gets the mail without its doorbell",
          "[daemon][control]") {
  Rig rig;
  rig.mailbox(1).finish_sleep();  // engine 1 is running; engine 0 sleeps
  Client c = rig.attach();
  REQUIRE(c.answer.status == 0);
  for (std::size_t e = 0; e < kEngines; ++e) CHECK(rig.count(e, Kind::kChannelUp, 0) == 1);
  CHECK(drain_eventfd(rig.bell(0)) == 1);  // one ring, however many messages
  CHECK(drain_eventfd(rig.bell(1)) == 0);
}

TEST_CASE("control: a second process joins the family with the memfd and gets another channel",
          "[daemon][control]") {
  Rig rig;
  Client first = rig.attach();
  REQUIRE(first.fds.size() == 1 + kEngines);
  Client second = rig.attach(first.fds[0].get());
  CHECK(second.answer.status == 0);
  CHECK(second.answer.channel == 1);
  REQUIRE(second.fds.size() == 1 + kEngines);
  CHECK(inode_of(second.fds[0].get()) == inode_of(first.fds[0].get()));
  for (std::size_t e = 0; e < kEngines; ++e) {
    CHECK(rig.count(e, Kind::kChannelUp, 1) == 1);
    CHECK(rig.region_of(e, 1) == rig.region_of(e, 0));  // one region for the family
  }
  CHECK(rig.server().counters().joins == 1);
  CHECK(rig.server().counters().families == 1);

  // A process that attaches (not joins) starts a family of its own.
  Client stranger = rig.attach();
  CHECK(stranger.answer.status == 0);
  CHECK(stranger.answer.channel == 0);
  REQUIRE(stranger.fds.size() == 1 + kEngines);
  CHECK(inode_of(stranger.fds[0].get()) != inode_of(first.fds[0].get()));
  CHECK(rig.server().counters().families == 2);
}

TEST_CASE("control: a join with a foreign memfd is refused with ENOENT", "[daemon][control]") {
  Rig rig;
  Client member = rig.attach();
  Fd foreign(::memfd_create("not-utcp", MFD_CLOEXEC));
  REQUIRE(foreign.get() >= 0);
  Client intruder = rig.attach(foreign.get());
  CHECK(intruder.answer.status == ENOENT);
  CHECK(intruder.fds.empty());
  CHECK(rig.server().counters().rejected == 1);
  CHECK(rig.server().counters().joins == 0);
  for (std::size_t e = 0; e < kEngines; ++e) {
    CHECK(rig.mail(e).size() == 1);  // the member's kChannelUp only
  }
}

TEST_CASE("control: the placeholder's last close makes every engine release the socket",
          "[daemon][control]") {
  Rig rig;
  Client c = rig.attach();
  Fd app_end = register_placeholder(rig, c, 3, 7);
  CHECK(rig.server().counters().placeholders == 1);

  // Another reference (a dup, a fork) keeps the socket open.
  Fd dup(::dup(app_end.get()));
  app_end.reset();
  rig.serve(5);
  CHECK(rig.count(0, Kind::kRelease, 0, 3, 7) == 0);
  CHECK(rig.count(1, Kind::kRelease, 0, 3, 7) == 0);

  drain_eventfd(rig.bell(0));
  dup.reset();
  REQUIRE(rig.serve_until([&] {
    return rig.count(0, Kind::kRelease, 0, 3, 7) == 1 && rig.count(1, Kind::kRelease, 0, 3, 7) == 1;
  }));
  CHECK(drain_eventfd(rig.bell(0)) >= 1);
  CHECK(rig.server().counters().releases == 1);
  rig.serve(3);
  CHECK(rig.count(0, Kind::kRelease, 0, 3, 7) == 1);  // once
}

TEST_CASE("control: a closed connection posts kChannelGone, and its channel is reused only "
          "after every engine let go",
          "[daemon][control]") {
  Rig rig;
  Client first = rig.attach();
  Client second = rig.attach(first.fds[0].get());
  REQUIRE(second.answer.channel == 1);
  const auto region = rig.region_of(0, 0);
  REQUIRE(region);

  first.sock.reset();  // the process died
  REQUIRE(rig.serve_until([&] {
    return rig.count(0, Kind::kChannelGone, 0) == 1 && rig.count(1, Kind::kChannelGone, 0) == 1;
  }));
  CHECK(rig.server().counters().processes_gone == 1);
  CHECK(region->channel_pending(0).load() == kEngines);
  CHECK(region->wake_fd(0) >= 0);  // an engine may still write it
  CHECK(region->proc_fd(0) >= 0);  // or read the credentials of a command already queued

  Client third = rig.attach(second.fds[0].get());
  CHECK(third.answer.channel == 2);

  region->channel_pending(0).fetch_sub(1);  // engine 0 let go
  rig.serve(3);
  Client fourth = rig.attach(second.fds[0].get());
  CHECK(fourth.answer.channel == 3);
  CHECK(region->wake_fd(0) >= 0);

  region->channel_pending(0).fetch_sub(1);  // engine 1 too
  rig.serve(3);
  CHECK(region->wake_fd(0) == -1);
  CHECK(region->proc_fd(0) == -1);
  Client fifth = rig.attach(second.fds[0].get());
  CHECK(fifth.answer.channel == 0);
  CHECK(rig.server().counters().families == 1);
}

TEST_CASE("control: kSync is answered after the hang-ups raised before it were posted",
          "[daemon][control]") {
  Rig rig;
  Client c = rig.attach();
  Fd a = register_placeholder(rig, c, 1, 11);
  Fd b = register_placeholder(rig, c, 2, 12);
  // close(fd) then bind(): preload closes the placeholder, then asks for a sync. The
  // sync is queued first here, so the server meets it before the hang-ups in its batch.
  shim::ControlMsg sync;
  sync.kind = shim::ControlKind::kSync;
  REQUIRE(shim::send_control(c.sock.get(), sync, {}));
  a.reset();
  b.reset();
  shim::ControlMsg answer;
  REQUIRE(rig.receive(c.sock.get(), &answer) == 0);
  CHECK(answer.kind == shim::ControlKind::kSynced);
  for (std::size_t e = 0; e < kEngines; ++e) {
    CHECK(rig.count(e, Kind::kRelease, 0, 1, 11) == 1);
    CHECK(rig.count(e, Kind::kRelease, 0, 2, 12) == 1);
  }
}

TEST_CASE("control: a hang-up of a batch handled early by kSync does not release the "
          "placeholder that reuses its fd number", "[daemon][control]") {
  Rig rig;
  Client c = rig.attach();
  Fd a = register_placeholder(rig, c, 1, 11);
  // One batch: the connection is ready first (a sync queued before the close), then
  // a's hang-up. The sync handles the hang-up early and closes a's daemon end; the
  // placeholder registered next gets that fd number; the batch's hang-up event for
  // the old number must not release it.
  shim::ControlMsg sync;
  sync.kind = shim::ControlKind::kSync;
  REQUIRE(shim::send_control(c.sock.get(), sync, {}));
  a.reset();
  int sv[2];
  REQUIRE(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
  Fd b(sv[0]);
  shim::ControlMsg msg;
  msg.kind = shim::ControlKind::kPlaceholder;
  msg.slot = 2;
  msg.generation = 12;
  REQUIRE(shim::send_control(c.sock.get(), msg, std::span<const int>(&sv[1], 1)));
  ::close(sv[1]);
  shim::ControlMsg answer;
  REQUIRE(rig.receive(c.sock.get(), &answer) == 0);
  CHECK(answer.kind == shim::ControlKind::kSynced);
  rig.serve();
  for (std::size_t e = 0; e < kEngines; ++e) {
    CHECK(rig.count(e, Kind::kRelease, 0, 1, 11) == 1);
    CHECK(rig.count(e, Kind::kPlaceholder, 0, 2, 12) == 1);
    CHECK(rig.count(e, Kind::kRelease, 0, 2, 12) == 0);  // b is still open
  }
  b.reset();
  REQUIRE(rig.serve_until([&] { return rig.count(0, Kind::kRelease, 0, 2, 12) == 1; }));
}

TEST_CASE("control: a malformed message drops only its own connection", "[daemon][control]") {
  Rig rig;
  Client good = rig.attach();
  Client bad = rig.attach();  // a family of its own
  REQUIRE(bad.answer.channel == 0);
  const auto bad_region = rig.mail(0).back().region;  // bad's kChannelUp came last

  SECTION("too short") {
    const char junk[10] = {};
    REQUIRE(::send(bad.sock.get(), junk, sizeof junk, 0) == sizeof junk);
  }
  SECTION("wrong magic") {
    shim::ControlMsg msg;
    msg.kind = shim::ControlKind::kSync;
    msg.magic = 0xdeadbeef;
    REQUIRE(::send(bad.sock.get(), &msg, sizeof msg, 0) == sizeof msg);
  }
  SECTION("wrong version") {
    shim::ControlMsg msg;
    msg.kind = shim::ControlKind::kSync;
    msg.version = shim::kProtocolVersion + 1;
    REQUIRE(::send(bad.sock.get(), &msg, sizeof msg, 0) == sizeof msg);
  }

  // The server hangs up on the bad client (it reads EOF) ...
  char byte;
  pollfd p{bad.sock.get(), POLLIN, 0};
  REQUIRE(rig.serve_until([&] { return ::poll(&p, 1, 0) > 0; }));
  CHECK(::recv(bad.sock.get(), &byte, 1, MSG_DONTWAIT) == 0);
  CHECK(rig.server().counters().rejected == 1);
  CHECK(rig.server().counters().processes_gone == 1);
  // ... and its process is treated as dead: its channel goes away on every engine.
  CHECK(rig.mail(0).back().kind == Kind::kChannelGone);
  CHECK(rig.mail(0).back().region == bad_region);

  // The other client is served as before.
  shim::ControlMsg sync;
  sync.kind = shim::ControlKind::kSync;
  REQUIRE(shim::send_control(good.sock.get(), sync, {}));
  shim::ControlMsg answer;
  REQUIRE(rig.receive(good.sock.get(), &answer) == 0);
  CHECK(answer.kind == shim::ControlKind::kSynced);
}

// A SOCK_SEQPACKET message longer than ControlMsg arrives cut to its size: recvmsg's
// MSG_TRUNC is what tells (regression: it used to be accepted).
TEST_CASE("control: an oversized message is dropped like any wrong-sized one", "[daemon][control]") {
  Rig rig;
  Client good = rig.attach();
  Client bad = rig.attach();
  // A valid message with trailing bytes: control.h says the wrong size is EPROTO.
  struct Bigger {
    shim::ControlMsg msg;
    char extra[16] = {};
  } big;
  big.msg.kind = shim::ControlKind::kSync;
  REQUIRE(::send(bad.sock.get(), &big, sizeof big, 0) == sizeof big);

  pollfd p{bad.sock.get(), POLLIN, 0};
  REQUIRE(rig.serve_until([&] { return ::poll(&p, 1, 0) > 0; }));
  char buf[sizeof(shim::ControlMsg)];
  CHECK(::recv(bad.sock.get(), buf, sizeof buf, MSG_DONTWAIT) == 0);  // EOF, not kSynced
  CHECK(rig.server().counters().rejected == 1);
}

// A reused channel number must not hand the newcomer what the dead process left in
// its rings (regression: a stale kSocket ran for the newcomer and its reply, tag 1,
// looked like the answer to the newcomer's first call).
TEST_CASE("control: a reused channel starts with empty rings", "[daemon][control]") {
  Rig rig;
  Client first = rig.attach();
  Client second = rig.attach(first.fds[0].get());
  REQUIRE(first.answer.channel == 0);
  const shim::Geometry g = first.answer.geometry;
  const shim::Layout layout(g);
  void* base = ::mmap(nullptr, layout.total_bytes(), PROT_READ | PROT_WRITE, MAP_SHARED,
                      first.fds[0].get(), 0);
  REQUIRE(base != MAP_FAILED);
  const shim::RegionView view(base, g);
  {
    // The first process queues a command on engine 0 and dies before it is served.
    shim::CommandRing commands(view.command_ring(0, 0), g.command_capacity);
    shim::Command cmd;
    cmd.op = shim::Op::kSocket;
    cmd.tag = 1;
    REQUIRE(commands.push(cmd));
  }
  first.sock.reset();
  REQUIRE(rig.serve_until([&] { return rig.count(1, Kind::kChannelGone, 0) == 1; }));
  rig.engine_lets_go(0);
  rig.engine_lets_go(1);
  rig.serve(3);
  Client next = rig.attach(second.fds[0].get());
  REQUIRE(next.answer.channel == 0);
  // The newcomer must not inherit the dead process's command (the engine would run it,
  // and answer with a tag the newcomer may be waiting for).
  shim::CommandRing commands(view.command_ring(0, 0), g.command_capacity);
  CHECK_FALSE(commands.poisoned());
  CHECK(commands.readable() == 0);
  ::munmap(base, layout.total_bytes());
}

namespace {

// utcp stat / ss as tools/utcp_cli.cc sends them: the answer and the memfd's text.
std::pair<shim::ControlMsg, std::string> ask(Rig& rig, shim::Query what, std::uint32_t flags) {
  Fd sock = rig.connect();
  shim::ControlMsg msg;
  msg.kind = shim::ControlKind::kQuery;
  msg.slot = static_cast<std::uint32_t>(what);
  msg.generation = flags;
  REQUIRE(shim::send_control(sock.get(), msg, {}));
  shim::ControlMsg answer;
  std::vector<Fd> fds;
  REQUIRE(rig.receive(sock.get(), &answer, &fds) == 0);
  std::string text;
  if (fds.size() == 1) {
    char buf[256];
    for (ssize_t n; (n = ::read(fds[0].get(), buf, sizeof buf)) > 0;) {
      text.append(buf, static_cast<std::size_t>(n));
    }
  }
  return {answer, text};
}

}  // namespace

TEST_CASE("control: utcp stat and ss get the report's text in a memfd", "[daemon][control]") {
  std::vector<std::pair<shim::Query, std::uint32_t>> asked;
  const std::string big(300 * 1024, 'x');  // more than one datagram could carry
  Rig rig([&](shim::Query what, std::uint32_t flags) {
    asked.emplace_back(what, flags);
    return what == shim::Query::kStat ? std::string("counters\n") : big;
  });
  auto [stat, stat_text] = ask(rig, shim::Query::kStat, shim::kQueryJson);
  CHECK(stat.kind == shim::ControlKind::kReport);
  CHECK(stat.status == 0);
  CHECK(stat_text == "counters\n");
  auto [ss, ss_text] = ask(rig, shim::Query::kSockets, shim::kQueryListeners);
  CHECK(ss.status == 0);
  CHECK(ss_text == big);
  REQUIRE(asked.size() == 2);
  CHECK(asked[0] == std::make_pair(shim::Query::kStat, shim::kQueryJson));
  CHECK(asked[1] == std::make_pair(shim::Query::kSockets, shim::kQueryListeners));
  CHECK(rig.server().counters().queries == 2);
}

TEST_CASE("control: an unknown query is EINVAL, and without a reporter ENOSYS",
          "[daemon][control]") {
  Rig rig([](shim::Query, std::uint32_t) { return std::string("x"); });
  auto [bad, bad_text] = ask(rig, static_cast<shim::Query>(99), 0);
  CHECK(bad.status == EINVAL);
  CHECK(bad_text.empty());
  Rig plain;
  auto [none, none_text] = ask(plain, shim::Query::kStat, 0);
  CHECK(none.status == ENOSYS);
}
