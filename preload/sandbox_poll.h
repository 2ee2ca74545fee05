// poll(2) for the library's own waits, in a process that may have sandboxed itself.
// Linux refuses poll() of more fds than RLIMIT_NOFILE allows (EINVAL), and OpenSSH's
// privilege-separated child sets that limit to 1 (0 on upstream) before it waits on its
// connection; a wait on a utcp socket needs several (the channel's wake-up, the thread's
// own eventfd, utcpd's control socket). select(2) is bounded by the fd table instead,
// and sshd's seccomp filter allows it, so the wait falls back to it.
#pragma once

#include <poll.h>

namespace utcp::preload {

// As poll(2): returns the number of fds with revents, 0 on timeout, -1 with errno.
int poll_fds(pollfd* fds, nfds_t n, int timeout_ms);

}  // namespace utcp::preload
