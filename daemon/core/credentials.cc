// Credentials from /proc (read credentials.h first). Linux's field order in status:
// "Uid:\treal\teffective\tsaved\tfs", the same for Gid:; "CapEff:\t<16 hex digits>".
#include "daemon/core/credentials.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <string>

#ifndef SO_PEERPIDFD
#define SO_PEERPIDFD 77
#endif

namespace utcp::daemon {
namespace {

// The n-th whitespace-separated field after `key` on its line (0: the first).
std::optional<std::string_view> field(std::string_view text, std::string_view key, int n) {
  std::size_t at = 0;
  while (at < text.size()) {
    const std::size_t end = std::min(text.find('\n', at), text.size());
    std::string_view line = text.substr(at, end - at);
    at = end + 1;
    if (line.substr(0, key.size()) != key) continue;
    line.remove_prefix(key.size());
    for (int i = 0;; ++i) {
      const std::size_t b = line.find_first_not_of(" \t");
      if (b == std::string_view::npos) return std::nullopt;
      line.remove_prefix(b);
      const std::size_t e = std::min(line.find_first_of(" \t"), line.size());
      if (i == n) return line.substr(0, e);
      line.remove_prefix(e);
    }
  }
  return std::nullopt;
}

std::optional<std::uint64_t> number(std::optional<std::string_view> s, int base) {
  if (!s || s->empty() || s->size() > 20) return std::nullopt;
  const std::string copy(*s);
  char* end = nullptr;
  const unsigned long long v = std::strtoull(copy.c_str(), &end, base);
  if (end != copy.c_str() + copy.size()) return std::nullopt;
  return v;
}

// A user namespace link reads "user:[inode]"; "" when it cannot be read.
std::string user_ns(int dir_fd, const char* path) {
  char link[64];
  const ssize_t n = ::readlinkat(dir_fd, path, link, sizeof link);
  return n > 0 ? std::string(link, static_cast<std::size_t>(n)) : std::string();
}

}  // namespace

std::optional<Credentials> parse_status(std::string_view text) {
  const auto euid = number(field(text, "Uid:", 1), 10);
  const auto fsuid = number(field(text, "Uid:", 3), 10);
  const auto egid = number(field(text, "Gid:", 1), 10);
  const auto caps = number(field(text, "CapEff:", 0), 16);
  if (!euid || !fsuid || !egid || !caps) return std::nullopt;
  return Credentials{static_cast<std::uint32_t>(*euid), static_cast<std::uint32_t>(*egid),
                     static_cast<std::uint32_t>(*fsuid), *caps};
}

std::optional<Credentials> read_credentials(int proc_dir_fd) {
  if (proc_dir_fd < 0) return std::nullopt;
  const int fd = ::openat(proc_dir_fd, "status", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return std::nullopt;  // the process is gone: its directory is empty
  char buf[4096];
  std::size_t len = 0;
  for (;;) {
    const ssize_t n = ::read(fd, buf + len, sizeof buf - len);
    if (n <= 0) break;
    len += static_cast<std::size_t>(n);
    if (len == sizeof buf) break;  // CapEff: is well within the first 4 KiB
  }
  ::close(fd);
  std::optional<Credentials> c = parse_status(std::string_view(buf, len));
  if (c) {
    static const std::string ours = user_ns(AT_FDCWD, "/proc/self/ns/user");  // fixed for life
    const std::string theirs = user_ns(proc_dir_fd, "ns/user");
    c->in_our_user_ns = !ours.empty() && theirs == ours;
  }
  return c;
}

int open_peer_proc_dir(int sock_fd, pid_t* pid) {
  ucred cred{};
  socklen_t len = sizeof cred;
  if (::getsockopt(sock_fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0 || cred.pid <= 0) return -1;
  *pid = cred.pid;
  int pidfd = -1;
  len = sizeof pidfd;
  if (::getsockopt(sock_fd, SOL_SOCKET, SO_PEERPIDFD, &pidfd, &len) != 0) {
    // Before Linux 6.5: a pidfd of the pid SO_PEERCRED names. If the peer died and the
    // pid was reused before this line, the check below passes for the successor; that
    // successor is not attached to this socket, though, whose peer is gone: the
    // connection's hang-up ends the channel before it can do anything.
    pidfd = static_cast<int>(::syscall(SYS_pidfd_open, cred.pid, 0));
  }
  if (pidfd < 0) return -1;
  const std::string path = "/proc/" + std::to_string(cred.pid);
  int dir = ::open(path.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (dir >= 0 && ::syscall(SYS_pidfd_send_signal, pidfd, 0, nullptr, 0) != 0) {
    ::close(dir);  // the peer died: the directory may be a successor's
    dir = -1;
  }
  ::close(pidfd);
  return dir;
}

std::uint32_t read_unprivileged_port_start() {
  std::FILE* f = std::fopen("/proc/sys/net/ipv4/ip_unprivileged_port_start", "re");
  unsigned v = 1024;
  if (f != nullptr) {
    if (std::fscanf(f, "%u", &v) != 1) v = 1024;
    std::fclose(f);
  }
  return v;
}

}  // namespace utcp::daemon
