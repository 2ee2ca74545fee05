/* poll(), ppoll(), select(), pselect(): readiness of sockets, alone and mixed with pipes.
 * Every event that depends on the peer is first waited for (bounded), then the call under
 * test runs with timeout 0, so the result never depends on timing. */
#include "common.h"

#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/select.h>
#include <unistd.h>

static struct pollfd *volatile g_nullp; /* hidden NULL for EFAULT */

static void poll_basic(void) {
  int fd = connect_peer(PORT_ECHO);
  if (fd < 0) return;
  struct pollfd p[2] = {{fd, POLLIN | POLLOUT, 0}, {-1, POLLIN, 0}};
  int rc = poll(p, 1, 0);
  res("poll.fresh", "rc=%d %s", rc, pollstr(p[0].revents));
  p[0].events = POLLIN;
  rc = poll(p, 1, 0);
  res("poll.timeout0_nothing", "rc=%d %s", rc, pollstr(p[0].revents));
  rc = poll(p, 1, 50);
  res("poll.timeout50_nothing", "rc=%d %s", rc, pollstr(p[0].revents));

  write_all(fd, "x", 1);
  wait_inq(fd, 1);
  p[0].events = POLLIN | POLLOUT | POLLRDHUP;
  rc = poll(p, 2, 0);
  res("poll.data", "rc=%d %s negative_fd=%s", rc, pollstr(p[0].revents), pollstr(p[1].revents));
  p[0].events = POLLIN | POLLRDNORM | POLLPRI;
  rc = poll(p, 1, 0);
  res("poll.data_rdnorm", "rc=%d %s", rc, pollstr(p[0].revents));
  p[0].events = 0;
  rc = poll(p, 1, 0);
  res("poll.no_events", "rc=%d %s", rc, pollstr(p[0].revents));
  char c;
  if (read(fd, &c, 1) != 1) fail("poll.data", "read");

  /* Our FIN makes echo close: POLLHUP once both directions are shut. */
  shutdown(fd, SHUT_WR);
  for (int i = 0; i < 500 && !(wait_ev(fd, POLLIN, 10) & POLLHUP); i++) {}
  p[0].events = POLLIN | POLLOUT | POLLRDHUP;
  rc = poll(p, 1, 0);
  res("poll.both_closed", "rc=%d %s", rc, pollstr(p[0].revents));
  close(fd);

  p[0].fd = fd;
  p[0].events = POLLIN;
  rc = poll(p, 1, 0);
  res("poll.closed_fd", "rc=%d %s", rc, pollstr(p[0].revents));
  res_rc("poll.bad_pointer", poll(g_nullp, 1, 0));
}

static void poll_mixed(void) {
  int fd = connect_peer(PORT_ECHO), pp[2];
  if (fd < 0 || pipe(pp) < 0) return;
  struct pollfd p[2] = {{fd, POLLIN, 0}, {pp[0], POLLIN, 0}};
  int rc = poll(p, 2, 0);
  res("poll.mixed_idle", "rc=%d sock=%s pipe=%s", rc, pollstr(p[0].revents), pollstr(p[1].revents));
  if (write(pp[1], "p", 1) != 1) fail("poll.mixed", "pipe write");
  rc = poll(p, 2, WAIT_MS);
  res("poll.mixed_pipe", "rc=%d sock=%s pipe=%s", rc, pollstr(p[0].revents), pollstr(p[1].revents));
  write_all(fd, "s", 1);
  wait_inq(fd, 1);
  rc = poll(p, 2, 0);
  res("poll.mixed_both", "rc=%d sock=%s pipe=%s", rc, pollstr(p[0].revents), pollstr(p[1].revents));
  char c;
  if (read(pp[0], &c, 1) != 1) fail("poll.mixed", "pipe read");
  rc = poll(p, 2, 0);
  res("poll.mixed_sock", "rc=%d sock=%s pipe=%s", rc, pollstr(p[0].revents), pollstr(p[1].revents));

  /* ppoll: same answers, with a signal mask and a timespec. */
  sigset_t mask;
  sigemptyset(&mask);
  sigaddset(&mask, SIGUSR1);
  struct timespec zero = {0, 0};
  rc = ppoll(p, 2, &zero, &mask);
  res("ppoll.sock", "rc=%d sock=%s pipe=%s", rc, pollstr(p[0].revents), pollstr(p[1].revents));
  rc = ppoll(p, 2, NULL, NULL); /* data is there: an infinite timeout returns at once */
  res("ppoll.no_timeout_ready", "rc=%d sock=%s", rc, pollstr(p[0].revents));
  if (read(fd, &c, 1) != 1) fail("poll.mixed", "sock read");
  rc = ppoll(p, 2, &zero, NULL);
  res("ppoll.idle", "rc=%d", rc);
  struct timespec bad = {0, 2000000000L};
  res_rc("ppoll.bad_timespec", ppoll(p, 2, &bad, NULL));
  close(fd);
  close(pp[0]);
  close(pp[1]);
}

static void poll_listener(void) {
  int port = next_port();
  int l = listen_local(port);
  if (l < 0) return;
  struct pollfd p = {l, POLLIN | POLLOUT, 0};
  int rc = poll(&p, 1, 0);
  res("poll.listener_idle", "rc=%d %s", rc, pollstr(p.revents));
  ctl("CONNECT %d", port);
  wait_ev(l, POLLIN, WAIT_MS);
  rc = poll(&p, 1, 0);
  res("poll.listener_pending", "rc=%d %s", rc, pollstr(p.revents));
  fd_set rd;
  FD_ZERO(&rd);
  FD_SET(l, &rd);
  struct timeval tv = {0, 0};
  rc = select(l + 1, &rd, NULL, NULL, &tv);
  res("select.listener_pending", "rc=%d rd=%d", rc, FD_ISSET(l, &rd));
  int c = accept(l, NULL, NULL);
  if (c >= 0) close(c);
  rc = poll(&p, 1, 0);
  res("poll.listener_drained", "rc=%d %s", rc, pollstr(p.revents));
  /* An unconnected, unbound socket. */
  int u = socket(AF_INET, SOCK_STREAM, 0);
  p.fd = u;
  p.events = POLLIN | POLLOUT;
  rc = poll(&p, 1, 0);
  res("poll.unconnected", "rc=%d %s", rc, pollstr(p.revents));
  close(u);
  close(l);
}

/* select/pselect: returns "rc=N rd=x wr=y" for one fd with timeout 0. */
static void select_one(const char *name, int fd, int use_pselect) {
  fd_set rd, wr;
  FD_ZERO(&rd);
  FD_ZERO(&wr);
  FD_SET(fd, &rd);
  FD_SET(fd, &wr);
  int rc;
  if (use_pselect) {
    struct timespec ts = {0, 0};
    rc = pselect(fd + 1, &rd, &wr, NULL, &ts, NULL);
  } else {
    struct timeval tv = {0, 0};
    rc = select(fd + 1, &rd, &wr, NULL, &tv);
  }
  if (rc < 0)
    res_rc(name, rc);
  else
    res(name, "rc=%d rd=%d wr=%d", rc, FD_ISSET(fd, &rd), FD_ISSET(fd, &wr));
}

static void select_checks(void) {
  int fd = connect_peer(PORT_ECHO);
  if (fd < 0) return;
  select_one("select.fresh", fd, 0);
  select_one("pselect.fresh", fd, 1);
  fd_set rd;
  FD_ZERO(&rd);
  FD_SET(fd, &rd);
  struct timeval tv = {0, 50000};
  int rc = select(fd + 1, &rd, NULL, NULL, &tv);
  res("select.timeout_nothing", "rc=%d rd=%d", rc, FD_ISSET(fd, &rd));
  write_all(fd, "ab", 2);
  wait_inq(fd, 2);
  select_one("select.data", fd, 0);
  select_one("pselect.data", fd, 1);
  FD_ZERO(&rd);
  FD_SET(fd, &rd);
  rc = select(fd + 1, &rd, NULL, NULL, NULL); /* ready: no timeout needed */
  res("select.no_timeout_ready", "rc=%d rd=%d", rc, FD_ISSET(fd, &rd));
  char b[2];
  if (read(fd, b, 2) != 2) fail("select.data", "read");
  shutdown(fd, SHUT_WR);
  for (int i = 0; i < 500 && !(wait_ev(fd, POLLIN, 10) & POLLHUP); i++) {}
  select_one("select.both_closed", fd, 0);
  close(fd);
  select_one("select.closed_fd", fd, 0);
  FD_ZERO(&rd);
  tv = (struct timeval){0, 0};
  res_rc("select.negative_nfds", select(-1, &rd, NULL, NULL, &tv));
  tv = (struct timeval){-1, 0};
  res_rc("select.negative_timeval", select(0, NULL, NULL, NULL, &tv));

  /* select with a pipe and a socket together. */
  int pp[2];
  fd = connect_peer(PORT_ECHO);
  if (fd < 0 || pipe(pp) < 0) return;
  if (write(pp[1], "p", 1) != 1) fail("select.mixed", "pipe write");
  FD_ZERO(&rd);
  FD_SET(fd, &rd);
  FD_SET(pp[0], &rd);
  tv = (struct timeval){0, 0};
  int max = fd > pp[0] ? fd : pp[0];
  rc = select(max + 1, &rd, NULL, NULL, &tv);
  res("select.mixed_pipe", "rc=%d sock=%d pipe=%d", rc, FD_ISSET(fd, &rd), FD_ISSET(pp[0], &rd));
  write_all(fd, "s", 1);
  wait_inq(fd, 1);
  FD_ZERO(&rd);
  FD_SET(fd, &rd);
  FD_SET(pp[0], &rd);
  tv = (struct timeval){0, 0};
  rc = select(max + 1, &rd, NULL, NULL, &tv);
  res("select.mixed_both", "rc=%d sock=%d pipe=%d", rc, FD_ISSET(fd, &rd), FD_ISSET(pp[0], &rd));
  close(fd);
  close(pp[0]);
  close(pp[1]);
}

void checks_poll(void) {
  poll_basic();
  poll_mixed();
  poll_listener();
  select_checks();
}
