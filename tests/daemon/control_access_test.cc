// Who may attach (daemon/core/control_access.h): --group resolved at start, the
// socket's mode and group and its new directory's mode set by ControlServer::open().
// Runs as any user: the group set is the test's own (chown to it needs no privilege).
#include <catch2/catch.hpp>

#include <sys/eventfd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "daemon/core/control_access.h"
#include "daemon/core/control_server.h"

using namespace utcp::daemon;

namespace {

constexpr const char* kNoSuchGroup = "utcp-no-such-group-for-tests";

struct stat stat_of(const std::string& path) {
  struct stat st {};
  REQUIRE(::stat(path.c_str(), &st) == 0);
  return st;
}

// A temporary directory, with ControlServer::open() run on a socket path under it.
class OpenRig {
 public:
  OpenRig() {
    char tmpl[] = "/tmp/utcp-access-test-XXXXXX";
    REQUIRE(::mkdtemp(tmpl) != nullptr);
    dir_ = tmpl;
    bell_ = ::eventfd(0, EFD_CLOEXEC);
    REQUIRE(bell_ >= 0);
  }
  ~OpenRig() {
    server_.reset();
    for (auto it = made_.rbegin(); it != made_.rend(); ++it) ::rmdir(it->c_str());
    ::rmdir(dir_.c_str());
    ::close(bell_);
  }
  const std::string& dir() const { return dir_; }
  void will_remove(std::string d) { made_.push_back(std::move(d)); }

  bool open(const std::string& path, ControlAccess access) {
    ControlConfig cfg;
    cfg.path = path;
    cfg.access = access;
    cfg.doorbells = {bell_};
    server_ = std::make_unique<ControlServer>(cfg, std::vector<Mailbox*>{&mail_});
    std::string error;
    const bool ok = server_->open(&error);
    INFO(error);
    return ok;
  }

 private:
  std::string dir_;
  std::vector<std::string> made_;
  int bell_ = -1;
  Mailbox mail_;
  std::unique_ptr<ControlServer> server_;
};

}  // namespace

TEST_CASE("control access: a directory utcpd makes admits only whom the socket admits") {
  CHECK(directory_mode(0660) == 0750);
  CHECK(directory_mode(0600) == 0700);
  CHECK(directory_mode(0666) == 0755);
  CHECK(directory_mode(0620) == 0750);
  CHECK(directory_mode(0606) == 0705);
  CHECK(directory_mode(0000) == 0700);
}

TEST_CASE("control access: --group is looked up by name or number") {
  Options o;
  std::string error;
  int status = 0;
  o.control_group = "root";
  auto a = resolve_control_access(o, &error, &status);
  REQUIRE(a);
  CHECK(a->group == 0);
  CHECK(a->mode == 0660);
  o.control_group = "0";
  o.control_mode = 0600;
  a = resolve_control_access(o, &error, &status);
  REQUIRE(a);
  CHECK(a->group == 0);
  CHECK(a->mode == 0600);
}

TEST_CASE("control access: a missing group is one line naming --group") {
  Options o;
  o.control_group = kNoSuchGroup;
  std::string error;
  int status = 0;
  SECTION("the default group was never created: exit 1, says how to create it") {
    CHECK_FALSE(resolve_control_access(o, &error, &status));
    CHECK(status == 1);
    CHECK(error.find(std::string("group ") + kNoSuchGroup + " does not exist") != std::string::npos);
    CHECK(error.find("groupadd --system") != std::string::npos);
    CHECK(error.find("--group NAME") != std::string::npos);
  }
  SECTION("a --group given that does not exist: exit 2, a bad value") {
    o.control_group_given = true;
    CHECK_FALSE(resolve_control_access(o, &error, &status));
    CHECK(status == 2);
    CHECK(error == std::string("bad --group '") + kNoSuchGroup + "': no such group");
  }
  CHECK(error.find('\n') == std::string::npos);
}

TEST_CASE("control access: open() sets the socket's group and mode, and its new directories'") {
  OpenRig rig;
  const std::string run = rig.dir() + "/run";
  const std::string sub = run + "/utcp";
  rig.will_remove(run);
  rig.will_remove(sub);
  const gid_t gid = ::getegid();
  REQUIRE(rig.open(sub + "/utcpd.sock", ControlAccess{gid, 0640}));
  const struct stat sock = stat_of(sub + "/utcpd.sock");
  CHECK(S_ISSOCK(sock.st_mode));
  CHECK((sock.st_mode & 07777) == 0640);
  CHECK(sock.st_gid == gid);
  for (const std::string& d : {run, sub}) {
    const struct stat st = stat_of(d);
    INFO(d);
    CHECK((st.st_mode & 07777) == 0750);
    CHECK(st.st_gid == gid);
  }
  // What existed is left as it was.
  CHECK((stat_of(rig.dir()).st_mode & 07777) == 0700);
}

TEST_CASE("control access: an existing directory keeps its mode, a stale socket is replaced") {
  OpenRig rig;
  REQUIRE(::chmod(rig.dir().c_str(), 0711) == 0);
  const std::string path = rig.dir() + "/utcpd.sock";
  REQUIRE(rig.open(path, ControlAccess{static_cast<gid_t>(-1), 0666}));
  CHECK((stat_of(path).st_mode & 07777) == 0666);
  REQUIRE(rig.open(path, ControlAccess{static_cast<gid_t>(-1), 0600}));  // the old one is stale
  CHECK((stat_of(path).st_mode & 07777) == 0600);
  CHECK((stat_of(rig.dir()).st_mode & 07777) == 0711);
}
