// The control socket (DESIGN.md §1): a SOCK_SEQPACKET unix socket where a process
// attaches (and the daemon learns of its death when the connection closes), and
// where file descriptors travel (SCM_RIGHTS): the region memfd and the engines'
// doorbells to the app, the app's wake-up eventfd and its placeholders to the daemon.
//
// Messages (each one datagram):
//   kAttach      app -> daemon  fds: [wake eventfd]            a new family (new region)
//   kJoin        app -> daemon  fds: [wake eventfd, memfd]     a forked or exec'd member;
//                                                              the memfd proves membership
//   kAttached    daemon -> app  fds: [memfd, doorbell × engines]  the answer to both
//   kPlaceholder app -> daemon  fds: [daemon's end]            no answer
//   kSync        app -> daemon                                 answered (kSynced) once every
//                                                              placeholder closed before it
//                                                              is released to the engines
//   kQuery       utcp -> daemon  slot: Query, generation: kQuery* flags   (no attach needed)
//   kReport      daemon -> utcp  fds: [memfd holding the text]  status: 0 or an errno
// A placeholder is the app's fd number for a utcp socket: one end of a unix socketpair
// whose other end the daemon holds. The kernel counts its references across dup,
// fork, exec and SCM_RIGHTS exactly; when the last one closes, the daemon's end hangs
// up and the socket is closed as the kernel would close it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>

#include "shim/protocol.h"

namespace utcp::shim {

inline constexpr const char* kDefaultControlPath = "/run/utcp/utcpd.sock";
inline constexpr std::size_t kMaxPassedFds = 2 + kMaxEngines;

enum class ControlKind : std::uint16_t {
  kAttach = 1, kJoin, kAttached, kPlaceholder, kSync, kSynced, kQuery, kReport
};

// What `utcp` asks for (ControlMsg::slot of kQuery) and how (ControlMsg::generation).
enum class Query : std::uint32_t { kStat = 1, kSockets = 2 };
inline constexpr std::uint32_t kQueryJson = 1;       // JSON instead of text
inline constexpr std::uint32_t kQueryAll = 2;        // stat: zero counters too; ss: listeners too
inline constexpr std::uint32_t kQueryListeners = 4;  // ss: listeners only

struct ControlMsg {
  std::uint32_t magic = kRegionMagic;
  std::uint16_t version = kProtocolVersion;
  ControlKind kind = ControlKind::kAttach;
  std::int32_t pid = 0;
  std::int32_t status = 0;       // kAttached: 0 or an errno
  std::uint32_t channel = 0;     // kAttached: this process's channel in the region
  std::uint32_t slot = 0;        // kPlaceholder
  std::uint32_t generation = 0;  // kPlaceholder
  Geometry geometry;             // kAttached
  std::uint32_t ip = 0;          // kAttached: utcp's address (host order) ...
  std::uint32_t prefix_len = 0;  // ... and its prefix
  std::int32_t engine_cpu[kMaxEngines] = {};  // kAttached: the core of each engine
};

// One message and up to kMaxPassedFds descriptors. Returns false (errno set) on a
// short or failed send.
bool send_control(int sock, const ControlMsg& msg, std::span<const int> fds);
// Receives one message; *nfds is how many descriptors arrived (all CLOEXEC), the rest
// of `fds` is untouched. Returns 0 on success, -1 with errno, or 1 when the peer
// closed. A message of the wrong size, magic or version is EPROTO (its fds closed).
int recv_control(int sock, ControlMsg* msg, std::span<int> fds, std::size_t* nfds);

}  // namespace utcp::shim
