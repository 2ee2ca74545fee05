// epoll_mixed: one epoll set holding a utcp socket, a pipe and a timerfd wakes for each
// source on its own, and a blocked epoll_wait uses no CPU. Run by epoll_mixed_test.sh
// under libutcp.so; PEER_IP:PORT is a kernel echo peer that answers each chunk 300 ms
// after it arrived (so every wake-up below happens while epoll_wait is really blocked).
//
// usage: epoll_mixed PEER_IP PORT
// Prints one line per check ("ok: ..." or "FAIL: ..."), "idle <set> pid=N begin" /
// "idle <set> end" around each 3 s idle wait (the test samples /proc between the two),
// and "summary: N checks, M failed" last. Exit status 0 only if nothing failed.
// A watchdog thread ends the program (status 3) if any step takes longer than 20 s.
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define DELAY_MS 300     // what each source waits before it fires
#define WAIT_MS 5000     // the longest any single epoll_wait below may block
#define IDLE_MS 3000     // the idle wait whose CPU is measured
#define CPU_LIMIT_PCT 2.0

static int checks, failures;
static atomic_long step_deadline_ms;  // the watchdog's deadline (monotonic ms), 0: none

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

static void* watchdog(void* arg) {
  (void)arg;
  for (;;) {
    usleep(50 * 1000);
    long d = atomic_load(&step_deadline_ms);
    if (d != 0 && now_ms() > (double)d) {
      printf("FAIL: watchdog: a step took longer than 20 s (hang)\n");
      fflush(stdout);
      _exit(3);
    }
  }
  return NULL;
}

static void step(void) { atomic_store(&step_deadline_ms, (long)now_ms() + 20000); }

static const char* fd_name(int fd, int sock, int pipe_rd, int tfd) {
  if (fd == sock) return "socket";
  if (fd == pipe_rd) return "pipe";
  if (fd == tfd) return "timerfd";
  return "unknown-fd";
}

// Describes the events epoll_wait returned, e.g. "socket(IN) pipe(IN)".
static void describe(char* buf, size_t len, const struct epoll_event* ev, int n, int sock,
                     int pipe_rd, int tfd) {
  buf[0] = '\0';
  if (n <= 0) {
    snprintf(buf, len, "%s", n == 0 ? "nothing" : "error");
    return;
  }
  size_t used = 0;
  for (int i = 0; i < n && used < len; i++) {
    used += snprintf(buf + used, len - used, "%s%s(0x%x)", i ? " " : "",
                     fd_name(ev[i].data.fd, sock, pipe_rd, tfd), ev[i].events);
  }
}

// One epoll_wait that must report exactly `want` (EPOLLIN), after at least min_ms.
static void expect_only(int ep, const char* label, int want, int sock, int pipe_rd, int tfd,
                        double t0) {
  struct epoll_event ev[8];
  step();
  int n = epoll_wait(ep, ev, 8, WAIT_MS);
  int err = errno;
  double waited = now_ms() - t0;
  char what[256];
  describe(what, sizeof what, ev, n, sock, pipe_rd, tfd);
  if (n < 0) {
    result(0, "%s: epoll_wait failed: %s", label, strerrorname_np(err));
    return;
  }
  int ok = n == 1 && ev[0].data.fd == want && (ev[0].events & EPOLLIN) &&
           !(ev[0].events & (EPOLLERR | EPOLLHUP));
  ok = ok && waited >= DELAY_MS - 50 && waited < WAIT_MS;
  result(ok, "%s: epoll_wait woke after %.0f ms with %s (want only %s(IN) after ~%d ms)", label,
         waited, what, fd_name(want, sock, pipe_rd, tfd), DELAY_MS);
}

// After a source was drained, nothing in the set may be ready.
static void expect_quiet(int ep, const char* label, int sock, int pipe_rd, int tfd) {
  struct epoll_event ev[8];
  step();
  int n = epoll_wait(ep, ev, 8, 0);
  char what[256];
  describe(what, sizeof what, ev, n, sock, pipe_rd, tfd);
  result(n == 0, "%s: then nothing ready (epoll_wait(0) gave %s)", label, what);
}

static void read_exact(int fd, const char* label, char* buf, size_t want) {
  size_t got = 0;
  double t0 = now_ms();
  step();
  while (got < want && now_ms() - t0 < WAIT_MS) {
    ssize_t r = read(fd, buf + got, want - got);
    if (r <= 0) {
      result(0, "%s: read gave %zd (%s)", label, r, r < 0 ? strerrorname_np(errno) : "EOF");
      return;
    }
    got += (size_t)r;
  }
  result(got == want, "%s: read %zu of %zu bytes", label, got, want);
}

static void* pipe_writer(void* arg) {
  int fd = *(int*)arg;
  usleep(DELAY_MS * 1000);
  if (write(fd, "T", 1) != 1) perror("pipe_writer");
  return NULL;
}

static void arm_timer(int tfd, int ms) {
  struct itimerspec its = {0};
  its.it_value.tv_sec = ms / 1000;
  its.it_value.tv_nsec = (long)(ms % 1000) * 1000000L;
  if (timerfd_settime(tfd, 0, &its, NULL) != 0) result(0, "timerfd_settime: %s", strerrorname_np(errno));
}

static double cpu_ms(void) {
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return ru.ru_utime.tv_sec * 1e3 + ru.ru_utime.tv_usec / 1e3 + ru.ru_stime.tv_sec * 1e3 +
         ru.ru_stime.tv_usec / 1e3;
}

// The idle wait: nothing arrives; the program's own CPU (all threads) must stay under 2 %.
static void idle_wait(int ep, const char* name, int sock, int pipe_rd, int tfd) {
  struct epoll_event ev[8];
  step();
  printf("idle %s pid=%d begin\n", name, (int)getpid());
  fflush(stdout);
  double c0 = cpu_ms(), t0 = now_ms();
  int n = epoll_wait(ep, ev, 8, IDLE_MS);
  int err = errno;
  double t1 = now_ms(), c1 = cpu_ms();
  printf("idle %s end\n", name);
  char what[256];
  describe(what, sizeof what, ev, n, sock, pipe_rd, tfd);
  if (n < 0) snprintf(what, sizeof what, "error %s", strerrorname_np(err));
  result(n == 0 && t1 - t0 >= IDLE_MS - 50 && t1 - t0 < IDLE_MS + 1000,
         "idle %s: epoll_wait(%d ms) returned %s after %.0f ms", name, IDLE_MS, what, t1 - t0);
  double pct = 100.0 * (c1 - c0) / (t1 - t0);
  result(pct < CPU_LIMIT_PCT,
         "idle %s: getrusage cpu %.2f ms over %.0f ms wall = %.3f %% (limit %.1f %%)", name,
         c1 - c0, t1 - t0, pct, CPU_LIMIT_PCT);
}

int main(int argc, char** argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: %s PEER_IP PORT\n", argv[0]);
    return 2;
  }
  setvbuf(stdout, NULL, _IOLBF, 0);
  signal(SIGPIPE, SIG_IGN);
  pthread_t wd;
  pthread_create(&wd, NULL, watchdog, NULL);
  step();

  struct sockaddr_in peer = {.sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(argv[2]))};
  if (inet_pton(AF_INET, argv[1], &peer.sin_addr) != 1) {
    fprintf(stderr, "bad address %s\n", argv[1]);
    return 2;
  }
  int sock = socket(AF_INET, SOCK_STREAM, 0);
  if (sock < 0 || connect(sock, (struct sockaddr*)&peer, sizeof peer) != 0) {
    printf("FAIL: connect to %s:%s: %s\n", argv[1], argv[2], strerrorname_np(errno));
    return 1;
  }
  result(1, "connected to %s:%s", argv[1], argv[2]);

  int pfd[2];
  if (pipe2(pfd, O_CLOEXEC) != 0) return 1;
  int tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
  int ep = epoll_create1(EPOLL_CLOEXEC);
  if (tfd < 0 || ep < 0) {
    printf("FAIL: timerfd/epoll: %s\n", strerrorname_np(errno));
    return 1;
  }
  int fds[3] = {sock, pfd[0], tfd};
  for (int i = 0; i < 3; i++) {
    struct epoll_event e = {.events = EPOLLIN, .data.fd = fds[i]};
    if (epoll_ctl(ep, EPOLL_CTL_ADD, fds[i], &e) != 0) {
      printf("FAIL: epoll_ctl ADD %s: %s\n", fd_name(fds[i], sock, pfd[0], tfd),
             strerrorname_np(errno));
      return 1;
    }
  }
  const int S = sock, P = pfd[0], T = tfd;

  // 0. Nothing has fired: a 200 ms wait times out with nothing.
  {
    struct epoll_event ev[8];
    double t0 = now_ms();
    step();
    int n = epoll_wait(ep, ev, 8, 200);
    double w = now_ms() - t0;
    char what[256];
    describe(what, sizeof what, ev, n, S, P, T);
    result(n == 0 && w >= 150, "quiet: epoll_wait(200 ms) returned %s after %.0f ms", what, w);
  }

  // 1. The socket: the peer echoes 300 ms after our bytes arrive.
  char buf[64];
  for (int round = 1; round <= 2; round++) {
    const char* label = round == 1 ? "socket" : "socket after fork";
    double t0 = now_ms();
    if (write(S, "ping\n", 5) != 5) result(0, "%s: write: %s", label, strerrorname_np(errno));
    expect_only(ep, label, S, S, P, T, t0);
    read_exact(S, label, buf, 5);
    expect_quiet(ep, label, S, P, T);
    if (round == 2) break;

    // 2. The pipe, written by a helper thread 300 ms later.
    t0 = now_ms();
    pthread_t th;
    pthread_create(&th, NULL, pipe_writer, &pfd[1]);
    expect_only(ep, "pipe (thread)", P, S, P, T, t0);
    read_exact(P, "pipe (thread)", buf, 1);
    pthread_join(th, NULL);
    expect_quiet(ep, "pipe (thread)", S, P, T);

    // 3. The pipe, written by a forked child 300 ms later (the child also holds the utcp
    // socket and exits: the parent's connection must survive that, checked next round).
    t0 = now_ms();
    pid_t child = fork();
    if (child == 0) {
      usleep(DELAY_MS * 1000);
      _exit(write(pfd[1], "C", 1) == 1 ? 0 : 1);
    }
    expect_only(ep, "pipe (forked child)", P, S, P, T, t0);
    read_exact(P, "pipe (forked child)", buf, 1);
    int status = -1;
    for (int i = 0; i < 100 && waitpid(child, &status, WNOHANG) == 0; i++) usleep(20 * 1000);
    result(WIFEXITED(status) && WEXITSTATUS(status) == 0, "pipe (forked child): child exited 0");
    expect_quiet(ep, "pipe (forked child)", S, P, T);

    // 4. The timerfd, expiring 300 ms later.
    t0 = now_ms();
    arm_timer(T, DELAY_MS);
    expect_only(ep, "timerfd", T, S, P, T, t0);
    uint64_t exp = 0;
    ssize_t r = read(T, &exp, sizeof exp);
    result(r == 8 && exp == 1, "timerfd: read %zd bytes, %llu expiration(s)", r,
           (unsigned long long)exp);
    expect_quiet(ep, "timerfd", S, P, T);
  }

  // 5. All three at once (timer 200 ms, pipe 300 ms, socket echo 300 ms): each is reported,
  // nothing else, within the bound.
  {
    double t0 = now_ms();
    int seen_s = 0, seen_p = 0, seen_t = 0, other = 0;
    pthread_t th;
    arm_timer(T, 200);
    pthread_create(&th, NULL, pipe_writer, &pfd[1]);
    if (write(S, "all\n", 4) != 4) result(0, "all three: write: %s", strerrorname_np(errno));
    step();
    while (!(seen_s && seen_p && seen_t) && now_ms() - t0 < WAIT_MS) {
      struct epoll_event ev[8];
      int n = epoll_wait(ep, ev, 8, 1000);
      for (int i = 0; i < n; i++) {
        int fd = ev[i].data.fd;
        if (fd == S) {
          seen_s++;
          ssize_t got = read(S, buf, sizeof buf);
          (void)got;
        } else if (fd == P) {
          seen_p++;
          ssize_t got = read(P, buf, 1);
          (void)got;
        } else if (fd == T) {
          seen_t++;
          uint64_t e;
          ssize_t got = read(T, &e, sizeof e);
          (void)got;
        } else {
          other++;
        }
      }
    }
    pthread_join(th, NULL);
    // A chunk of 4 bytes may come back in two reads at most; normally one.
    result(seen_s >= 1 && seen_p == 1 && seen_t == 1 && other == 0,
           "all three: socket %d, pipe %d, timerfd %d, other %d wake-ups in %.0f ms", seen_s, seen_p,
           seen_t, other, now_ms() - t0);
    expect_quiet(ep, "all three", S, P, T);
  }

  // 6. Idle: the mixed set, then a set holding only the utcp socket.
  idle_wait(ep, "mixed", S, P, T);
  int ep2 = epoll_create1(EPOLL_CLOEXEC);
  struct epoll_event e2 = {.events = EPOLLIN, .data.fd = S};
  if (ep2 < 0 || epoll_ctl(ep2, EPOLL_CTL_ADD, S, &e2) != 0) {
    result(0, "epoll set with only the socket: %s", strerrorname_np(errno));
  } else {
    idle_wait(ep2, "utcp-only", S, P, T);
  }

  step();
  close(ep2);
  close(ep);
  close(S);
  close(pfd[0]);
  close(pfd[1]);
  close(T);
  printf("summary: %d checks, %d failed\n", checks, failures);
  return failures ? 1 : 0;
}
