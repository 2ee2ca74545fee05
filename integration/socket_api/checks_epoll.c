/* epoll: create, ctl errors, level/edge/oneshot semantics, hangup and error events,
 * mixed fd kinds, EPOLLEXCLUSIVE, nesting. As in checks_poll.c, events caused by the
 * peer are waited for first (bounded), so each printed result is deterministic. */
#include "common.h"

#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/timerfd.h>
#include <unistd.h>

/* epoll_wait with up to 8 events; prints "n=N ev=<events of the first>" or the error. */
static void ewait(const char *name, int ep, int ms) {
  struct epoll_event ev[8];
  memset(ev, 0, sizeof ev);
  int n = epoll_wait(ep, ev, 8, ms);
  if (n < 0)
    res_rc(name, n);
  else if (n == 0)
    res(name, "n=0");
  else
    res(name, "n=%d ev=%s", n, epollstr(ev[0].events));
}

static int add(int ep, int fd, uint32_t events) {
  struct epoll_event e = {.events = events, .data.fd = fd};
  return epoll_ctl(ep, EPOLL_CTL_ADD, fd, &e);
}

static int mod(int ep, int fd, uint32_t events) {
  struct epoll_event e = {.events = events, .data.fd = fd};
  return epoll_ctl(ep, EPOLL_CTL_MOD, fd, &e);
}

static void epoll_create_checks(void) {
  res_rc("epoll.create_0", epoll_create(0));
  int ep = epoll_create(1);
  res("epoll.create_1", "%s", ep >= 0 ? fdflags(ep) : rcstr(ep));
  close(ep);
  ep = epoll_create1(EPOLL_CLOEXEC);
  res("epoll.create1_cloexec", "%s", ep >= 0 ? fdflags(ep) : rcstr(ep));
  close(ep);
  res_rc("epoll.create1_bad_flags", epoll_create1(0x1234));
}

static void epoll_ctl_checks(void) {
  int ep = epoll_create1(0), fd = connect_peer(PORT_ECHO);
  if (fd < 0) return;
  struct epoll_event e = {.events = EPOLLIN, .data.u64 = 0x1122334455667788ull};
  res_ok("epoll.ctl_add", epoll_ctl(ep, EPOLL_CTL_ADD, fd, &e));
  res_rc("epoll.ctl_add_again", add(ep, fd, EPOLLIN));
  res_ok("epoll.ctl_mod", mod(ep, fd, EPOLLIN | EPOLLOUT));
  struct epoll_event out;
  int n = epoll_wait(ep, &out, 1, WAIT_MS);
  res("epoll.fresh_out", "n=%d ev=%s", n, epollstr(out.events));
  /* The MOD replaced data too; set the cookie again and check it comes back intact. */
  e.events = EPOLLOUT;
  epoll_ctl(ep, EPOLL_CTL_MOD, fd, &e);
  n = epoll_wait(ep, &out, 1, WAIT_MS);
  res("epoll.data_cookie", "n=%d intact=%s", n, out.data.u64 == 0x1122334455667788ull ? "yes" : "no");
  res_ok("epoll.ctl_del", epoll_ctl(ep, EPOLL_CTL_DEL, fd, NULL));
  res_rc("epoll.ctl_del_again", epoll_ctl(ep, EPOLL_CTL_DEL, fd, NULL));
  res_rc("epoll.ctl_mod_missing", mod(ep, fd, EPOLLIN));
  res_rc("epoll.ctl_add_self", add(ep, ep, EPOLLIN));
  res_rc("epoll.ctl_bad_op", epoll_ctl(ep, 99, fd, &e));
  res_rc("epoll.ctl_add_negative_fd", add(ep, -1, EPOLLIN));
  char path[] = "/tmp/utcp-sapi-epoll.XXXXXX";
  int f = mkstemp(path);
  if (f >= 0) {
    unlink(path);
    res_rc("epoll.ctl_add_regular_file", add(ep, f, EPOLLIN));
    close(f);
  }
  res_rc("epoll.ctl_on_non_epoll", add(fd, fd, EPOLLIN));
  res_rc("epoll.wait_maxevents_0", epoll_wait(ep, &out, 0, 0));
  ewait("epoll.wait_empty_set", ep, 0);
  /* A closed fd leaves the set by itself (no other descriptor of the socket is open). */
  add(ep, fd, EPOLLOUT);
  close(fd);
  ewait("epoll.after_close", ep, 0);
  res_rc("epoll.ctl_del_closed", epoll_ctl(ep, EPOLL_CTL_DEL, fd, NULL));
  close(ep);
}

/* Level- and edge-triggered input, oneshot. */
static void epoll_trigger_checks(void) {
  int ep = epoll_create1(0), fd = connect_peer(PORT_ECHO);
  if (fd < 0) return;
  char buf[16];
  add(ep, fd, EPOLLIN);
  ewait("epoll.lt_idle", ep, 0);
  write_all(fd, "abc", 3);
  wait_inq(fd, 3);
  ewait("epoll.lt_data", ep, 0);
  ewait("epoll.lt_data_again", ep, 0);
  if (read(fd, buf, 3) != 3) fail("epoll.lt", "read");
  ewait("epoll.lt_drained", ep, 0);

  mod(ep, fd, EPOLLIN | EPOLLET);
  write_all(fd, "de", 2);
  wait_inq(fd, 2);
  ewait("epoll.et_data", ep, 0);
  ewait("epoll.et_data_again", ep, 0);
  write_all(fd, "f", 1);
  wait_inq(fd, 3);
  ewait("epoll.et_more_data", ep, 0);
  ewait("epoll.et_more_data_again", ep, 0);
  if (read(fd, buf, 3) != 3) fail("epoll.et", "read");
  /* EPOLLOUT edge: reported once after the MOD, not again while nothing changes. */
  mod(ep, fd, EPOLLOUT | EPOLLET);
  ewait("epoll.et_out", ep, 0);
  ewait("epoll.et_out_again", ep, 0);

  mod(ep, fd, EPOLLIN | EPOLLONESHOT);
  write_all(fd, "g", 1);
  wait_inq(fd, 1);
  ewait("epoll.oneshot_data", ep, 0);
  write_all(fd, "h", 1);
  wait_inq(fd, 2);
  ewait("epoll.oneshot_disarmed", ep, 0);
  res_ok("epoll.oneshot_rearm", mod(ep, fd, EPOLLIN | EPOLLONESHOT));
  ewait("epoll.oneshot_rearmed", ep, 0);
  if (read(fd, buf, 2) != 2) fail("epoll.oneshot", "read");

  /* epoll_pwait with and without a mask. */
  mod(ep, fd, EPOLLIN);
  write_all(fd, "i", 1);
  wait_inq(fd, 1);
  sigset_t mask;
  sigemptyset(&mask);
  struct epoll_event e;
  int n = epoll_pwait(ep, &e, 1, 0, &mask);
  res("epoll.pwait_mask", "n=%d ev=%s", n, epollstr(e.events));
  n = epoll_pwait(ep, &e, 1, 0, NULL);
  res("epoll.pwait_nomask", "n=%d ev=%s", n, epollstr(e.events));
  close(fd);
  close(ep);
}

/* Hangups on connections the peer made to us (the control protocol shuts or resets them). */
static void epoll_hup_checks(void) {
  int port = next_port(), id1 = 0, id2 = 0;
  int l = listen_local(port);
  if (l < 0) return;
  int a = accept_from_peer(l, port, &id1), b = accept_from_peer(l, port, &id2);
  close(l);
  if (a < 0 || b < 0) return;
  int ep = epoll_create1(0);
  add(ep, a, EPOLLIN | EPOLLRDHUP);
  ewait("epoll.rdhup_idle", ep, 0);
  ctl("SHUTWR %d", id1);
  for (int i = 0; i < 500 && !(wait_ev(a, POLLRDHUP, 10) & POLLRDHUP); i++) {}
  ewait("epoll.rdhup_peer_shutwr", ep, 0);
  mod(ep, a, EPOLLIN | EPOLLOUT | EPOLLRDHUP);
  ewait("epoll.rdhup_with_out", ep, 0);
  epoll_ctl(ep, EPOLL_CTL_DEL, a, NULL);

  add(ep, b, EPOLLIN | EPOLLRDHUP);
  ctl("RESET %d", id2);
  wait_hup(b);
  ewait("epoll.reset", ep, 0);
  /* EPOLLERR and EPOLLHUP are reported even if not asked for. */
  mod(ep, b, 0);
  ewait("epoll.reset_no_events_requested", ep, 0);
  close(a);
  close(b);
  ctl("CLOSE %d", id1);
  close(ep);
}

/* A socket, a pipe and a timerfd in one set: each wakes the wait on its own. */
static void epoll_mixed_checks(void) {
  int ep = epoll_create1(0), fd = connect_peer(PORT_ECHO), pp[2];
  int tf = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK);
  if (fd < 0 || pipe(pp) < 0 || tf < 0) return;
  add(ep, fd, EPOLLIN);
  add(ep, pp[0], EPOLLIN);
  add(ep, tf, EPOLLIN);
  const char *names[3] = {"sock", "pipe", "timer"};
  int fds[3] = {fd, pp[0], tf};
  for (int step = 0; step < 3; step++) {
    char buf[16];
    uint64_t ticks;
    if (step == 0) write_all(fd, "s", 1);
    if (step == 1 && write(pp[1], "p", 1) != 1) fail("epoll.mixed", "pipe");
    if (step == 2) {
      struct itimerspec it = {{0, 0}, {0, 50 * 1000000}};
      timerfd_settime(tf, 0, &it, NULL);
    }
    struct epoll_event e[4];
    int n = epoll_wait(ep, e, 4, WAIT_MS);
    const char *who = "none";
    for (int k = 0; k < 3; k++)
      if (n == 1 && e[0].data.fd == fds[k]) who = names[k];
    char name[40];
    snprintf(name, sizeof name, "epoll.mixed_%s", names[step]);
    res(name, "n=%d woke=%s", n, who);
    if (step == 0 && read(fd, buf, 1) != 1) fail("epoll.mixed", "sock read");
    if (step == 1 && read(pp[0], buf, 1) != 1) fail("epoll.mixed", "pipe read");
    if (step == 2 && read(tf, &ticks, sizeof ticks) != sizeof ticks) fail("epoll.mixed", "timer");
  }
  ewait("epoll.mixed_drained", ep, 0);

  /* Nested: the epoll fd itself is readable in an outer set when an inner fd is ready. */
  int outer = epoll_create1(0);
  add(outer, ep, EPOLLIN);
  ewait("epoll.nested_idle", outer, 0);
  write_all(fd, "n", 1);
  wait_inq(fd, 1);
  ewait("epoll.nested_ready", outer, 0);
  close(outer);
  close(tf);
  close(pp[0]);
  close(pp[1]);
  close(fd);
  close(ep);
}

static void epoll_listener_checks(void) {
  int port = next_port();
  int l = listen_local(port);
  if (l < 0) return;
  int ep = epoll_create1(0);
  res_ok("epoll.exclusive_add", add(ep, l, EPOLLIN | EPOLLEXCLUSIVE));
  res_rc("epoll.exclusive_mod", mod(ep, l, EPOLLIN | EPOLLEXCLUSIVE));
  res_rc("epoll.exclusive_mod_plain", mod(ep, l, EPOLLIN));
  ewait("epoll.listener_idle", ep, 0);
  ctl("CONNECT %d", port);
  wait_ev(l, POLLIN, WAIT_MS);
  ewait("epoll.listener_pending", ep, 0);
  int c = accept(l, NULL, NULL);
  if (c >= 0) close(c);
  ewait("epoll.listener_drained", ep, 0);
  int ep2 = epoll_create1(0);
  res_rc("epoll.exclusive_with_oneshot", add(ep2, l, EPOLLIN | EPOLLEXCLUSIVE | EPOLLONESHOT));
  close(ep2);
  close(ep);
  close(l);
}

/* A connection closed and the next opened under the same fd number, while the first
 * was still a level-triggered candidate (wrk does this with Connection: close): one
 * event per wait, not one per registration the fd ever had. */
static void epoll_reused_fd_checks(void) {
  int ep = epoll_create1(0), fd = connect_peer(PORT_ECHO);
  if (fd < 0) return;
  add(ep, fd, EPOLLOUT);
  struct epoll_event out[4];
  res("epoll.reuse_first", "n=%d", epoll_wait(ep, out, 4, WAIT_MS));
  epoll_ctl(ep, EPOLL_CTL_DEL, fd, NULL);
  close(fd);
  int again = connect_peer(PORT_ECHO);
  res("epoll.reuse_same_number", "%s", again == fd ? "yes" : "no");
  add(ep, again, EPOLLOUT);
  res("epoll.reuse_once_per_wait", "n=%d", epoll_wait(ep, out, 4, WAIT_MS));
  close(again);
  close(ep);
}

/* Another thread adds a readable socket to a set this thread sleeps on (with only a
 * pipe in it so far): the kernel wakes the sleeper at once, and so must utcp. */
struct sleeper {
  int ep;
  int n;
  int fd;
  long ms;
};

static void *sleep_in_epoll(void *arg) {
  struct sleeper *s = arg;
  struct epoll_event ev;
  long t0 = now_ms();
  s->n = epoll_wait(s->ep, &ev, 1, WAIT_MS);
  s->ms = now_ms() - t0;
  s->fd = s->n == 1 ? ev.data.fd : -1;
  return NULL;
}

static void epoll_cross_thread_checks(void) {
  int ep = epoll_create1(0), fd = connect_peer(PORT_ECHO), p[2];
  if (fd < 0 || pipe(p) != 0) return;
  add(ep, p[0], EPOLLIN);
  write_all(fd, "x", 1);
  wait_inq(fd, 1);
  struct sleeper s = {ep, -1, -1, 0};
  pthread_t t;
  if (pthread_create(&t, NULL, sleep_in_epoll, &s) != 0) return;
  usleep(100 * 1000); /* the thread is asleep in epoll_wait by then */
  add(ep, fd, EPOLLIN);
  pthread_join(t, NULL);
  res("epoll.add_wakes_other_thread", "n=%d socket=%s soon=%s", s.n, s.fd == fd ? "yes" : "no",
      s.ms < 1000 ? "yes" : "no");
  close(p[0]);
  close(p[1]);
  close(fd);
  close(ep);
}

void checks_epoll(void) {
  epoll_create_checks();
  epoll_ctl_checks();
  epoll_trigger_checks();
  epoll_hup_checks();
  epoll_mixed_checks();
  epoll_listener_checks();
  epoll_reused_fd_checks();
  epoll_cross_thread_checks();
}
