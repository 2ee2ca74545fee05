// utcpd_death: what an app under libutcp.so sees when utcpd dies (run by
// utcpd_death_test.sh). Two modes:
//
//   utcpd_death transfer PEER_IP UTCP_IP SRC_PORT SINK_PORT ECHO_PORT LISTEN_PORT UTCPD_PID
//     Opens, through utcp: a connection to SRC_PORT (the kernel peer sends continuously;
//     a thread reads it: the transfer in progress), one to SINK_PORT (the peer never
//     reads; a thread writes until write blocks on the full buffer), two idle ones to
//     ECHO_PORT (a thread blocked in read on one, a thread blocked in epoll_wait(-1) on
//     another, one in poll(-1) on a third, a forked child process blocked in read on a
//     fourth) and a listener on UTCP_IP:LISTEN_PORT (a thread blocked in accept).
//     It prints "ready-to-kill" and waits for a line on stdin (the test reads utcpd's
//     counters meanwhile); then it kills utcpd (SIGKILL to UTCPD_PID, the clock starts
//     just before) and
//     checks that every blocked call returns an error within 1 s, and that later calls
//     on the sockets (read, recv, write, send, accept, connect, epoll_wait) fail within
//     1 s too, and close() does not hang. The errors allowed: ECONNRESET, EPIPE,
//     ENETDOWN, ECONNABORTED (and EISCONN for a connect on a formerly connected socket,
//     as Linux says); an epoll_wait may instead report the socket with EPOLLERR/EPOLLHUP
//     at once, when the read that follows gives the error.
//   utcpd_death client PEER_IP PORT N
//     N times: socket + connect to PEER_IP:PORT, and if that worked, an echo of
//     "hello\n"; then bind + listen on 0.0.0.0:PORT+1. Prints what each call did; the
//     test decides what is right (utcpd up, utcpd absent, UTCP_FALLBACK=kernel).
//     Writes nothing to stderr itself (libutcp's own message is counted there).
//
// Lines: "ok: ..." / "FAIL: ..." for checks, "info: ..." otherwise, "summary: N checks,
// M failed" last. A watchdog ends the program (status 3, a FAIL line naming the step)
// when a step hangs past its deadline.
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define LIMIT_MS 1000.0  // a call must fail within this long after utcpd's death

static int checks, failures;
static atomic_long wd_deadline;            // monotonic ms, 0: no step running
static const char* _Atomic wd_label = "";  // the step the watchdog names

static double now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static void result(int ok, const char* fmt, ...) __attribute__((format(printf, 2, 3)));
static void result(int ok, const char* fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  checks++;
  if (!ok) failures++;
  fputs(ok ? "ok: " : "FAIL: ", stdout);
  vprintf(fmt, ap);
  fputc('\n', stdout);
  va_end(ap);
}

static void info(const char* fmt, ...) __attribute__((format(printf, 1, 2)));
static void info(const char* fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fputs("info: ", stdout);
  vprintf(fmt, ap);
  fputc('\n', stdout);
  va_end(ap);
}

static void* watchdog(void* arg) {
  (void)arg;
  for (;;) {
    usleep(20 * 1000);
    long d = atomic_load(&wd_deadline);
    if (d != 0 && now_ms() > (double)d) {
      printf("FAIL: %s: did not return before its deadline (hang)\n", atomic_load(&wd_label));
      printf("summary: %d checks, %d failed\n", checks + 1, failures + 1);
      fflush(stdout);
      _exit(3);
    }
  }
  return NULL;
}

// The watchdog ends the program if the step has not finished ms from now.
static void step(const char* label, int ms) {
  atomic_store(&wd_label, label);
  atomic_store(&wd_deadline, (long)now_ms() + ms);
}
static void step_done(void) { atomic_store(&wd_deadline, 0); }

static const char* err_name(int e) {
  const char* n = strerrorname_np(e);
  return n ? n : "E?";
}

static struct sockaddr_in addr_of(const char* ip, int port) {
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
  if (inet_pton(AF_INET, ip, &a.sin_addr) != 1) {
    fprintf(stderr, "bad address %s\n", ip);
    exit(2);
  }
  return a;
}

static int connect_to(const char* ip, int port) {
  struct sockaddr_in a = addr_of(ip, port);
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0 || connect(fd, (struct sockaddr*)&a, sizeof a) != 0) {
    printf("FAIL: connect to %s:%d: %s\n", ip, port, err_name(errno));
    exit(1);
  }
  return fd;
}

// ---------------------------------------------------------------- transfer mode

// One blocked call on its own thread and how it ended.
struct blocked {
  const char* name;
  int fd;
  int ep;                // epoller: its epoll set
  atomic_long progress;  // bytes moved (reader, writer)
  atomic_int done;
  long ret;              // the call's return value
  int err;               // its errno (ret < 0)
  double t_end;          // when it returned
  char detail[160];
};

static void finish(struct blocked* b, long ret, int err) {
  b->ret = ret;
  b->err = err;
  b->t_end = now_ms();
  atomic_store(&b->done, 1);
}

static void* reader(void* arg) {  // the transfer in progress, or an idle read
  struct blocked* b = arg;
  static __thread char buf[65536];
  for (;;) {
    ssize_t r = read(b->fd, buf, sizeof buf);
    if (r <= 0) {
      finish(b, r, errno);
      return NULL;
    }
    atomic_fetch_add(&b->progress, r);
  }
}

static void* writer(void* arg) {  // writes until the buffer is full and write blocks
  struct blocked* b = arg;
  static __thread char buf[65536];
  memset(buf, 'w', sizeof buf);
  for (;;) {
    ssize_t r = write(b->fd, buf, sizeof buf);
    if (r <= 0) {
      finish(b, r, errno);
      return NULL;
    }
    atomic_fetch_add(&b->progress, r);
  }
}

static void* epoller(void* arg) {  // epoll_wait(-1) on an idle connection
  struct blocked* b = arg;
  struct epoll_event ev[4];
  int n = epoll_wait(b->ep, ev, 4, -1);
  int err = errno;
  if (n <= 0) {
    snprintf(b->detail, sizeof b->detail, "epoll_wait returned %d%s%s", n, n < 0 ? " " : "",
             n < 0 ? err_name(err) : "");
    finish(b, n < 0 ? -1 : 0, err);
    return NULL;
  }
  // It reported the socket: the read that follows must give the error.
  char buf[256];
  ssize_t r = read(b->fd, buf, sizeof buf);
  err = errno;
  snprintf(b->detail, sizeof b->detail, "epoll_wait returned %d (events 0x%x), then read %zd%s%s",
           n, ev[0].events, r, r < 0 ? " " : "", r < 0 ? err_name(err) : "");
  finish(b, r, err);
  return NULL;
}

static void* poller(void* arg) {  // poll(-1) on an idle connection
  struct blocked* b = arg;
  struct pollfd p = {.fd = b->fd, .events = POLLIN};
  int n = poll(&p, 1, -1);
  int err = errno;
  if (n <= 0) {
    snprintf(b->detail, sizeof b->detail, "poll returned %d%s%s", n, n < 0 ? " " : "",
             n < 0 ? err_name(err) : "");
    finish(b, n < 0 ? -1 : 0, err);
    return NULL;
  }
  char buf[256];
  ssize_t r = read(b->fd, buf, sizeof buf);
  err = errno;
  snprintf(b->detail, sizeof b->detail, "poll returned %d (revents 0x%x), then read %zd%s%s", n,
           p.revents, r, r < 0 ? " " : "", r < 0 ? err_name(err) : "");
  finish(b, r, err);
  return NULL;
}

// What the forked child's read gave, sent to the parent over a pipe.
struct child_report {
  long ret;
  int err;
  double t_end;  // CLOCK_MONOTONIC is the same clock in both processes
};

static void* acceptor(void* arg) {  // accept on a listener nobody connects to
  struct blocked* b = arg;
  int r = accept(b->fd, NULL, NULL);
  finish(b, r, errno);
  return NULL;
}

// The errors a call on a socket of a dead utcpd may give.
static int dead_errno(int e) {
  return e == ECONNRESET || e == EPIPE || e == ENETDOWN || e == ECONNABORTED;
}

// A later call on a socket of the dead daemon: it must fail (-1) within LIMIT_MS, with
// one of dead_errno's errors or `also` (e.g. EISCONN: Linux's answer to a connect on a
// socket that was connected, reset or not).
#define LATER(label, also, call)                                                            \
  do {                                                                                      \
    step(label, 3000);                                                                      \
    double t0_ = now_ms();                                                                  \
    errno = 0;                                                                              \
    long r_ = (long)(call);                                                                 \
    int e_ = errno;                                                                         \
    double w_ = now_ms() - t0_;                                                             \
    step_done();                                                                            \
    result(r_ == -1 && (dead_errno(e_) || e_ == (also)) && w_ <= LIMIT_MS,                  \
           "later %s: returned %ld %s after %.1f ms", label, r_,                            \
           r_ == -1 ? err_name(e_) : "(no error)", w_);                                     \
  } while (0)

static int transfer(char** argv) {
  const char* peer_ip = argv[0];
  const char* utcp_ip = argv[1];
  int src_port = atoi(argv[2]), sink_port = atoi(argv[3]), echo_port = atoi(argv[4]);
  int listen_port = atoi(argv[5]);
  pid_t utcpd = (pid_t)atoi(argv[6]);

  step("setup", 15000);
  struct blocked rd = {.name = "read (transfer in progress)"};
  struct blocked idle = {.name = "read (idle connection)"};
  struct blocked wr = {.name = "write (full send buffer)"};
  struct blocked ew = {.name = "epoll_wait (idle connection)"};
  struct blocked ac = {.name = "accept (listener)"};
  struct blocked pl = {.name = "poll (idle connection)"};
  rd.fd = connect_to(peer_ip, src_port);
  wr.fd = connect_to(peer_ip, sink_port);
  idle.fd = connect_to(peer_ip, echo_port);
  ew.fd = connect_to(peer_ip, echo_port);
  ew.ep = epoll_create1(EPOLL_CLOEXEC);
  struct epoll_event e = {.events = EPOLLIN, .data.fd = ew.fd};
  if (ew.ep < 0 || epoll_ctl(ew.ep, EPOLL_CTL_ADD, ew.fd, &e) != 0) {
    printf("FAIL: epoll setup: %s\n", err_name(errno));
    return 1;
  }
  pl.fd = connect_to(peer_ip, echo_port);
  int child_fd = connect_to(peer_ip, echo_port);
  ac.fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in la = addr_of(utcp_ip, listen_port);
  if (ac.fd < 0 || bind(ac.fd, (struct sockaddr*)&la, sizeof la) != 0 || listen(ac.fd, 8) != 0) {
    printf("FAIL: listener on %s:%d: %s\n", utcp_ip, listen_port, err_name(errno));
    return 1;
  }
  result(1, "6 connections and a listener through utcp");

  // A forked child process blocked in read on its own idle connection.
  int cp[2];
  if (pipe(cp) != 0) return 1;
  pid_t child = fork();
  if (child == 0) {
    close(cp[0]);
    char buf[256];
    if (write(cp[1], "s", 1) != 1) _exit(1);
    struct child_report rep;
    rep.ret = read(child_fd, buf, sizeof buf);
    rep.err = errno;
    rep.t_end = now_ms();
    _exit(write(cp[1], &rep, sizeof rep) == sizeof rep ? 0 : 1);
  }
  close(cp[1]);
  close(child_fd);  // the child's now
  {
    struct pollfd p = {.fd = cp[0], .events = POLLIN};
    char c;
    if (child < 0 || poll(&p, 1, 5000) != 1 || read(cp[0], &c, 1) != 1) {
      printf("FAIL: the forked child did not start\n");
      return 1;
    }
  }

  struct blocked* all[] = {&rd, &idle, &wr, &ew, &pl, &ac};
  void* (*fn[])(void*) = {reader, reader, writer, epoller, poller, acceptor};
  const int n = 6;
  pthread_t th[6];
  for (int i = 0; i < n; i++) pthread_create(&th[i], NULL, fn[i], all[i]);

  // The transfer runs (>= 1 MiB read) and the writer is stuck (no progress for 500 ms).
  double t_start = now_ms(), t_still = now_ms();
  long last_w = -1;
  int ready = 0;
  while (now_ms() - t_start < 10000) {
    usleep(20 * 1000);
    long w = atomic_load(&wr.progress);
    if (w != last_w) {
      last_w = w;
      t_still = now_ms();
    }
    if (atomic_load(&rd.progress) >= (1 << 20) && w > 0 && now_ms() - t_still >= 500) {
      ready = 1;
      break;
    }
  }
  result(ready, "before: transfer read %ld bytes so far; write blocked after %ld bytes",
         atomic_load(&rd.progress), last_w);
  int early = 0;
  for (int i = 0; i < n; i++) {
    if (atomic_load(&all[i]->done)) {
      early = 1;
      result(0, "before: blocked %s returned early: %ld %s", all[i]->name, all[i]->ret,
             err_name(all[i]->err));
    }
  }
  if (!ready || early) {
    printf("summary: %d checks, %d failed\n", checks, failures);
    fflush(stdout);
    _exit(1);
  }
  // The test looks at utcpd's counters now, then says "go" on stdin.
  step_done();
  printf("ready-to-kill\n");
  fflush(stdout);
  struct pollfd pin = {.fd = 0, .events = POLLIN};
  char go[16];
  if (poll(&pin, 1, 15000) != 1 || read(0, go, sizeof go) <= 0) {
    printf("FAIL: no \"go\" on stdin within 15 s\n");
    return 1;
  }
  long r1 = atomic_load(&rd.progress);
  usleep(100 * 1000);  // the transfer keeps going; everyone else is asleep in its call
  info("transfer still running: +%ld bytes in 100 ms", atomic_load(&rd.progress) - r1);
  for (int i = 0; i < n; i++) {
    if (atomic_load(&all[i]->done)) {
      printf("FAIL: before: blocked %s returned early\n", all[i]->name);
      return 1;
    }
  }

  // utcpd dies.
  double t0 = now_ms();
  if (kill(utcpd, SIGKILL) != 0) {
    printf("FAIL: kill(%d, SIGKILL): %s\n", (int)utcpd, err_name(errno));
    return 1;
  }
  long at_kill = atomic_load(&rd.progress);
  info("SIGKILL sent to utcpd (pid %d)", (int)utcpd);

  // Each blocked call returns an error within 1 s (waited for up to 3 s: a hang).
  while (now_ms() - t0 < 3000) {
    int left = 0;
    for (int i = 0; i < n; i++) left += !atomic_load(&all[i]->done);
    if (!left) break;
    usleep(2 * 1000);
  }
  int hung = 0;
  for (int i = 0; i < n; i++) {
    struct blocked* b = all[i];
    if (!atomic_load(&b->done)) {
      hung = 1;
      result(0, "blocked %s: still blocked %.0f ms after utcpd died (hang)", b->name,
             now_ms() - t0);
      continue;
    }
    double w = b->t_end - t0;
    char extra[200] = "";
    if (b == &rd) snprintf(extra, sizeof extra, " (%ld bytes read after the kill)", atomic_load(&rd.progress) - at_kill);
    if (b == &ew || b == &pl) snprintf(extra, sizeof extra, " (%s)", b->detail);
    result(b->ret == -1 && dead_errno(b->err) && w <= LIMIT_MS, "blocked %s: returned %ld %s after %.1f ms%s", b->name,
           b->ret, b->ret == -1 ? err_name(b->err) : (b->ret == 0 ? "(EOF/0, not an error)" : "(no error)"),
           w, extra);
  }

  // The forked child's read (it had up to the 3 s above, and gets 1 s more here).
  {
    struct pollfd p = {.fd = cp[0], .events = POLLIN};
    struct child_report rep;
    int k = poll(&p, 1, (int)(t0 + 4000 - now_ms() > 0 ? t0 + 4000 - now_ms() : 0));
    if (k == 1 && read(cp[0], &rep, sizeof rep) == sizeof rep) {
      double w = rep.t_end - t0;
      result(rep.ret == -1 && dead_errno(rep.err) && w <= LIMIT_MS,
             "blocked read (forked child process): returned %ld %s after %.1f ms", rep.ret,
             rep.ret == -1 ? err_name(rep.err) : (rep.ret == 0 ? "(EOF/0, not an error)" : "(no error)"), w);
    } else {
      result(0, "blocked read (forked child process): no report %.0f ms after utcpd died (hang)",
             now_ms() - t0);
      kill(child, SIGKILL);
    }
    int status = 0;
    for (int i = 0; i < 100 && waitpid(child, &status, WNOHANG) == 0; i++) usleep(20 * 1000);
    close(cp[0]);
  }

  // Later calls: every one fails, promptly.
  char buf[4096];
  memset(buf, 'x', sizeof buf);
  LATER("read (transfer conn)", -1, read(rd.fd, buf, sizeof buf));
  LATER("recv (transfer conn)", -1, recv(rd.fd, buf, sizeof buf, 0));
  LATER("write (transfer conn)", -1, write(rd.fd, buf, sizeof buf));
  LATER("write (full conn)", -1, write(wr.fd, buf, sizeof buf));
  LATER("send (full conn)", -1, send(wr.fd, buf, sizeof buf, MSG_NOSIGNAL));
  LATER("recv (full conn)", -1, recv(wr.fd, buf, sizeof buf, 0));
  LATER("send (idle conn)", -1, send(idle.fd, "hello\n", 6, MSG_NOSIGNAL));
  LATER("read (idle conn)", -1, read(idle.fd, buf, sizeof buf));
  LATER("recv (epoll conn)", -1, recv(ew.fd, buf, sizeof buf, 0));
  LATER("write (epoll conn)", -1, write(ew.fd, "hello\n", 6));
  LATER("accept (listener)", -1, accept(ac.fd, NULL, NULL));
  {
    // A new socket to the same peer: connect needs utcp, which is gone.
    struct sockaddr_in pa = addr_of(peer_ip, echo_port);
    step("socket (new)", 3000);
    int s = socket(AF_INET, SOCK_STREAM, 0);
    int se = errno;
    step_done();
    info("later socket (new): returned %d%s%s", s, s < 0 ? " " : "", s < 0 ? err_name(se) : "");
    if (s >= 0) {
      LATER("connect (new socket)", -1, connect(s, (struct sockaddr*)&pa, sizeof pa));
      close(s);
    }
    // connect on a socket that was connected before utcpd died.
    LATER("connect (idle conn again)", EISCONN, connect(idle.fd, (struct sockaddr*)&pa, sizeof pa));
  }
  {
    // epoll_wait on the dead connection: it must not sleep out its timeout as if
    // nothing happened (the app would wait forever with -1): either an error, or the
    // socket reported (EPOLLERR/EPOLLHUP) at once.
    struct epoll_event ev[4];
    step("epoll_wait (epoll conn, later)", 3000);
    double t1 = now_ms();
    int k = epoll_wait(ew.ep, ev, 4, 2000);
    int ke = errno;
    double w = now_ms() - t1;
    step_done();
    result((k == -1 || (k >= 1 && (ev[0].events & (EPOLLERR | EPOLLHUP)))) && w <= LIMIT_MS,
           "later epoll_wait (epoll conn, 2 s timeout): returned %d %s (events 0x%x) after %.1f ms", k,
           k < 0 ? err_name(ke) : "", k >= 1 ? ev[0].events : 0, w);
  }

  // close() of every socket returns, promptly.
  int fds[] = {rd.fd, wr.fd, idle.fd, ew.fd, pl.fd, ac.fd, ew.ep};
  const char* names[] = {"transfer conn", "full conn", "idle conn", "epoll conn", "poll conn",
                         "listener", "epoll set"};
  if (!hung) {
    for (int i = 0; i < 7; i++) {
      step("close", 3000);
      double t1 = now_ms();
      int c = close(fds[i]);
      int ce = errno;
      double w = now_ms() - t1;
      step_done();
      result(w <= LIMIT_MS, "close (%s): returned %d%s%s after %.1f ms", names[i], c,
             c < 0 ? " " : "", c < 0 ? err_name(ce) : "", w);
    }
    for (int i = 0; i < n; i++) pthread_join(th[i], NULL);
  }
  printf("summary: %d checks, %d failed\n", checks, failures);
  fflush(stdout);
  if (hung) _exit(1);  // threads still blocked: do not run exit handlers under them
  step("exit", 3000);  // exit() itself (libutcp's teardown) must not hang either
  return failures ? 1 : 0;
}

// ---------------------------------------------------------------- client mode

static int client(char** argv) {
  const char* ip = argv[0];
  int port = atoi(argv[1]), rounds = atoi(argv[2]);
  struct sockaddr_in a = addr_of(ip, port);
  int ok_all = 1;
  for (int i = 1; i <= rounds; i++) {
    step("socket", 5000);
    int s = socket(AF_INET, SOCK_STREAM, 0);
    if (s < 0) {
      printf("info: round %d: socket: -1 %s\n", i, err_name(errno));
      ok_all = 0;
      continue;
    }
    step("connect", 5000);
    double t0 = now_ms();
    int c = connect(s, (struct sockaddr*)&a, sizeof a);
    int ce = errno;
    printf("info: round %d: connect %s:%d: %s after %.1f ms\n", i, ip, port,
           c == 0 ? "0 (connected)" : err_name(ce), now_ms() - t0);
    if (c != 0) {
      ok_all = 0;
      close(s);
      continue;
    }
    step("echo", 5000);
    char buf[16] = {0};
    size_t got = 0;
    ssize_t w = write(s, "hello\n", 6);
    while (w == 6 && got < 6) {
      ssize_t r = read(s, buf + got, 6 - got);
      if (r <= 0) break;
      got += (size_t)r;
    }
    int echo_ok = w == 6 && got == 6 && memcmp(buf, "hello\n", 6) == 0;
    printf("info: round %d: echo %s\n", i, echo_ok ? "ok" : "failed");
    ok_all = ok_all && echo_ok;
    close(s);
  }
  // A listener on the wildcard: utcp's half needs utcpd.
  step("bind+listen", 5000);
  int l = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in any = {.sin_family = AF_INET, .sin_port = htons((uint16_t)(port + 1))};
  int b = l < 0 ? -1 : bind(l, (struct sockaddr*)&any, sizeof any);
  int be = errno;
  int li = b == 0 ? listen(l, 4) : -1;
  int le = errno;
  printf("info: bind 0.0.0.0:%d: %s, listen: %s\n", port + 1, b == 0 ? "0" : err_name(be),
         li == 0 ? "0" : (b == 0 ? err_name(le) : "not tried"));
  if (l >= 0) close(l);
  step_done();
  printf("client: %s\n", ok_all ? "all connected and echoed" : "not all connected and echoed");
  fflush(stdout);
  return 0;
}

int main(int argc, char** argv) {
  setvbuf(stdout, NULL, _IOLBF, 0);
  signal(SIGPIPE, SIG_IGN);
  pthread_t wd;
  pthread_create(&wd, NULL, watchdog, NULL);
  if (argc == 9 && strcmp(argv[1], "transfer") == 0) return transfer(argv + 2);
  if (argc == 5 && strcmp(argv[1], "client") == 0) return client(argv + 2);
  printf("usage: %s transfer PEER_IP UTCP_IP SRC_PORT SINK_PORT ECHO_PORT LISTEN_PORT UTCPD_PID\n"
         "       %s client PEER_IP PORT N\n",
         argv[0], argv[0]);
  return 2;
}
