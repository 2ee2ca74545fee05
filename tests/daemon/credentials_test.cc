// Credentials from /proc/<pid>/status (daemon/core/credentials.h): the effective and fs
// fields are taken, not the real ones; a process that is gone reads as nothing.
#include "daemon/core/credentials.h"

#include <catch2/catch.hpp>
#include <fcntl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <string>

namespace utcp::daemon {
namespace {

constexpr const char* kStatus =
    "Name:\tnginx\n"
    "Umask:\t0022\n"
    "State:\tS (sleeping)\n"
    "Uid:\t0\t33\t33\t34\n"
    "Gid:\t0\t44\t44\t44\n"
    "Groups:\t33 \n"
    "CapInh:\t0000000000000000\n"
    "CapPrm:\t0000000000000400\n"
    "CapEff:\t0000000000000400\n";

}  // namespace

TEST_CASE("credentials: status gives effective uid, gid, fsuid and CapEff",
          "[daemon][credentials]") {
  const auto c = parse_status(kStatus);
  REQUIRE(c);
  CHECK(c->euid == 33);
  CHECK(c->fsuid == 34);
  CHECK(c->egid == 44);
  CHECK(c->has(kCapNetBindService));  // 0x400: bit 10
  CHECK_FALSE(c->has(kCapNetAdmin));
  CHECK_FALSE(c->has(kCapNetRaw));
}

TEST_CASE("credentials: a status without the fields is refused", "[daemon][credentials]") {
  CHECK_FALSE(parse_status(""));
  CHECK_FALSE(parse_status("Uid:\t0\t0\t0\t0\nGid:\t0\t0\t0\t0\n"));  // no CapEff:
  CHECK_FALSE(parse_status("Uid:\tx\nGid:\t0\t0\t0\t0\nCapEff:\t0\n"));
  CHECK_FALSE(parse_status("Uid:\t0\t0\t0\t0\nGid:\t0\t0\t0\t0\nCapEff:\tzz\n"));
}

TEST_CASE("credentials: this process through its /proc directory", "[daemon][credentials]") {
  const int dir = ::open("/proc/self", O_PATH | O_DIRECTORY | O_CLOEXEC);
  REQUIRE(dir >= 0);
  const auto c = read_credentials(dir);
  ::close(dir);
  REQUIRE(c);
  CHECK(c->euid == ::geteuid());
  CHECK(c->egid == ::getegid());
  CHECK(c->in_our_user_ns);
  CHECK_FALSE(read_credentials(-1));
}

TEST_CASE("credentials: capabilities of another user namespace count for nothing",
          "[daemon][credentials]") {
  auto c = parse_status(kStatus);
  REQUIRE(c);
  c->in_our_user_ns = false;
  CHECK_FALSE(c->has(kCapNetBindService));
}

TEST_CASE("credentials: a process that is gone reads as nothing", "[daemon][credentials]") {
  const pid_t child = ::fork();
  REQUIRE(child >= 0);
  if (child == 0) ::_exit(0);
  const std::string path = "/proc/" + std::to_string(child);
  const int dir = ::open(path.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC);
  REQUIRE(dir >= 0);
  int status = 0;
  REQUIRE(::waitpid(child, &status, 0) == child);  // reaped: the pid may be reused now
  CHECK_FALSE(read_credentials(dir));
  ::close(dir);
}

TEST_CASE("credentials: the peer of a unix socket is found race-free", "[daemon][credentials]") {
  int sv[2];
  REQUIRE(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
  pid_t pid = 0;
  const int dir = open_peer_proc_dir(sv[0], &pid);
  CHECK(pid == ::getpid());
  REQUIRE(dir >= 0);
  const auto c = read_credentials(dir);
  REQUIRE(c);
  CHECK(c->euid == ::geteuid());
  ::close(dir);
  ::close(sv[0]);
  ::close(sv[1]);
}

TEST_CASE("credentials: ip_unprivileged_port_start is read from /proc/sys",
          "[daemon][credentials]") {
  CHECK(read_unprivileged_port_start() <= 65536);
}

}  // namespace utcp::daemon
