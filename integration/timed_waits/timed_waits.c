/* timed_waits PEER_IP PORT (issue 14 item 2): a timed wait sleeps at least its timeout,
 * as the kernel's does. With an idle utcp connection (to PEER_IP:PORT, which never
 * sends) and an idle utcp listener in every set, each of epoll_wait, poll, ppoll,
 * select, pselect, read with SO_RCVTIMEO and accept with SO_RCVTIMEO waits 1, 5 and
 * 50 ms, REPEAT times each; every wait must time out (nothing is ready) and last at
 * least its timeout. Prints one line per call and timeout, "FAIL ..." for an early or
 * wrong return, and "summary: N waits, F failed". */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define REPEAT 5

static int conn_fd, listen_fd, epfd;
static int waits, failed;

static long long now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* One wait of `ms` by `call`; returns its result (0 or -1 with EAGAIN is a timeout). */
static long wait_once(const char *call, int ms) {
  if (strcmp(call, "epoll_wait") == 0) {
    struct epoll_event ev[4];
    return epoll_wait(epfd, ev, 4, ms);
  }
  struct pollfd p[2] = {{conn_fd, POLLIN, 0}, {listen_fd, POLLIN, 0}};
  if (strcmp(call, "poll") == 0) return poll(p, 2, ms);
  const struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
  if (strcmp(call, "ppoll") == 0) return ppoll(p, 2, &ts, NULL);
  fd_set rd;
  FD_ZERO(&rd);
  FD_SET(conn_fd, &rd);
  FD_SET(listen_fd, &rd);
  const int nfds = (conn_fd > listen_fd ? conn_fd : listen_fd) + 1;
  if (strcmp(call, "select") == 0) {
    struct timeval tv = {ms / 1000, (long)(ms % 1000) * 1000L};
    return select(nfds, &rd, NULL, NULL, &tv);
  }
  if (strcmp(call, "pselect") == 0) return pselect(nfds, &rd, NULL, NULL, &ts, NULL);
  const struct timeval tv = {ms / 1000, (long)(ms % 1000) * 1000L};
  if (strcmp(call, "read_rcvtimeo") == 0) {
    setsockopt(conn_fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    char c;
    return read(conn_fd, &c, 1);
  }
  setsockopt(listen_fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  return accept(listen_fd, NULL, NULL);
}

static void check(const char *call, int ms) {
  long long shortest = -1, longest = 0;
  for (int i = 0; i < REPEAT; ++i) {
    const long long t0 = now_ns();
    errno = 0;
    const long rc = wait_once(call, ms);
    const int err = errno;
    const long long took = now_ns() - t0;
    ++waits;
    const int blocking = strcmp(call, "read_rcvtimeo") == 0 || strcmp(call, "accept_rcvtimeo") == 0;
    const int timed_out = blocking ? (rc == -1 && err == EAGAIN) : rc == 0;
    if (!timed_out) {
      printf("FAIL %s %d ms: rc=%ld errno=%s (expected a timeout)\n", call, ms, rc, strerror(err));
      ++failed;
    } else if (took < (long long)ms * 1000000LL) {
      printf("FAIL %s %d ms: returned after %.3f ms (early)\n", call, ms, (double)took / 1e6);
      ++failed;
    }
    if (shortest < 0 || took < shortest) shortest = took;
    if (took > longest) longest = took;
  }
  printf("%s %d ms: shortest %.3f ms, longest %.3f ms\n", call, ms, (double)shortest / 1e6,
         (double)longest / 1e6);
}

int main(int argc, char **argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: timed_waits PEER_IP PORT\n");
    return 2;
  }
  struct sockaddr_in peer = {.sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(argv[2]))};
  if (inet_pton(AF_INET, argv[1], &peer.sin_addr) != 1) return 2;
  conn_fd = socket(AF_INET, SOCK_STREAM, 0);
  if (conn_fd < 0 || connect(conn_fd, (struct sockaddr *)&peer, sizeof peer) != 0) {
    perror("connect");
    return 2;
  }
  /* The listener on the connection's local address: a utcp listener under libutcp.so. */
  struct sockaddr_in local;
  socklen_t len = sizeof local;
  getsockname(conn_fd, (struct sockaddr *)&local, &len);
  local.sin_port = 0;
  listen_fd = socket(AF_INET, SOCK_STREAM, 0);
  if (listen_fd < 0 || bind(listen_fd, (struct sockaddr *)&local, sizeof local) != 0 ||
      listen(listen_fd, 8) != 0) {
    perror("listen");
    return 2;
  }
  epfd = epoll_create1(0);
  struct epoll_event ev = {.events = EPOLLIN, .data.fd = conn_fd};
  epoll_ctl(epfd, EPOLL_CTL_ADD, conn_fd, &ev);
  ev.data.fd = listen_fd;
  epoll_ctl(epfd, EPOLL_CTL_ADD, listen_fd, &ev);

  const char *calls[] = {"epoll_wait", "poll", "ppoll", "select", "pselect", "read_rcvtimeo",
                         "accept_rcvtimeo"};
  const int timeouts[] = {1, 5, 50};
  for (size_t c = 0; c < sizeof calls / sizeof calls[0]; ++c) {
    for (size_t t = 0; t < sizeof timeouts / sizeof timeouts[0]; ++t) check(calls[c], timeouts[t]);
  }
  printf("summary: %d waits, %d failed\n", waits, failed);
  return failed == 0 ? 0 : 1;
}
