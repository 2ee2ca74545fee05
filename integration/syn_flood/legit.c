// Legitimate clients for integration/syn_flood_test.sh (issue 6): from the kernel stack,
// a new connection to HOST:PORT every 1/RATE s for SECONDS, each doing one HTTP/1.1 GET
// and closing once the answer is in. One counts as complete when the handshake completed
// and the whole answer ("HTTP/1.x 200", body "utcp\n") came back within BOUND_MS of the
// connect() call. The client closes first, so its TIME-WAIT is the kernel's and the
// server's memory is not filled with them. Nonblocking, one poll loop, so a slow
// connection never delays the next start. Prints each failure, then
//   "legit: N/M complete, T timed out (connect C, answer A), E errors, latency ms p50 X p99 Y max Z, over 1 s K"
//
// usage: legit HOST PORT SECONDS RATE BOUND_MS
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

enum { kMaxInFlight = 1024, kRespMax = 512 };

struct Conn {
  int fd;
  int connected;  // the handshake completed (connect reported success)
  double start;
  size_t got;
  char resp[kRespMax];
};

static const char kRequest[] = "GET / HTTP/1.1\r\nHost: utcp\r\n\r\n";

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int cmp_double(const void* a, const void* b) {
  const double x = *(const double*)a, y = *(const double*)b;
  return (x > y) - (x < y);
}

static int answer_ok(const struct Conn* c) {
  static const char kTail[] = "\r\n\r\nutcp\n";
  const size_t tail = sizeof kTail - 1;
  return c->got >= 16 && strncmp(c->resp, "HTTP/1.", 7) == 0 && strncmp(c->resp + 8, " 200 ", 5) == 0 &&
         c->got >= tail && memcmp(c->resp + c->got - tail, kTail, tail) == 0;
}

int main(int argc, char** argv) {
  if (argc != 6) {
    fprintf(stderr, "usage: %s HOST PORT SECONDS RATE BOUND_MS\n", argv[0]);
    return 2;
  }
  struct sockaddr_in dst;
  memset(&dst, 0, sizeof dst);
  dst.sin_family = AF_INET;
  dst.sin_port = htons((unsigned short)atoi(argv[2]));
  if (inet_pton(AF_INET, argv[1], &dst.sin_addr) != 1) {
    fprintf(stderr, "legit: bad address %s\n", argv[1]);
    return 2;
  }
  const double seconds = atof(argv[3]), rate = atof(argv[4]), bound = atof(argv[5]) / 1000.0;
  const long total = (long)(seconds * rate);
  double* latency = calloc((size_t)total + 1, sizeof *latency);
  static struct Conn conns[kMaxInFlight];
  struct pollfd pfd[kMaxInFlight];
  int live = 0;
  long started = 0, complete = 0, to_connect = 0, to_answer = 0, errors = 0, over_1s = 0;
  const double t0 = now_s();

  while (started < total || live > 0) {
    double now = now_s();
    // Start every connection that is due (a late loop catches up; never more than due).
    while (started < total && t0 + (double)started / rate <= now && live < kMaxInFlight) {
      struct Conn* c = &conns[live];
      memset(c, 0, sizeof *c);
      c->start = now;
      c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
      ++started;
      if (c->fd < 0 || (connect(c->fd, (struct sockaddr*)&dst, sizeof dst) != 0 && errno != EINPROGRESS)) {
        printf("fail: #%ld at %.2f s: connect: %s\n", started, now - t0, strerror(errno));
        if (c->fd >= 0) close(c->fd);
        ++errors;
        continue;
      }
      ++live;
    }
    for (int i = 0; i < live; ++i) {
      pfd[i].fd = conns[i].fd;
      pfd[i].events = conns[i].connected ? POLLIN : POLLOUT;
      pfd[i].revents = 0;
    }
    double next = started < total ? t0 + (double)started / rate : now + 0.05;
    int wait_ms = (int)((next - now) * 1000.0);
    if (wait_ms < 0) wait_ms = 0;
    if (wait_ms > 50) wait_ms = 50;
    if (poll(pfd, (nfds_t)live, wait_ms) < 0 && errno != EINTR) {
      perror("legit: poll");
      return 1;
    }
    now = now_s();
    for (int i = 0; i < live; ++i) {
      struct Conn* c = &conns[i];
      int done = 0;  // 1: complete, -1: failed
      const char* why = "";
      if (!c->connected && pfd[i].revents) {
        int err = 0;
        socklen_t len = sizeof err;
        getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len);
        if (err != 0) {
          done = -1;
          why = strerror(err);
        } else {
          c->connected = 1;
          if (send(c->fd, kRequest, sizeof kRequest - 1, MSG_NOSIGNAL) != (ssize_t)(sizeof kRequest - 1)) {
            done = -1;
            why = "send";
          }
        }
      } else if (c->connected && pfd[i].revents) {
        const ssize_t n = recv(c->fd, c->resp + c->got, kRespMax - 1 - c->got, 0);
        if (n > 0) {
          c->got += (size_t)n;
          if (answer_ok(c)) done = 1;
          else if (c->got >= kRespMax - 1) { done = -1; why = "answer too long"; }
        } else if (n == 0) {
          done = answer_ok(c) ? 1 : -1;
          why = "wrong answer";
        } else if (errno != EAGAIN) {
          done = -1;
          why = strerror(errno);
        }
      }
      if (done == 0 && now - c->start > bound) {
        done = -2;
        why = c->connected ? "no complete answer in time" : "no handshake in time";
      }
      if (done == 0) continue;
      const double took = now - c->start;
      if (done == 1) {
        latency[complete++] = took * 1000.0;
        if (took > 1.0) ++over_1s;
      } else {
        if (done == -2) {
          if (c->connected) ++to_answer; else ++to_connect;
        } else {
          ++errors;
        }
        printf("fail: connection started at %.2f s: %s after %.0f ms (%zu bytes)\n", c->start - t0, why,
               took * 1000.0, c->got);
      }
      close(c->fd);
      conns[i] = conns[--live];
      pfd[i] = pfd[live];
      --i;
    }
  }
  qsort(latency, (size_t)complete, sizeof *latency, cmp_double);
  const double p50 = complete ? latency[complete / 2] : 0;
  const double p99 = complete ? latency[(complete * 99) / 100 < complete ? (complete * 99) / 100 : complete - 1] : 0;
  const double max = complete ? latency[complete - 1] : 0;
  printf("legit: %ld/%ld complete, %ld timed out (connect %ld, answer %ld), %ld errors, "
         "latency ms p50 %.1f p99 %.1f max %.1f, over 1 s %ld\n",
         complete, started, to_connect + to_answer, to_connect, to_answer, errors, p50, p99, max, over_1s);
  free(latency);
  return 0;
}
