/* Shared helpers: result lines, names, bounded waits, the peer's control connection. */
#include "common.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

struct in_addr g_local, g_peer;
const char *g_self;
int g_checks;

static const char *g_area = "start";
static char g_last[128] = "none";
static int g_ctl = -1;
static int g_port = LOCAL_PORT_BASE;

/* --- Results. */

void res(const char *name, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  printf("%s: ", name);
  vprintf(fmt, ap);
  printf("\n");
  va_end(ap);
  fflush(stdout);
  snprintf(g_last, sizeof g_last, "%s", name);
  g_checks++;
}

void res_rc(const char *name, long rc) { res(name, "%s", rcstr(rc)); }

void res_ok(const char *name, long rc) {
  if (rc == 0)
    res(name, "ok");
  else if (rc < 0)
    res(name, "%s", rcstr(rc));
  else
    res(name, "rc=%ld", rc);
}

void fail(const char *name, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  printf("FAIL %s: ", name);
  vprintf(fmt, ap);
  printf("\n");
  va_end(ap);
  fflush(stdout);
}

/* The watchdog: a stack that hangs in one call must not hang the run. It prints a FAIL
 * line naming the last finished check and exits (write(2) only: async-signal-safe). */
static void on_watchdog(int sig) {
  (void)sig;
  char buf[256];
  int n = snprintf(buf, sizeof buf, "FAIL watchdog: area %s hung after check %s\n", g_area, g_last);
  if (write(1, buf, (size_t)n) < 0) _exit(3);
  _exit(3);
}

void area(const char *name) {
  g_area = name;
  signal(SIGALRM, on_watchdog);
  alarm(30);
}

void watchdog(unsigned seconds) { alarm(seconds); }

/* --- Names. */

#define E(x) case x: return #x;
const char *errname(int e) {
  static char buf[32];
  switch (e) {
    E(EPERM) E(ENOENT) E(EINTR) E(EIO) E(EBADF) E(ECHILD) E(EAGAIN) E(ENOMEM) E(EACCES)
    E(EFAULT) E(EBUSY) E(EEXIST) E(ENODEV) E(ENOTDIR) E(EISDIR) E(EINVAL) E(ENFILE)
    E(EMFILE) E(ENOTTY) E(EFBIG) E(ENOSPC) E(ESPIPE) E(EPIPE) E(ERANGE) E(ENOSYS)
    E(ENOTSOCK) E(EDESTADDRREQ) E(EMSGSIZE) E(EPROTOTYPE) E(ENOPROTOOPT)
    E(EPROTONOSUPPORT) E(ESOCKTNOSUPPORT) E(EOPNOTSUPP) E(EPFNOSUPPORT) E(EAFNOSUPPORT)
    E(EADDRINUSE) E(EADDRNOTAVAIL) E(ENETDOWN) E(ENETUNREACH) E(ENETRESET)
    E(ECONNABORTED) E(ECONNRESET) E(ENOBUFS) E(EISCONN) E(ENOTCONN) E(ESHUTDOWN)
    E(ETIMEDOUT) E(ECONNREFUSED) E(EHOSTDOWN) E(EHOSTUNREACH) E(EALREADY) E(EINPROGRESS)
    E(ENOEXEC) E(E2BIG) E(EXDEV) E(ENXIO) E(EDOM)
    default:
      snprintf(buf, sizeof buf, "errno%d", e);
      return buf;
  }
}
#undef E

const char *rcstr(long rc) {
  static char buf[4][48];
  static int i;
  char *b = buf[i++ % 4];
  if (rc < 0)
    snprintf(b, 48, "-1 %s", errname(errno));
  else
    snprintf(b, 48, "%ld", rc);
  return b;
}

struct flagname { unsigned v; const char *n; };

static const char *flagstr(unsigned v, const struct flagname *t, size_t cnt) {
  static char buf[4][256];
  static int i;
  char *b = buf[i++ % 4];
  b[0] = 0;
  for (size_t k = 0; k < cnt; k++) {
    if (v & t[k].v) {
      if (b[0]) strcat(b, "|");
      strcat(b, t[k].n);
      v &= ~t[k].v;
    }
  }
  if (v) snprintf(b + strlen(b), 40, "%s0x%x", b[0] ? "|" : "", v);
  if (!b[0]) strcpy(b, "0");
  return b;
}

const char *pollstr(int revents) {
  static const struct flagname t[] = {
      {POLLIN, "POLLIN"}, {POLLPRI, "POLLPRI"}, {POLLOUT, "POLLOUT"},
      {POLLERR, "POLLERR"}, {POLLHUP, "POLLHUP"}, {POLLNVAL, "POLLNVAL"},
      {POLLRDNORM, "POLLRDNORM"}, {POLLRDBAND, "POLLRDBAND"}, {POLLWRNORM, "POLLWRNORM"},
      {POLLWRBAND, "POLLWRBAND"}, {POLLRDHUP, "POLLRDHUP"}};
  if (revents < 0) return rcstr(revents);
  return flagstr((unsigned)revents, t, sizeof t / sizeof t[0]);
}

const char *epollstr(uint32_t events) {
  static const struct flagname t[] = {
      {EPOLLIN, "EPOLLIN"}, {EPOLLPRI, "EPOLLPRI"}, {EPOLLOUT, "EPOLLOUT"},
      {EPOLLERR, "EPOLLERR"}, {EPOLLHUP, "EPOLLHUP"}, {EPOLLRDNORM, "EPOLLRDNORM"},
      {EPOLLRDBAND, "EPOLLRDBAND"}, {EPOLLWRNORM, "EPOLLWRNORM"},
      {EPOLLWRBAND, "EPOLLWRBAND"}, {EPOLLRDHUP, "EPOLLRDHUP"}};
  return flagstr(events, t, sizeof t / sizeof t[0]);
}

const char *ipname(struct in_addr a) {
  if (a.s_addr == g_local.s_addr) return "LOCAL";
  if (a.s_addr == g_peer.s_addr) return "PEER";
  if (a.s_addr == htonl(INADDR_ANY)) return "ANY";
  return "OTHER";
}

/* --- Sockets. */

struct sockaddr_in sin_of(struct in_addr a, int port) {
  struct sockaddr_in s;
  memset(&s, 0, sizeof s);
  s.sin_family = AF_INET;
  s.sin_addr = a;
  s.sin_port = htons((uint16_t)port);
  return s;
}

int next_port(void) { return g_port++; }

int connect_peer(int port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) {
    fail("connect_peer", "socket %s", rcstr(-1));
    return -1;
  }
  struct sockaddr_in a = sin_of(g_peer, port);
  if (connect(fd, (struct sockaddr *)&a, sizeof a) < 0) {
    fail("connect_peer", "port %d: %s", port, rcstr(-1));
    close(fd);
    return -1;
  }
  return fd;
}

int listen_local(int port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a = sin_of(g_local, port);
  if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof a) < 0 || listen(fd, 16) < 0) {
    fail("listen_local", "port %d: %s", port, rcstr(-1));
    if (fd >= 0) close(fd);
    return -1;
  }
  return fd;
}

int accept_from_peer(int lfd, int port, int *id) {
  const char *r = ctl("CONNECT %d", port);
  if (strncmp(r, "OK ", 3) != 0) {
    fail("accept_from_peer", "peer CONNECT %d: %s", port, r);
    return -1;
  }
  if (id) *id = atoi(r + 3);
  if (!(wait_ev(lfd, POLLIN, WAIT_MS) & POLLIN)) {
    fail("accept_from_peer", "listener not readable");
    return -1;
  }
  int fd = accept(lfd, NULL, NULL);
  if (fd < 0) fail("accept_from_peer", "accept %s", rcstr(-1));
  return fd;
}

const char *fdflags(int fd) {
  static char buf[2][64];
  static int i;
  char *b = buf[i++ % 2];
  int fl = fcntl(fd, F_GETFL), fdf = fcntl(fd, F_GETFD);
  if (fl < 0 || fdf < 0)
    snprintf(b, 64, "fcntl %s", rcstr(-1));
  else
    snprintf(b, 64, "O_NONBLOCK=%d FD_CLOEXEC=%d", !!(fl & O_NONBLOCK), !!(fdf & FD_CLOEXEC));
  return b;
}

int port_of(int fd, int peer) {
  struct sockaddr_in a;
  socklen_t len = sizeof a;
  int rc = peer ? getpeername(fd, (struct sockaddr *)&a, &len)
                : getsockname(fd, (struct sockaddr *)&a, &len);
  return rc < 0 ? -1 : ntohs(a.sin_port);
}

int sockopt_int(int fd, int level, int opt) {
  int v = 0;
  socklen_t len = sizeof v;
  if (getsockopt(fd, level, opt, &v, &len) < 0) return -1000 - errno;
  return v;
}

/* --- Bounded waits and I/O. */

long now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1000L + ts.tv_nsec / 1000000;
}

int wait_ev(int fd, int events, int ms) {
  struct pollfd p = {.fd = fd, .events = (short)events};
  long end = now_ms() + ms;
  for (;;) {
    long left = end - now_ms();
    int rc = poll(&p, 1, left < 0 ? 0 : (int)left);
    if (rc < 0 && errno == EINTR) continue;
    if (rc < 0) return -1;
    return rc == 0 ? 0 : p.revents;
  }
}

ssize_t read_n(int fd, void *buf, size_t n, int *eof, int *err) {
  size_t got = 0;
  long end = now_ms() + WAIT_MS;
  if (eof) *eof = 0;
  if (err) *err = 0;
  while (got < n) {
    long left = end - now_ms();
    if (left <= 0) break;
    struct pollfd p = {.fd = fd, .events = POLLIN};
    if (poll(&p, 1, (int)left) <= 0) continue;
    ssize_t r = recv(fd, (char *)buf + got, n - got, MSG_DONTWAIT);
    if (r == 0) {
      if (eof) *eof = 1;
      break;
    }
    if (r < 0) {
      if (errno == EAGAIN || errno == EINTR) continue;
      if (err) *err = errno;
      break;
    }
    got += (size_t)r;
  }
  return (ssize_t)got;
}

ssize_t write_all(int fd, const void *buf, size_t n) {
  size_t done = 0;
  long end = now_ms() + WAIT_MS;
  while (done < n && now_ms() < end) {
    struct pollfd p = {.fd = fd, .events = POLLOUT};
    if (poll(&p, 1, 100) <= 0) continue;
    ssize_t w = send(fd, (const char *)buf + done, n - done, MSG_DONTWAIT | MSG_NOSIGNAL);
    if (w < 0) {
      if (errno == EAGAIN || errno == EINTR) continue;
      break;
    }
    done += (size_t)w;
  }
  return (ssize_t)done;
}

int wait_inq(int fd, int n) {
  int v = -1;
  long end = now_ms() + WAIT_MS;
  do {
    if (ioctl(fd, FIONREAD, &v) < 0) return -1;
    if (v >= n) break;
    usleep(2000);
  } while (now_ms() < end);
  return v;
}

int wait_hup(int fd) {
  int ev = wait_ev(fd, POLLIN, WAIT_MS);
  long end = now_ms() + WAIT_MS;
  while (ev >= 0 && !(ev & (POLLERR | POLLHUP)) && now_ms() < end) {
    usleep(2000);
    ev = wait_ev(fd, POLLIN, 0);
  }
  return ev;
}

static const char *printable(const char *s, size_t n) {
  static char buf[256];
  size_t k = 0;
  for (size_t i = 0; i < n && k + 4 < sizeof buf; i++) {
    unsigned char c = (unsigned char)s[i];
    if (c == '\n') {
      buf[k++] = '\\';
      buf[k++] = 'n';
    } else {
      buf[k++] = (c >= 32 && c < 127) ? (char)c : '?';
    }
  }
  buf[k] = 0;
  return buf;
}

void read_check(const char *name, int fd, size_t n) {
  char buf[256];
  int eof, err;
  if (n > sizeof buf) n = sizeof buf;
  ssize_t r = read_n(fd, buf, n, &eof, &err);
  if (err)
    res(name, "n=%zd data=%s err=%s", r, printable(buf, (size_t)r), errname(err));
  else
    res(name, "n=%zd data=%s%s", r, printable(buf, (size_t)r), eof && (size_t)r < n ? " eof" : "");
}

void echo_check(const char *name, int fd, const char *text) {
  size_t n = strlen(text);
  if (write_all(fd, text, n) != (ssize_t)n) {
    fail(name, "write to echo %s", rcstr(-1));
    return;
  }
  read_check(name, fd, n);
}

uint32_t fnv1a(const void *p, size_t n, uint32_t h) {
  const unsigned char *b = p;
  for (size_t i = 0; i < n; i++) h = (h ^ b[i]) * 0x01000193u;
  return h;
}

void pattern(char *buf, size_t n, size_t start) {
  for (size_t i = 0; i < n; i++) buf[i] = (char)('a' + (start + i) % 26);
}

/* --- Control connection. */

int ctl_open(void) {
  g_ctl = connect_peer(PORT_CTRL);
  if (g_ctl < 0) return -1;
  /* Infrastructure, not a subject: exec'd children never see it. */
  fcntl(g_ctl, F_SETFD, FD_CLOEXEC);
  return strcmp(ctl("PING"), "PONG") == 0 ? 0 : -1;
}

const char *ctl(const char *fmt, ...) {
  static char reply[512];
  char line[512];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(line, sizeof line - 1, fmt, ap);
  va_end(ap);
  line[n++] = '\n';
  if (g_ctl < 0 || write_all(g_ctl, line, (size_t)n) != n) return "ERR NOCTL";
  /* The peer's own waits are bounded by 5 s, so 10 s here is generous. */
  size_t got = 0;
  long end = now_ms() + 2 * WAIT_MS;
  while (got < sizeof reply - 1 && now_ms() < end) {
    if (!(wait_ev(g_ctl, POLLIN, 100) & POLLIN)) continue;
    ssize_t r = recv(g_ctl, reply + got, 1, 0); /* byte by byte: never eat the next reply */
    if (r <= 0) break;
    if (reply[got] == '\n') {
      reply[got] = 0;
      return reply;
    }
    got++;
  }
  return "ERR NOREPLY";
}
