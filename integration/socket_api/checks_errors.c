/* Error paths of data transfer: EOF, reset, EPIPE/SIGPIPE, shutdown, EFAULT, timeouts,
 * full send buffers, unconnected sockets. */
#include "common.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/time.h>
#include <sys/uio.h>
#include <linux/sockios.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static volatile sig_atomic_t g_sigpipes;
static void on_sigpipe(int sig) {
  (void)sig;
  g_sigpipes++;
}

static void count_sigpipe(int on) {
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on ? on_sigpipe : SIG_IGN;
  sigaction(SIGPIPE, &sa, NULL);
  g_sigpipes = 0;
}

static void eof_checks(void) {
  int fd = connect_peer(PORT_FIN);
  if (fd < 0) return;
  char buf[16];
  wait_inq(fd, 4);
  /* Wait for the FIN too, so "data then EOF" is what the reads see. */
  for (int i = 0; i < 500 && !(wait_ev(fd, POLLRDHUP, 10) & POLLRDHUP); i++) {}
  res("eof.poll", "%s", pollstr(wait_ev(fd, POLLIN | POLLOUT | POLLRDHUP, 0)));
  ssize_t r = read(fd, buf, sizeof buf);
  res("eof.data", "n=%zd data=%.3s", r, buf);
  res_rc("eof.read", read(fd, buf, sizeof buf));
  res_rc("eof.read_again", read(fd, buf, sizeof buf));
  res_rc("eof.recv_dontwait", recv(fd, buf, sizeof buf, MSG_DONTWAIT));
  /* Half-closed by the peer only: sending still works. */
  res_rc("eof.write_after_peer_fin", write(fd, "x", 1));
  close(fd);
}

/* Connects to the reset service and waits (bounded) until the RST arrived. */
static int reset_conn(void) {
  int fd = connect_peer(PORT_RESET);
  if (fd >= 0 && !(wait_hup(fd) & (POLLERR | POLLHUP))) fail("reset", "no reset seen");
  return fd;
}

/* The peer sends a request and closes (FIN); we answer into the closed connection and
 * the peer's kernel resets it: Linux's tcp_recvmsg sees the FIN before the error, so
 * read() gives EOF and the error is left for write() (lighttpd relies on this). */
static void fin_then_reset_checks(void) {
  char buf[16];
  int port = next_port();
  int l = listen_local(port);
  if (l < 0) return;
  int id = -1;
  int fd = accept_from_peer(l, port, &id);
  close(l);
  if (fd < 0) return;
  res("fin_reset.peer_send", "%s", ctl("SEND %d req", id));
  res("fin_reset.peer_close", "%s", ctl("CLOSE %d", id));
  wait_ev(fd, POLLRDHUP, 2000);
  int eof = 0, err = 0;
  ssize_t n = read_n(fd, buf, 3, &eof, &err);
  res("fin_reset.request", "n=%zd", n);
  count_sigpipe(1);
  res_rc("fin_reset.write_into_closed", write(fd, "answer", 6));
  wait_hup(fd);
  res_rc("fin_reset.read_after_rst", read(fd, buf, sizeof buf));
  res_rc("fin_reset.read_again", read(fd, buf, sizeof buf));
  res_rc("fin_reset.write_after_rst", send(fd, "x", 1, MSG_NOSIGNAL));
  count_sigpipe(0);
  close(fd);
}

static void reset_checks(void) {
  char buf[16];
  int fd = reset_conn();
  if (fd < 0) return;
  res("reset.poll", "%s", pollstr(wait_ev(fd, POLLIN | POLLOUT | POLLRDHUP, 0)));
  res_rc("reset.read_first", read(fd, buf, sizeof buf));
  res_rc("reset.read_second", read(fd, buf, sizeof buf));
  res("reset.poll_after_read", "%s", pollstr(wait_ev(fd, POLLIN | POLLOUT | POLLRDHUP, 0)));
  res_rc("reset.getpeername", port_of(fd, 1));
  close(fd);

  fd = reset_conn();
  if (fd < 0) return;
  int e = sockopt_int(fd, SOL_SOCKET, SO_ERROR);
  res("reset.so_error", "%s", e ? errname(e) : "0");
  e = sockopt_int(fd, SOL_SOCKET, SO_ERROR);
  res("reset.so_error_again", "%s", e ? errname(e) : "0");
  res_rc("reset.read_after_so_error", read(fd, buf, sizeof buf));
  close(fd);

  /* MSG_NOSIGNAL: errors, never a signal. */
  count_sigpipe(1);
  fd = reset_conn();
  if (fd >= 0) {
    res_rc("reset.send_nosignal_first", send(fd, "x", 1, MSG_NOSIGNAL));
    res_rc("reset.send_nosignal_second", send(fd, "x", 1, MSG_NOSIGNAL));
    res("reset.send_nosignal_sigpipes", "%d", (int)g_sigpipes);
    close(fd);
  }
  /* Without it: SIGPIPE comes with EPIPE. */
  count_sigpipe(1);
  fd = reset_conn();
  if (fd >= 0) {
    res_rc("reset.write_first", write(fd, "x", 1));
    res("reset.write_first_sigpipes", "%d", (int)g_sigpipes);
    res_rc("reset.write_second", write(fd, "x", 1));
    res("reset.write_second_sigpipes", "%d", (int)g_sigpipes);
    close(fd);
  }
  count_sigpipe(0);

  /* SIGPIPE's default action kills a process that writes to a reset connection. */
  fflush(stdout);
  fd = reset_conn();
  pid_t pid = fork();
  if (pid == 0) {
    signal(SIGPIPE, SIG_DFL);
    alarm(5);
    for (int i = 0; i < 3; i++)
      if (write(fd, "x", 1) < 0) {}
    _exit(0);
  }
  int st = 0;
  waitpid(pid, &st, 0);
  res("reset.sigpipe_default", "%s", WIFSIGNALED(st) && WTERMSIG(st) == SIGPIPE ? "killed by SIGPIPE"
                                     : WIFEXITED(st) ? "exited" : "other");
  close(fd);
}

static void shutdown_checks(void) {
  char buf[16];
  int fd = connect_peer(PORT_ECHO);
  if (fd < 0) return;
  write_all(fd, "tail", 4);
  res_ok("shutdown.wr", shutdown(fd, SHUT_WR));
  count_sigpipe(1);
  res_rc("shutdown.write_after_wr", write(fd, "x", 1));
  res("shutdown.write_after_wr_sigpipes", "%d", (int)g_sigpipes);
  res_rc("shutdown.send_nosignal_after_wr", send(fd, "x", 1, MSG_NOSIGNAL));
  res("shutdown.send_nosignal_sigpipes_total", "%d", (int)g_sigpipes);
  count_sigpipe(0);
  /* Echo sends back what it got, sees our FIN and closes: data, then EOF. */
  read_check("shutdown.read_after_wr", fd, 8);
  /* Both FINs exchanged: the connection is gone. */
  res_rc("shutdown.rdwr_after_both_fin", shutdown(fd, SHUT_RDWR));
  res_rc("shutdown.bad_how", shutdown(fd, 7));
  close(fd);

  /* On a connection the peer keeps open (it only acts when told), nothing races. */
  int port = next_port(), id = 0;
  int l = listen_local(port);
  fd = l < 0 ? -1 : accept_from_peer(l, port, &id);
  if (l >= 0) close(l);
  if (fd >= 0) {
    res_ok("shutdown.held_wr", shutdown(fd, SHUT_WR));
    res_ok("shutdown.held_wr_twice", shutdown(fd, SHUT_WR));
    res("shutdown.held_peer_eof", "%s", ctl("WAITEOF %d", id));
    ctl("SEND %d late", id);
    read_check("shutdown.held_read_after_wr", fd, 4);
    res_ok("shutdown.held_rd_after_wr", shutdown(fd, SHUT_RD));
    res_rc("shutdown.held_read_after_rd", read(fd, buf, sizeof buf));
    ctl("CLOSE %d", id);
    close(fd);
  }

  fd = connect_peer(PORT_ECHO);
  if (fd >= 0) {
    res_ok("shutdown.rd", shutdown(fd, SHUT_RD));
    res_rc("shutdown.read_after_rd", read(fd, buf, sizeof buf));
    res_rc("shutdown.write_after_rd", write(fd, "x", 1));
    res("shutdown.poll_after_rd", "%s", pollstr(wait_ev(fd, POLLIN | POLLOUT | POLLRDHUP, 0)));
    close(fd);
  }
  fd = socket(AF_INET, SOCK_STREAM, 0);
  res_rc("shutdown.unconnected", shutdown(fd, SHUT_WR));
  res_rc("shutdown.unconnected_bad_how", shutdown(fd, -1));
  close(fd);
  res_rc("shutdown.closed_fd", shutdown(fd, SHUT_WR));
  int p[2];
  if (pipe(p) == 0) {
    res_rc("shutdown.notsock", shutdown(p[0], SHUT_RD));
    close(p[0]);
    close(p[1]);
  }
  /* Linux: shutdown(SHUT_RD) on a listener stops it listening. */
  port = next_port();
  l = listen_local(port);
  if (l >= 0) {
    fcntl(l, F_SETFL, O_NONBLOCK);
    res_rc("shutdown.listener_rd", shutdown(l, SHUT_RD));
    res_rc("shutdown.listener_accept", accept(l, NULL, NULL));
    res("shutdown.listener_peer_connect", "%s", ctl("CONNECT %d", port));
    close(l);
  }
}

/* Hidden from the compiler, which rightly rejects literal NULL buffers. */
static void *volatile g_null;
static volatile int g_minus1 = -1;

static void efault_checks(void) {
  int fd = connect_peer(PORT_ECHO);
  if (fd < 0) return;
  write_all(fd, "abc", 3);
  wait_inq(fd, 3);
  res_rc("efault.read_null", read(fd, g_null, 3));
  res_rc("efault.recv_null", recv(fd, g_null, 3, 0));
  read_check("efault.data_kept", fd, 3);
  res_rc("efault.write_null", write(fd, g_null, 5));
  res_rc("efault.send_null", send(fd, g_null, 5, MSG_NOSIGNAL));
  res_rc("efault.write_null_len0", write(fd, g_null, 0));
  res_rc("efault.readv_null_iov", readv(fd, g_null, 1));
  res_rc("efault.writev_bad_iovcnt", writev(fd, g_null, g_minus1));
  echo_check("efault.conn_still_works", fd, "fine");
  close(fd);
}

static long ms_since(struct timespec *t0) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (t.tv_sec - t0->tv_sec) * 1000 + (t.tv_nsec - t0->tv_nsec) / 1000000;
}

static void timeout_checks(void) {
  char buf[16];
  int fd = connect_peer(PORT_ECHO);
  if (fd < 0) return;
  struct timeval tv = {0, 150000};
  res_ok("timeo.set_rcvtimeo", setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv));
  struct timespec t0;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  res_rc("timeo.read", read(fd, buf, sizeof buf));
  res("timeo.read_waited", "at_least_100ms=%s", ms_since(&t0) >= 100 ? "yes" : "no");
  echo_check("timeo.read_with_data", fd, "in time");
  close(fd);

  /* The hold peer never reads: fill the send buffer until EAGAIN, then SO_SNDTIMEO. */
  /* A fixed SO_SNDBUF (set before connect) turns send-buffer autotuning off, which would
   * otherwise make the buffer writable again a moment after EAGAIN. */
  fd = socket(AF_INET, SOCK_STREAM, 0);
  int sndbuf = 65536;
  setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof sndbuf);
  struct sockaddr_in hold = sin_of(g_peer, PORT_HOLD);
  if (connect(fd, (struct sockaddr *)&hold, sizeof hold) < 0) {
    fail("full.connect", "%s", rcstr(-1));
    close(fd);
    return;
  }
  static char chunk[65536];
  memset(chunk, 'h', sizeof chunk);
  /* Fill until EAGAIN, let in-flight data be acked, and fill again, until a send right
   * after the pause finds the buffer still full: only then is "not writable" stable. */
  int filled = 0;
  long total = 0;
  for (int round = 0; round < 50 && !filled; round++) {
    if (round > 0) usleep(20000);
    int first = 1;
    for (int i = 0; i < 10000; i++) {
      ssize_t w = send(fd, chunk, sizeof chunk, MSG_DONTWAIT);
      if (w < 0) {
        if (errno == EAGAIN && first) filled = 1;
        break;
      }
      first = 0;
      total += w;
    }
  }
  res("full.filled_until_eagain", "%s", filled ? "yes" : "no");
  res("full.some_accepted", "%s", total > 0 ? "yes" : "no");
  res("full.poll_out", "%s", pollstr(wait_ev(fd, POLLOUT, 0)));
  int q = 0;
  ioctl(fd, SIOCOUTQ, &q);
  res("full.siocoutq", "%s", q > 0 ? ">0" : "0");
  tv = (struct timeval){0, 150000};
  res_ok("timeo.set_sndtimeo", setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv));
  /* A blocking send may still squeeze a few bytes in; repeat until it times out. */
  ssize_t w = 0;
  long waited = 0;
  for (int i = 0; i < 100; i++) {
    clock_gettime(CLOCK_MONOTONIC, &t0);
    w = send(fd, chunk, sizeof chunk, 0);
    waited = ms_since(&t0);
    if (w < 0) break;
  }
  res_rc("timeo.send_full", w);
  res("timeo.send_waited", "at_least_100ms=%s", waited >= 100 ? "yes" : "no");
  close(fd);
}

static void unconnected_checks(void) {
  char buf[8];
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  res_rc("unconnected.recv", recv(fd, buf, sizeof buf, MSG_DONTWAIT));
  res_rc("unconnected.read", read(fd, buf, sizeof buf));
  res_rc("unconnected.send", send(fd, "x", 1, MSG_NOSIGNAL));
  struct sockaddr_in a = sin_of(g_peer, PORT_ECHO);
  res_rc("unconnected.sendto_addr", sendto(fd, "x", 1, MSG_NOSIGNAL, (struct sockaddr *)&a,
                                           sizeof a));
  close(fd);
  int l = listen_local(next_port());
  if (l >= 0) {
    res_rc("unconnected.listener_recv", recv(l, buf, sizeof buf, MSG_DONTWAIT));
    res_rc("unconnected.listener_send", send(l, "x", 1, MSG_NOSIGNAL));
    close(l);
  }
  res_rc("unconnected.read_closed_fd", read(fd, buf, sizeof buf));
}

void checks_io_errors(void) {
  eof_checks();
  reset_checks();
  fin_then_reset_checks();
  shutdown_checks();
  efault_checks();
  timeout_checks();
  unconnected_checks();
}
