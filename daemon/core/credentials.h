// Credentials: who an attached process is, as the kernel says it now. utcpd never takes
// them from shared memory: the control thread opens the process's /proc/<pid> directory
// at attach (checked against a pidfd, so a recycled pid cannot slip in), and an engine
// reads `status` through it at the rare operation that needs them (a bind below
// ip_unprivileged_port_start, a SO_REUSEPORT bind), so setuid() and capset() count from
// the next call on, as in Linux. A process that is gone reads as nothing: deny.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string_view>

namespace utcp::daemon {

// Capability numbers (linux/capability.h).
inline constexpr int kCapNetBindService = 10;
inline constexpr int kCapNetAdmin = 12;
inline constexpr int kCapNetRaw = 13;

struct Credentials {
  std::uint32_t euid = 0;
  std::uint32_t egid = 0;
  std::uint32_t fsuid = 0;   // what Linux stamps on a new socket (sk_uid)
  std::uint64_t cap_eff = 0;
  // CapEff: counts in the process's own user namespace; Linux asks for the capability
  // in the one that owns the network namespace (utcpd's). A process in another user
  // namespace (e.g. `unshare -U -r`) is taken to have none: stricter, never looser.
  bool in_our_user_ns = true;
  bool has(int cap) const { return in_our_user_ns && ((cap_eff >> cap) & 1); }
};

// The Uid:, Gid: (effective and fs fields) and CapEff: lines of /proc/<pid>/status.
std::optional<Credentials> parse_status(std::string_view text);
// Reads `status` (and `ns/user`) under a /proc/<pid> directory fd; nullopt when the
// process is gone (or the fd is -1).
std::optional<Credentials> read_credentials(int proc_dir_fd);
// The control thread, at attach: the /proc/<pid> directory of the peer of a unix
// socket, or -1. The peer's pidfd (SO_PEERPIDFD; else pidfd_open of SO_PEERCRED's pid)
// still naming a live process after the directory is open proves the directory is that
// process's, not a successor's that got the pid.
int open_peer_proc_dir(int sock_fd, pid_t* pid);
// net.ipv4.ip_unprivileged_port_start of utcpd's network namespace (1024 if unreadable).
std::uint32_t read_unprivileged_port_start();

}  // namespace utcp::daemon
