/* fcntl(), ioctl(), dup()/dup2()/dup3(), close(): the file-descriptor side of sockets,
 * which a preload library must keep consistent with its own socket table. */
#include "common.h"

#include <fcntl.h>
#include <linux/sockios.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

static void fcntl_checks(int fd) {
  char buf[8];
  int fl = fcntl(fd, F_GETFL);
  res("fcntl.getfl", "accmode=%s nonblock=%d", (fl & O_ACCMODE) == O_RDWR ? "O_RDWR" : "other",
      !!(fl & O_NONBLOCK));
  res_ok("fcntl.setfl_nonblock", fcntl(fd, F_SETFL, fl | O_NONBLOCK));
  res("fcntl.nonblock_on", "%s", fdflags(fd));
  res_rc("fcntl.nonblock_read", read(fd, buf, sizeof buf));
  res_ok("fcntl.setfl_block", fcntl(fd, F_SETFL, fl & ~O_NONBLOCK));
  res("fcntl.nonblock_off", "%s", fdflags(fd));
  res_ok("fcntl.setfd_cloexec", fcntl(fd, F_SETFD, FD_CLOEXEC));
  res("fcntl.cloexec_on", "%s", fdflags(fd));
  res_ok("fcntl.setfd_0", fcntl(fd, F_SETFD, 0));
  res("fcntl.cloexec_off", "%s", fdflags(fd));

  int d = fcntl(fd, F_DUPFD, 100);
  res("fcntl.dupfd", "fd>=100: %s %s", d >= 100 ? "yes" : "no", fdflags(d));
  echo_check("fcntl.dupfd_echo", d, "dupfd");
  close(d);
  d = fcntl(fd, F_DUPFD_CLOEXEC, 0);
  res("fcntl.dupfd_cloexec", "%s", fdflags(d));
  close(d);
  res_rc("fcntl.dupfd_bad_min", fcntl(fd, F_DUPFD, -1));
  res_rc("fcntl.closed_fd", fcntl(d, F_GETFL));
}

static void ioctl_checks(int fd) {
  int v = 1;
  res_ok("ioctl.fionbio_on", ioctl(fd, FIONBIO, &v));
  res("ioctl.fionbio_flags", "%s", fdflags(fd));
  v = 0;
  res_ok("ioctl.fionbio_off", ioctl(fd, FIONBIO, &v));
  res("ioctl.fionbio_flags_off", "%s", fdflags(fd));

  v = -1;
  int rc = ioctl(fd, FIONREAD, &v);
  res("ioctl.fionread_empty", "%s v=%d", rcstr(rc), v);
  write_all(fd, "12345", 5);
  res("ioctl.fionread_after_data", "%d", wait_inq(fd, 5));
  v = -1;
  rc = ioctl(fd, SIOCINQ, &v);
  res("ioctl.siocinq", "%s v=%d", rcstr(rc), v);
  char buf[8];
  if (read(fd, buf, 2) != 2) fail("ioctl.fionread_partial", "read");
  v = -1;
  ioctl(fd, FIONREAD, &v);
  res("ioctl.fionread_after_partial_read", "%d", v);
  if (read(fd, buf, 3) != 3) fail("ioctl.fionread_partial", "read");
  /* Everything was echoed back, so the peer has acked it all: the send queue is empty. */
  v = -1;
  for (int i = 0; i < 2500 && (ioctl(fd, SIOCOUTQ, &v) < 0 || v != 0); i++) usleep(2000);
  res("ioctl.siocoutq_acked", "%d", v);
  v = -1;
  res_rc("ioctl.unknown", ioctl(fd, 0x89ff0, &v));

  int l = listen_local(next_port());
  if (l >= 0) {
    res_rc("ioctl.fionread_listener", ioctl(l, FIONREAD, &v));
    res_rc("ioctl.siocoutq_listener", ioctl(l, SIOCOUTQ, &v));
    close(l);
  }
  int u = socket(AF_INET, SOCK_STREAM, 0);
  v = -1;
  rc = ioctl(u, FIONREAD, &v);
  res("ioctl.fionread_unconnected", "%s v=%d", rcstr(rc), v);
  close(u);
}

static void dup_checks(void) {
  int fd = connect_peer(PORT_ECHO);
  if (fd < 0) return;
  int d = dup(fd);
  res("dup.ok", "%s", d >= 0 ? "ok" : rcstr(d));
  res("dup.flags", "%s", fdflags(d));
  /* The duplicate shares the open file: O_NONBLOCK set through one shows in the other. */
  fcntl(fd, F_SETFL, O_NONBLOCK);
  res("dup.shared_nonblock", "%s", fdflags(d));
  fcntl(fd, F_SETFL, 0);
  write_all(d, "via", 3);
  read_check("dup.write_dup_read_orig", fd, 3);
  close(fd);
  echo_check("dup.after_close_orig", d, "still");
  res("dup.peername_after_close_orig", "port=%d", port_of(d, 1));

  int t = socket(AF_INET, SOCK_STREAM, 0); /* dup2 onto an open socket replaces it */
  res("dup2.onto_open", "%s", dup2(d, t) == t ? "target" : rcstr(-1));
  echo_check("dup2.target_echo", t, "dup2");
  res("dup2.onto_itself", "%s", dup2(d, d) == d ? "same fd" : rcstr(-1));
  res_rc("dup3.onto_itself", dup3(d, d, 0));
  int t3 = socket(AF_INET, SOCK_STREAM, 0);
  res("dup3.cloexec", "%s", dup3(d, t3, O_CLOEXEC) == t3 ? fdflags(t3) : rcstr(-1));
  res_rc("dup3.bad_flags", dup3(d, t3, 0x1234));
  res_rc("dup.closed_fd", dup(-1));
  /* shutdown through one descriptor affects the socket all of them name. */
  shutdown(t3, SHUT_WR);
  char buf[8];
  int eof, err;
  ssize_t r = read_n(d, buf, sizeof buf, &eof, &err);
  res("dup.shutdown_via_dup", "n=%zd eof=%d", r, eof);
  close(t3);
  close(t);
  close(d);

  int c = connect_peer(PORT_ECHO);
  if (c < 0) return;
  res_ok("close.first", close(c));
  res_rc("close.second", close(c));
  res_rc("close.negative", close(-1));
}

/* A dup'd connection stays open until the last descriptor closes: the peer sees the
 * EOF only then. */
static void close_last_ref(void) {
  int port = next_port(), id = 0;
  int l = listen_local(port);
  if (l < 0) return;
  int c = accept_from_peer(l, port, &id);
  close(l);
  if (c < 0) return;
  int d = dup(c);
  close(c);
  ctl("SEND %d x", id);
  read_check("close.dup_alive", d, 1);
  close(d);
  res("close.last_ref_peer_eof", "%s", ctl("WAITEOF %d", id));
  ctl("CLOSE %d", id);
}

void checks_fcntl_dup(void) {
  int fd = connect_peer(PORT_ECHO);
  if (fd >= 0) {
    fcntl_checks(fd);
    ioctl_checks(fd);
    close(fd);
  }
  dup_checks();
  close_last_ref();
}
