// SCM_RIGHTS plumbing of the control socket (read control.h first). Calls go through
// syscall-level libc entry points that libutcp.so does not interpose (sendmsg/recvmsg
// on a unix socket pass straight to the kernel there), so the daemon and the library
// share this code.
#include "shim/control.h"

#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace utcp::shim {

bool send_control(int sock, const ControlMsg& msg, std::span<const int> fds) {
  if (fds.size() > kMaxPassedFds) {
    errno = EINVAL;
    return false;
  }
  iovec iov{const_cast<ControlMsg*>(&msg), sizeof msg};
  alignas(cmsghdr) char buf[CMSG_SPACE(sizeof(int) * kMaxPassedFds)] = {};
  msghdr mh{};
  mh.msg_iov = &iov;
  mh.msg_iovlen = 1;
  if (!fds.empty()) {
    mh.msg_control = buf;
    mh.msg_controllen = CMSG_SPACE(sizeof(int) * fds.size());
    cmsghdr* cm = CMSG_FIRSTHDR(&mh);
    cm->cmsg_level = SOL_SOCKET;
    cm->cmsg_type = SCM_RIGHTS;
    cm->cmsg_len = CMSG_LEN(sizeof(int) * fds.size());
    std::memcpy(CMSG_DATA(cm), fds.data(), sizeof(int) * fds.size());
  }
  ssize_t n;
  do {
    n = ::sendmsg(sock, &mh, MSG_NOSIGNAL);
  } while (n < 0 && errno == EINTR);
  if (n >= 0 && static_cast<std::size_t>(n) != sizeof msg) errno = EPROTO;
  return n == static_cast<ssize_t>(sizeof msg);
}

int recv_control(int sock, ControlMsg* msg, std::span<int> fds, std::size_t* nfds) {
  *nfds = 0;
  iovec iov{msg, sizeof *msg};
  alignas(cmsghdr) char buf[CMSG_SPACE(sizeof(int) * kMaxPassedFds)] = {};
  msghdr mh{};
  mh.msg_iov = &iov;
  mh.msg_iovlen = 1;
  mh.msg_control = buf;
  mh.msg_controllen = sizeof buf;
  ssize_t n;
  do {
    n = ::recvmsg(sock, &mh, MSG_CMSG_CLOEXEC);
  } while (n < 0 && errno == EINTR);
  if (n < 0) return -1;
  if (n == 0) return 1;
  std::size_t got = 0;
  int passed[kMaxPassedFds];
  for (cmsghdr* cm = CMSG_FIRSTHDR(&mh); cm != nullptr; cm = CMSG_NXTHDR(&mh, cm)) {
    if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS) continue;
    const std::size_t k = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
    for (std::size_t i = 0; i < k && got < kMaxPassedFds; ++i) {
      std::memcpy(&passed[got++], CMSG_DATA(cm) + i * sizeof(int), sizeof(int));
    }
  }
  // MSG_TRUNC: a longer datagram was cut to our size (recvmsg returns what it copied).
  const bool bad = static_cast<std::size_t>(n) != sizeof *msg ||
                   (mh.msg_flags & (MSG_CTRUNC | MSG_TRUNC)) ||
                   msg->magic != kRegionMagic || msg->version != kProtocolVersion ||
                   got > fds.size();
  if (bad) {
    for (std::size_t i = 0; i < got; ++i) ::close(passed[i]);
    errno = EPROTO;
    return -1;
  }
  std::memcpy(fds.data(), passed, got * sizeof(int));
  *nfds = got;
  return 0;
}

}  // namespace utcp::shim
