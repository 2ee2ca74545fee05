/* Data transfer: read/write, readv/writev, recv/send flags, recvmsg/sendmsg, bulk
 * integrity, sendfile. All through the peer's echo, sink and pieces services. */
#include "common.h"

#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/sendfile.h>
#include <sys/time.h>
#include <sys/uio.h>
#include <unistd.h>

/* Sends text through echo and waits (bounded) until it is all back in the receive
 * queue, so the following single receive call has a deterministic result. */
static int echo_queued(int fd, const char *text) {
  size_t n = strlen(text);
  if (write_all(fd, text, n) != (ssize_t)n) return -1;
  return wait_inq(fd, (int)n);
}

static void io_basic(int fd) {
  char buf[64] = {0};
  echo_queued(fd, "hello");
  ssize_t r = read(fd, buf, sizeof buf);
  res("io.write_read", "n=%zd data=%.*s", r, (int)(r > 0 ? r : 0), buf);

  struct iovec w[3] = {{"ab", 2}, {"cde", 3}, {"f", 1}};
  res_rc("io.writev", writev(fd, w, 3));
  wait_inq(fd, 6);
  char a[4], b[8];
  struct iovec v[2] = {{a, sizeof a}, {b, sizeof b}};
  r = readv(fd, v, 2);
  res("io.readv", "n=%zd iov0=%.4s iov1=%.*s", r, a, (int)(r > 4 ? r - 4 : 0), b);

  res_rc("io.send", send(fd, "sent", 4, 0));
  wait_inq(fd, 4);
  r = recv(fd, buf, sizeof buf, 0);
  res("io.recv", "n=%zd data=%.*s", r, (int)(r > 0 ? r : 0), buf);

  /* TCP ignores the address of sendto on a connected socket, even a different one. */
  struct sockaddr_in other = sin_of(g_peer, 9);
  res_rc("io.sendto_addr_connected", sendto(fd, "to", 2, 0, (struct sockaddr *)&other,
                                            sizeof other));
  res_rc("io.sendto_null_addr", sendto(fd, "xy", 2, 0, NULL, 0));
  wait_inq(fd, 4);
  struct sockaddr_in from;
  memset(&from, 0xEE, sizeof from);
  socklen_t len = sizeof from;
  r = recvfrom(fd, buf, sizeof buf, 0, (struct sockaddr *)&from, &len);
  /* TCP does not fill the source address: the length comes back 0. */
  res("io.recvfrom", "n=%zd data=%.*s addrlen=%u", r, (int)(r > 0 ? r : 0), buf, (unsigned)len);

  struct iovec mv[2] = {{"msg", 3}, {"parts", 5}};
  struct msghdr m = {.msg_iov = mv, .msg_iovlen = 2};
  res_rc("io.sendmsg", sendmsg(fd, &m, 0));
  wait_inq(fd, 8);
  char n1[3], n2[16];
  struct iovec rv[2] = {{n1, 3}, {n2, sizeof n2}};
  struct msghdr rm = {.msg_name = &from, .msg_namelen = sizeof from, .msg_iov = rv,
                      .msg_iovlen = 2, .msg_flags = 0x7777};
  r = recvmsg(fd, &rm, 0);
  res("io.recvmsg", "n=%zd data=%.3s%.*s namelen=%u flags=%d", r, n1, (int)(r > 3 ? r - 3 : 0),
      n2, (unsigned)rm.msg_namelen, rm.msg_flags);
}

static void io_flags(int fd) {
  char buf[64];
  echo_queued(fd, "peekdata");
  ssize_t r = recv(fd, buf, 4, MSG_PEEK);
  res("io.msg_peek", "n=%zd data=%.*s", r, (int)(r > 0 ? r : 0), buf);
  r = recv(fd, buf, sizeof buf, MSG_PEEK);
  res("io.msg_peek_all", "n=%zd data=%.*s", r, (int)(r > 0 ? r : 0), buf);
  r = recv(fd, buf, sizeof buf, 0);
  res("io.after_peek", "n=%zd data=%.*s", r, (int)(r > 0 ? r : 0), buf);

  res_rc("io.msg_dontwait_empty", recv(fd, buf, sizeof buf, MSG_DONTWAIT));
  res_rc("io.msg_peek_dontwait_empty", recv(fd, buf, sizeof buf, MSG_PEEK | MSG_DONTWAIT));
  res_rc("io.msg_oob_none", recv(fd, buf, sizeof buf, MSG_OOB | MSG_DONTWAIT));

  /* MSG_MORE holds the first piece back; both arrive together. */
  send(fd, "ab", 2, MSG_MORE);
  send(fd, "cd", 2, 0);
  wait_inq(fd, 4);
  r = recv(fd, buf, sizeof buf, 0);
  res("io.msg_more", "n=%zd data=%.*s", r, (int)(r > 0 ? r : 0), buf);

  /* Linux TCP: MSG_TRUNC discards the bytes it "reads". */
  echo_queued(fd, "0123456789");
  r = recv(fd, NULL, 4, MSG_TRUNC);
  res_rc("io.msg_trunc_discard", r);
  r = recv(fd, buf, sizeof buf, 0);
  res("io.msg_trunc_rest", "n=%zd data=%.*s", r, (int)(r > 0 ? r : 0), buf);

  res_rc("io.write_zero", write(fd, buf, 0));
  res_rc("io.send_zero", send(fd, buf, 0, 0));
  res_rc("io.read_zero", read(fd, buf, 0));
  res_rc("io.recv_zero_dontwait", recv(fd, buf, 0, MSG_DONTWAIT));
}

/* MSG_WAITALL over a sender that writes in delayed pieces (SO_RCVTIMEO as the bound). */
static void io_waitall(void) {
  static char buf[PIECES_TOTAL + 1000], want[PIECES_TOTAL];
  struct timeval tv = {WAIT_MS / 1000, 0};
  pattern(want, sizeof want, 0);
  int fd = connect_peer(PORT_PIECES);
  if (fd < 0) return;
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  ssize_t r = recv(fd, buf, PIECES_TOTAL, MSG_WAITALL);
  res("io.msg_waitall", "n=%zd match=%s", r,
      r == PIECES_TOTAL && !memcmp(buf, want, PIECES_TOTAL) ? "yes" : "no");
  res_rc("io.msg_waitall_then_eof", recv(fd, buf, 10, MSG_WAITALL));
  close(fd);

  /* More than the peer will ever send: MSG_WAITALL returns what came before EOF. */
  fd = connect_peer(PORT_PIECES);
  if (fd < 0) return;
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  r = recv(fd, buf, sizeof buf, MSG_WAITALL);
  res("io.msg_waitall_short_eof", "n=%zd match=%s", r,
      r == PIECES_TOTAL && !memcmp(buf, want, PIECES_TOTAL) ? "yes" : "no");
  close(fd);
}

/* 256 KiB through echo with poll-driven non-blocking I/O: bytes come back in order. */
static void io_bulk_echo(void) {
  enum { N = 256 * 1024 };
  static char out[N], in[N];
  pattern(out, N, 7);
  int fd = connect_peer(PORT_ECHO);
  if (fd < 0) return;
  fcntl(fd, F_SETFL, O_NONBLOCK);
  size_t sent = 0, got = 0;
  for (int i = 0; i < 20000 && got < N; i++) {
    struct pollfd p = {fd, POLLIN | (sent < N ? POLLOUT : 0), 0};
    if (poll(&p, 1, 100) < 0) break;
    if ((p.revents & POLLOUT) && sent < N) {
      ssize_t w = send(fd, out + sent, N - sent > 16384 ? 16384 : N - sent, MSG_NOSIGNAL);
      if (w > 0) sent += (size_t)w;
    }
    if (p.revents & POLLIN) {
      ssize_t r = recv(fd, in + got, N - got, 0);
      if (r <= 0) break;
      got += (size_t)r;
    }
  }
  res("io.bulk_echo_256k", "sent=%zu got=%zu match=%s", sent, got,
      got == N && !memcmp(in, out, N) ? "yes" : "no");
  close(fd);
}

/* 1 MiB to the sink, SHUT_WR, the sink's count and checksum come back. */
static void io_bulk_sink(void) {
  enum { N = 1024 * 1024 };
  static char out[N];
  pattern(out, N, 3);
  int fd = connect_peer(PORT_SINK);
  if (fd < 0) return;
  ssize_t w = write_all(fd, out, N);
  shutdown(fd, SHUT_WR);
  char reply[64] = {0}, want[64];
  int eof, err;
  read_n(fd, reply, sizeof reply - 1, &eof, &err);
  snprintf(want, sizeof want, "n=%d fnv=%08x\n", N, fnv1a(out, N, 0x811C9DC5u));
  res("io.bulk_sink_1m", "written=%zd peer_match=%s", w, strcmp(reply, want) ? "no" : "yes");
  close(fd);
}

void checks_io(void) {
  int fd = connect_peer(PORT_ECHO);
  if (fd >= 0) {
    io_basic(fd);
    io_flags(fd);
    close(fd);
  }
  io_waitall();
  io_bulk_echo();
  io_bulk_sink();
}

/* --- sendfile. */

static int temp_file(size_t n, char *data) {
  char path[] = "/tmp/utcp-sapi-sendfile.XXXXXX";
  int fd = mkstemp(path);
  if (fd < 0) return -1;
  unlink(path);
  pattern(data, n, 11);
  if (write(fd, data, n) != (ssize_t)n) {
    close(fd);
    return -1;
  }
  lseek(fd, 0, SEEK_SET);
  return fd;
}

void checks_sendfile(void) {
  enum { N = 100000 };
  static char data[N];
  int f = temp_file(N, data);
  if (f < 0) {
    fail("sendfile.setup", "temp file %s", rcstr(-1));
    return;
  }
  /* Whole file to the sink, through an offset pointer. */
  int s = connect_peer(PORT_SINK);
  if (s >= 0) {
    off_t off = 0;
    ssize_t total = 0;
    for (int i = 0; i < 1000 && total < N; i++) {
      ssize_t w = sendfile(s, f, &off, N - (size_t)total);
      if (w <= 0) break;
      total += w;
    }
    res("sendfile.to_sink", "total=%zd offset=%lld file_pos=%lld", total, (long long)off,
        (long long)lseek(f, 0, SEEK_CUR));
    shutdown(s, SHUT_WR);
    char reply[64] = {0}, want[64];
    int eof, err;
    read_n(s, reply, sizeof reply - 1, &eof, &err);
    snprintf(want, sizeof want, "n=%d fnv=%08x\n", N, fnv1a(data, N, 0x811C9DC5u));
    res("sendfile.sink_match", "%s", strcmp(reply, want) ? "no" : "yes");
    close(s);
  }
  /* A slice from an offset through echo; the offset advances, the file position not. */
  s = connect_peer(PORT_ECHO);
  if (s >= 0) {
    off_t off = 500;
    ssize_t w = sendfile(s, f, &off, 1000);
    res("sendfile.slice", "n=%zd offset=%lld", w, (long long)off);
    static char back[1000];
    int eof, err;
    ssize_t r = read_n(s, back, sizeof back, &eof, &err);
    res("sendfile.slice_echo", "n=%zd match=%s", r,
        r == 1000 && !memcmp(back, data + 500, 1000) ? "yes" : "no");
    /* NULL offset: the file position is used and advances. */
    lseek(f, 2000, SEEK_SET);
    w = sendfile(s, f, NULL, 300);
    res("sendfile.null_offset", "n=%zd file_pos=%lld", w, (long long)lseek(f, 0, SEEK_CUR));
    r = read_n(s, back, 300, &eof, &err);
    res("sendfile.null_offset_echo", "n=%zd match=%s", r,
        r == 300 && !memcmp(back, data + 2000, 300) ? "yes" : "no");
    off = N;
    res_rc("sendfile.at_eof", sendfile(s, f, &off, 100));
    /* A socket as the source is not supported. */
    off = 0;
    res_rc("sendfile.from_socket", sendfile(f, s, &off, 10));
    close(s);
  }
  close(f);
}
