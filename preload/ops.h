// What the interposers share: errno helpers, the switch of a socket to utcp, its
// readiness in poll(2) bits, and the blocking wait. Read usocket.h and client.h first.
#pragma once

#include <poll.h>

#include <cerrno>
#include <cstdint>

#include "preload/client.h"
#include "preload/usocket.h"

namespace utcp::preload {

inline int fail(int err) {
  errno = err;
  return -1;
}

// Options the engine acts on (the rest is bookkeeping in the library, or unsupported).
bool engine_option(int level, int name);
// Sends the recorded engine options to one engine's share of s (a new socket's owner,
// or another engine's share of a listener).
void replay_options(Client& c, USocket& s, std::uint32_t engine);
// Sets the recorded options the kernel keeps on a placeholder (SO_RCVBUF/SO_SNDBUF, and
// with_priority SO_PRIORITY, also from IP_TOS) on placeholder fd: a new utcp socket's
// own, or an accepted connection's, which inherits its listener's buffer sizes but,
// as on Linux, not its priority.
void replay_on_placeholder(int fd, const USocket& s, bool with_priority);
// Writes an AF_INET address (host order in) to addr, truncated to *len as the kernel
// does, and sets *len to the full size. Nothing when either is null.
void fill_addr(sockaddr* addr, socklen_t* len, std::uint32_t ip_host, std::uint16_t port_host);

// The placeholder replaces the kernel socket at fd; the socket becomes utcp's. With
// keep_kernel_half the kernel socket lives on hidden (a 0.0.0.0 listener). Replays the
// recorded options. Returns 0 or -1 with errno.
int make_utcp(int fd, USocket& s, Client& c, bool keep_kernel_half);

// A new utcp fd for (slot, generation) handed out by engine `owner` (accept).
int adopt_accepted(Client& c, std::uint32_t owner, std::uint32_t slot, std::uint32_t generation,
                   int flags, USocketPtr* out);

// TCP_NOTSENT_LOWAT (Linux's tcp_stream_memory_free): room for more data only while the
// bytes not yet sent (in tx, and in utcpd's send buffer), shifted left by `wake`, stay
// under it. poll asks with wake = 1, a write with 0, as Linux does.
bool notsent_below_lowat(const USocket& s, const Client& c, unsigned wake);

// poll(2) bits (POLLIN, POLLOUT, POLLERR, POLLHUP, POLLRDHUP) of a utcp socket now.
short readiness(USocket& s, Client& c);

// Sends kKick when the engine may not be looking (coalesced through the block's flag).
void kick(USocket& s, Client& c);
// After reading: the engine waits for room in rx.
void after_read(USocket& s, Client& c);
// The first time this process uses an inherited socket: ask for its events.
void watch_if_inherited(USocket& s, Client& c);

// Sends a command about s to its owner (and, for a listener, to every engine when
// `all_engines`). Returns the owner's reply.
shim::Reply call_owner(Client& c, USocket& s, shim::Command cmd);

// The kernel closed the last fd of s in this process (close, close_range, dup2/dup3
// over it): its hidden kernel half goes too (other processes sharing a listener hold
// their own copies), and a listener's close takes effect before the call returns, as
// the kernel's does (a SYN after it is refused, what was queued is reset): utcpd learns
// of it from the placeholder's hang-up, so this waits until its engines have acted.
void closed_last_here(USocket& s);

// SIGPIPE as the kernel raises it on a write to a closed connection.
void raise_sigpipe();

}  // namespace utcp::preload
