// The data calls: read, readv, write, writev, recv, recvfrom, recvmsg, send, sendto,
// sendmsg, sendfile. On a utcp socket they are copies into and out of the socket's
// shared byte streams (no syscall while the engine is awake), and blocking is the
// Client's wait (DESIGN.md §3). Error order follows Linux's tcp_recvmsg/tcp_sendmsg.
#include <fcntl.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <vector>

#include "preload/ops.h"
#include "preload/real.h"
#include "preload/signals.h"

using namespace utcp::preload;

namespace {

namespace st = utcp::shim::state;
constexpr int kSupportedRecv =
    MSG_PEEK | MSG_DONTWAIT | MSG_WAITALL | MSG_NOSIGNAL | MSG_CMSG_CLOEXEC | MSG_TRUNC | MSG_OOB;
constexpr int kSupportedSend = MSG_DONTWAIT | MSG_NOSIGNAL | MSG_MORE | MSG_EOR;

std::size_t total_len(const iovec* iov, int n) {
  std::size_t t = 0;
  for (int i = 0; i < n; ++i) t += iov[i].iov_len;
  return t;
}

bool bad_buffers(const iovec* iov, int n) {
  if (iov == nullptr && n > 0) return true;
  for (int i = 0; i < n; ++i) {
    if (iov[i].iov_base == nullptr && iov[i].iov_len > 0) return true;
  }
  return false;
}

// Copies out of rx into the iovecs (peek: without consuming). Returns bytes copied.
std::size_t copy_out(utcp::shim::ByteStream& rx, const iovec* iov, int n, std::size_t skip_done,
                     bool peek) {
  std::size_t done = 0, offset = 0;
  for (int i = 0; i < n; ++i) {
    std::size_t len = iov[i].iov_len;
    auto* base = static_cast<std::byte*>(iov[i].iov_base);
    if (offset + len <= skip_done) {  // filled by an earlier round (MSG_WAITALL)
      offset += len;
      continue;
    }
    const std::size_t from = skip_done > offset ? skip_done - offset : 0;
    offset += len;
    base += from;
    len -= from;
    if (base == nullptr) {  // MSG_TRUNC: discard
      const std::size_t k = rx.consume(len);
      done += k;
      if (k < len) break;
      continue;
    }
    if (peek) {
      // Peeking past the first iovec means peeking at an offset: copy all, then split.
      std::vector<std::byte> tmp(done + len);
      const std::size_t got = rx.peek(tmp);
      if (got <= done) break;
      const std::size_t k = std::min(len, got - done);
      std::memcpy(base, tmp.data() + done, k);
      done += k;
      if (k < len) break;
      continue;
    }
    const std::size_t k = rx.read(std::span(base, len));
    done += k;
    if (k < len) break;
  }
  return done;
}

// `from_read`: read()/readv(), where a zero-length read returns 0 at once (the VFS
// never asks the socket); recv*() with length 0 waits for data like Linux's
// tcp_recvmsg (its low-water mark is at least one byte), then returns 0.
ssize_t utcp_recv(USocket& s, Client& c, const iovec* iov, int n, int flags, bool from_read = false) {
  if (flags & ~kSupportedRecv) return fail(EOPNOTSUPP);
  if (c.daemon_gone()) return fail(ECONNRESET);
  if (s.listening || s.mode != USocket::Mode::kUtcp) return fail(ENOTCONN);
  if (flags & MSG_OOB) return fail(EINVAL);  // utcp never holds urgent data
  if (iov == nullptr && n > 0) return fail(EFAULT);
  if (from_read && total_len(iov, n) == 0) return 0;
  // MSG_TRUNC on TCP: the bytes are dropped, not copied (the buffer may be NULL).
  std::vector<iovec> discard;
  if ((flags & MSG_TRUNC) && !(flags & MSG_PEEK)) {
    discard.assign(iov, iov + n);
    for (iovec& v : discard) v.iov_base = nullptr;
    iov = discard.data();
  } else if (bad_buffers(iov, n)) {
    return fail(EFAULT);
  }
  const std::size_t want = total_len(iov, n);
  const bool peek = (flags & MSG_PEEK) != 0;
  const bool dontwait = s.nonblocking || (flags & MSG_DONTWAIT);
  // Linux's sock_rcvlowat: a blocking read returns once it has SO_RCVLOWAT bytes (all of
  // them with MSG_WAITALL), or less at EOF, an error, a timeout or a signal.
  const std::size_t lowat = std::min<std::size_t>(static_cast<std::size_t>(std::max(s.rcvlowat, 1)),
                                                  c.geometry().stream_capacity);
  const std::size_t target = (flags & MSG_WAITALL) ? want : std::min(want, lowat);
  std::size_t got = 0;
  for (;;) {
    watch_if_inherited(s, c);
    // The state first: the engine writes the last bytes before it sets kRxEof (release),
    // so a copy after an acquire of kRxEof sees them all. Loaded after the copy, an EOF
    // that came in between would be reported while its data sat unread in the stream.
    const std::uint32_t state = s.block(c).state.load(std::memory_order_acquire);
    utcp::shim::ByteStream rx = s.rx_view(c);
    const std::size_t k = copy_out(rx, iov, n, got, peek);
    if (k > 0 && !peek) after_read(s, c);
    got += k;
    if (want == 0 && (rx.readable() > 0 || (state & (st::kRxEof | st::kRxShut)))) return 0;
    if (got > 0 && (got >= target || peek || dontwait)) {
      return static_cast<ssize_t>(got);
    }
    // Linux's tcp_recvmsg order: the peer's FIN (SOCK_DONE) before the pending error,
    // so a FIN then RST reads as EOF and the error is left for write() and SO_ERROR.
    if (got == 0 && (state & st::kError) && !(state & st::kRxEof) &&
        !s.error_reported.exchange(true)) {
      return fail(s.block(c).error.load());
    }
    if (state & (st::kRxEof | st::kError | st::kRxShut)) return static_cast<ssize_t>(got);
    if (!(state & (st::kConnected | st::kConnecting))) return fail(ENOTCONN);
    if (c.daemon_gone()) return got > 0 ? static_cast<ssize_t>(got) : fail(ECONNRESET);
    if (dontwait) return fail(EAGAIN);
    const SignalMark mark = signal_mark();
    const int w = c.wait(
        [&] {
          return s.rx_view(c).readable() > 0 ||
                 (s.block(c).state.load() & (st::kRxEof | st::kError | st::kRxShut)) != 0;
        },
        {}, static_cast<int>(s.rcvtimeo_ms));
    if (w < 0 && errno == EINTR && got == 0 && s.rcvtimeo_ms < 0 && restart_after_signal(mark)) continue;
    if (w < 0) return got > 0 ? static_cast<ssize_t>(got) : -1;
    if (w == 0) return got > 0 ? static_cast<ssize_t>(got) : fail(EAGAIN);
  }
}

// MSG_MORE: utcpd holds what follows like TCP_CORK until a send without the flag (or
// for 200 ms). Posted in order with the kicks, so the data on either side of the
// change is treated as it was written.
void set_more(USocket& s, Client& c, bool on) {
  utcp::shim::Command cmd;
  cmd.op = utcp::shim::Op::kSendMore;
  cmd.slot = s.slot;
  cmd.generation = s.generation;
  cmd.a = on ? 1 : 0;
  c.post(s.owner, cmd);
  s.tx_more = on;
}

// MSG_EOR: the record ends at tx's byte count `at`; utcpd ends a segment there.
void end_record(USocket& s, Client& c, std::uint32_t at) {
  utcp::shim::Command cmd;
  cmd.op = utcp::shim::Op::kRecordEnd;
  cmd.slot = s.slot;
  cmd.generation = s.generation;
  cmd.value = at;
  c.post(s.owner, cmd);
}

ssize_t utcp_send(USocket& s, Client& c, const iovec* iov, int n, int flags) {
  if (flags & ~kSupportedSend) return fail(EOPNOTSUPP);
  if (bad_buffers(iov, n)) return fail(EFAULT);
  const bool dontwait = s.nonblocking || (flags & MSG_DONTWAIT);
  const std::size_t want = total_len(iov, n);
  if ((flags & MSG_MORE) && !s.tx_more && want > 0) set_more(s, c, true);
  std::size_t sent = 0;
  int i = 0;
  std::size_t at = 0;  // offset in iov[i]
  for (;;) {
    watch_if_inherited(s, c);
    const std::uint32_t state = s.listening ? 0 : s.block(c).state.load(std::memory_order_acquire);
    if ((state & st::kError) && sent == 0 && !s.error_reported.exchange(true)) {
      return fail(s.block(c).error.load());
    }
    if ((state & (st::kTxShut | st::kError)) || !(state & (st::kConnected | st::kConnecting)) ||
        c.daemon_gone()) {
      if (sent > 0) return static_cast<ssize_t>(sent);
      if (!(flags & MSG_NOSIGNAL)) raise_sigpipe();
      return fail(EPIPE);
    }
    if ((state & st::kConnected) && notsent_below_lowat(s, c, 0)) {
      utcp::shim::ByteStream tx = s.tx_view(c);
      while (i < n) {
        const auto* base = static_cast<const std::byte*>(iov[i].iov_base) + at;
        const std::size_t k = tx.write(std::span(base, iov[i].iov_len - at));
        sent += k;
        at += k;
        if (at < iov[i].iov_len) break;
        ++i;
        at = 0;
      }
      if ((flags & MSG_EOR) && sent == want && want > 0) end_record(s, c, tx.written());
      if (sent > 0 && s.tx_more && !(flags & MSG_MORE)) set_more(s, c, false);
      if (sent > 0) kick(s, c);
      if (sent == want) return static_cast<ssize_t>(sent);
    }
    if (dontwait) return sent > 0 ? static_cast<ssize_t>(sent) : fail(EAGAIN);
    const SignalMark mark = signal_mark();
    const int w = c.wait(
        [&] {
          const std::uint32_t now = s.block(c).state.load();
          return (now & (st::kError | st::kTxShut)) != 0 ||
                 ((now & st::kConnected) && s.tx_view(c).writable() > 0 &&
                  notsent_below_lowat(s, c, 0));
        },
        {}, static_cast<int>(s.sndtimeo_ms));
    if (w < 0 && errno == EINTR && sent == 0 && s.sndtimeo_ms < 0 && restart_after_signal(mark)) continue;
    if (w < 0) return sent > 0 ? static_cast<ssize_t>(sent) : -1;
    if (w == 0) return sent > 0 ? static_cast<ssize_t>(sent) : fail(EAGAIN);
  }
}

// The socket and client for a data call on fd, or null (then: the kernel's call).
USocketPtr utcp_socket(int fd, Client** c) {
  USocketPtr s = fd_table::get(fd);
  if (!s || s->mode != USocket::Mode::kUtcp) return nullptr;
  *c = Client::get();
  return s;
}

ssize_t recv_iov(USocket& s, Client* c, const iovec* iov, int n, int flags, bool from_read = false) {
  if (c == nullptr) return fail(ENETDOWN);
  std::lock_guard<std::mutex> lock(s.rx_mu);
  return utcp_recv(s, *c, iov, n, flags, from_read);
}

ssize_t send_iov(USocket& s, Client* c, const iovec* iov, int n, int flags) {
  if (c == nullptr) return fail(ENETDOWN);
  std::lock_guard<std::mutex> lock(s.tx_mu);
  return utcp_send(s, *c, iov, n, flags);
}

// sendfile into a utcp socket: file bytes go straight into the tx stream, only as many
// as fit, so nothing is read from the file that is not sent.
ssize_t utcp_sendfile(USocket& s, Client* c, int in_fd, off64_t* offset, size_t count) {
  if (c == nullptr) return fail(ENETDOWN);
  std::lock_guard<std::mutex> lock(s.tx_mu);
  watch_if_inherited(s, *c);
  std::vector<std::byte> buf(std::min<std::size_t>(count, 64 * 1024));
  std::size_t total = 0;
  while (total < count) {
    utcp::shim::ByteStream tx = s.tx_view(*c);
    const std::size_t room = tx.writable();
    const std::uint32_t state = s.block(*c).state.load();
    if (room == 0 || !(state & st::kConnected)) {
      if (total > 0) break;
      if ((state & (st::kError | st::kTxShut)) || !(state & (st::kConnected | st::kConnecting))) {
        return utcp_send(s, *c, nullptr, 0, 0);  // the error (and SIGPIPE) a write gets
      }
      if (s.nonblocking) return fail(EAGAIN);
      const int w = c->wait(
          [&] {
            return s.tx_view(*c).writable() > 0 ||
                   (s.block(*c).state.load() & (st::kError | st::kTxShut)) != 0;
          },
          {}, static_cast<int>(s.sndtimeo_ms));
      if (w <= 0) return w == 0 ? fail(EAGAIN) : -1;
      continue;
    }
    const std::size_t want = std::min({room, count - total, buf.size()});
    const ssize_t r = offset != nullptr ? ::pread64(in_fd, buf.data(), want, *offset)
                                        : real().read(in_fd, buf.data(), want);
    if (r < 0) return total > 0 ? static_cast<ssize_t>(total) : -1;
    if (r == 0) break;
    tx.write(std::span(buf.data(), static_cast<std::size_t>(r)));
    if (offset != nullptr) *offset += r;
    total += static_cast<std::size_t>(r);
    kick(s, *c);
    if (static_cast<std::size_t>(r) < want) break;
  }
  return static_cast<ssize_t>(total);
}

}  // namespace

extern "C" {

ssize_t read(int fd, void* buf, size_t len) {
  Client* c = nullptr;
  USocketPtr s = utcp_socket(fd, &c);
  if (!s) return real().read(fd, buf, len);
  const iovec iov{buf, len};
  return recv_iov(*s, c, &iov, 1, 0, true);
}

ssize_t readv(int fd, const iovec* iov, int n) {
  Client* c = nullptr;
  USocketPtr s = utcp_socket(fd, &c);
  if (!s) return real().readv(fd, iov, n);
  if (n < 0 || n > IOV_MAX) return fail(EINVAL);
  return recv_iov(*s, c, iov, n, 0, true);
}

ssize_t recv(int fd, void* buf, size_t len, int flags) {
  Client* c = nullptr;
  USocketPtr s = utcp_socket(fd, &c);
  if (!s) return real().recv(fd, buf, len, flags);
  const iovec iov{buf, len};
  return recv_iov(*s, c, &iov, 1, flags);
}

ssize_t recvfrom(int fd, void* buf, size_t len, int flags, sockaddr* addr, socklen_t* alen) {
  Client* c = nullptr;
  USocketPtr s = utcp_socket(fd, &c);
  if (!s) return real().recvfrom(fd, buf, len, flags, addr, alen);
  const iovec iov{buf, len};
  // TCP leaves the address alone (Linux's inet_recvmsg sets msg_namelen to 0).
  if (alen != nullptr) *alen = 0;
  return recv_iov(*s, c, &iov, 1, flags);
}

ssize_t recvmsg(int fd, msghdr* msg, int flags) {
  Client* c = nullptr;
  USocketPtr s = utcp_socket(fd, &c);
  if (!s) return real().recvmsg(fd, msg, flags);
  if (msg == nullptr) return fail(EFAULT);
  if (msg->msg_iovlen > IOV_MAX) return fail(EMSGSIZE);
  msg->msg_namelen = 0;
  msg->msg_controllen = 0;
  msg->msg_flags = 0;
  return recv_iov(*s, c, msg->msg_iov, static_cast<int>(msg->msg_iovlen), flags);
}

ssize_t write(int fd, const void* buf, size_t len) {
  Client* c = nullptr;
  USocketPtr s = utcp_socket(fd, &c);
  if (!s) return real().write(fd, buf, len);
  const iovec iov{const_cast<void*>(buf), len};
  return send_iov(*s, c, &iov, 1, 0);
}

ssize_t writev(int fd, const iovec* iov, int n) {
  Client* c = nullptr;
  USocketPtr s = utcp_socket(fd, &c);
  if (!s) return real().writev(fd, iov, n);
  if (n < 0 || n > IOV_MAX) return fail(EINVAL);
  return send_iov(*s, c, iov, n, 0);
}

ssize_t send(int fd, const void* buf, size_t len, int flags) {
  Client* c = nullptr;
  USocketPtr s = utcp_socket(fd, &c);
  if (!s) return real().send(fd, buf, len, flags);
  const iovec iov{const_cast<void*>(buf), len};
  return send_iov(*s, c, &iov, 1, flags);
}

ssize_t sendto(int fd, const void* buf, size_t len, int flags, const sockaddr* addr, socklen_t alen) {
  Client* c = nullptr;
  USocketPtr s = utcp_socket(fd, &c);
  if (!s) return real().sendto(fd, buf, len, flags, addr, alen);
  // A connected TCP socket ignores the address (Linux's tcp_sendmsg never reads it).
  const iovec iov{const_cast<void*>(buf), len};
  return send_iov(*s, c, &iov, 1, flags);
}

ssize_t sendmsg(int fd, const msghdr* msg, int flags) {
  Client* c = nullptr;
  USocketPtr s = utcp_socket(fd, &c);
  if (!s) return real().sendmsg(fd, msg, flags);
  if (msg == nullptr) return fail(EFAULT);
  if (msg->msg_iovlen > IOV_MAX) return fail(EMSGSIZE);
  return send_iov(*s, c, msg->msg_iov, static_cast<int>(msg->msg_iovlen), flags);
}

ssize_t sendfile(int out_fd, int in_fd, off_t* offset, size_t count) {
  Client* c = nullptr;
  USocketPtr s = utcp_socket(out_fd, &c);
  if (!s) return real().sendfile(out_fd, in_fd, offset, count);
  off64_t off = offset != nullptr ? *offset : 0;
  const ssize_t n = utcp_sendfile(*s, c, in_fd, offset != nullptr ? &off : nullptr, count);
  if (offset != nullptr) *offset = static_cast<off_t>(off);
  return n;
}

ssize_t sendfile64(int out_fd, int in_fd, off64_t* offset, size_t count) {
  Client* c = nullptr;
  USocketPtr s = utcp_socket(out_fd, &c);
  if (!s) return real().sendfile64(out_fd, in_fd, offset, count);
  return utcp_sendfile(*s, c, in_fd, offset, count);
}

}  // extern "C"
