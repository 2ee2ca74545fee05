// wakeup_stress client (issue 14 item 1), on the kernel stack: CONNS connections to the
// server; for SECONDS, rounds of: send one 32-byte request on each of 1-4 random
// connections at once, then wait for every echo. Between rounds nothing is in flight, so
// a wake-up the server loses is not rescued by later traffic: the round stalls, and
// the client reports it (STALL_MS without the reply) and exits 1. Every 25th round one
// connection is closed and replaced, so accept() and epoll registration keep working
// under the load too.
// Usage: client IP PORT CONNS SECONDS STALL_MS
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MSG 32
#define MAX_CONNS 1024

static struct sockaddr_in server;

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int open_conn(void) {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return -1;
  const int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  if (connect(fd, (struct sockaddr*)&server, sizeof server) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

int main(int argc, char** argv) {
  if (argc != 6) {
    fprintf(stderr, "usage: client IP PORT CONNS SECONDS STALL_MS\n");
    return 2;
  }
  server = (struct sockaddr_in){.sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(argv[2]))};
  if (inet_pton(AF_INET, argv[1], &server.sin_addr) != 1) return 2;
  const int nconns = atoi(argv[3]);
  const double seconds = atof(argv[4]);
  const int stall_ms = atoi(argv[5]);
  if (nconns < 4 || nconns > MAX_CONNS) return 2;
  static int fds[MAX_CONNS];
  for (int i = 0; i < nconns; ++i) {
    if ((fds[i] = open_conn()) < 0) {
      fprintf(stderr, "client: connect %d: %s\n", i, strerror(errno));
      return 2;
    }
  }
  srand(1234);
  const double end = now_s() + seconds;
  unsigned long rounds = 0, requests = 0, reconnects = 0;
  double worst = 0;
  while (now_s() < end) {
    ++rounds;
    if (rounds % 25 == 0) {
      const int victim = rand() % nconns;
      close(fds[victim]);
      if ((fds[victim] = open_conn()) < 0) {
        fprintf(stderr, "client: reconnect: %s\n", strerror(errno));
        return 2;
      }
      ++reconnects;
    }
    int picked[4], got[4];
    const int k = 1 + rand() % 4;
    for (int j = 0; j < k; ++j) {
      int c;
      int dup;
      do {  // distinct connections within a round
        c = rand() % nconns;
        dup = 0;
        for (int m = 0; m < j; ++m) dup |= picked[m] == c;
      } while (dup);
      picked[j] = c;
      got[j] = 0;
      char msg[MSG];
      memset(msg, 'a' + (int)(rounds % 26), sizeof msg);
      if (write(fds[c], msg, sizeof msg) != MSG) {
        fprintf(stderr, "client: write: %s\n", strerror(errno));
        return 2;
      }
      ++requests;
    }
    const double start = now_s();
    int pending = k;
    while (pending > 0) {
      struct pollfd p[4];
      for (int j = 0; j < k; ++j) p[j] = (struct pollfd){.fd = got[j] < MSG ? fds[picked[j]] : -1, .events = POLLIN};
      const int left = stall_ms - (int)((now_s() - start) * 1000);
      const int r = left > 0 ? poll(p, (nfds_t)k, left) : 0;
      if (r == 0) {
        for (int j = 0; j < k; ++j) {
          if (got[j] < MSG) {
            printf("STALL round %lu: connection %d got %d of %d bytes in %d ms\n", rounds, picked[j],
                   got[j], MSG, stall_ms);
          }
        }
        printf("rounds=%lu requests=%lu reconnects=%lu stalled\n", rounds, requests, reconnects);
        return 1;
      }
      if (r < 0) {
        if (errno == EINTR) continue;
        return 2;
      }
      for (int j = 0; j < k; ++j) {
        if (!(p[j].revents & (POLLIN | POLLHUP | POLLERR))) continue;
        char buf[MSG];
        const ssize_t n = read(fds[picked[j]], buf, (size_t)(MSG - got[j]));
        if (n <= 0) {
          fprintf(stderr, "client: connection %d ended: %s\n", picked[j], n == 0 ? "EOF" : strerror(errno));
          return 2;
        }
        got[j] += (int)n;
        if (got[j] == MSG) --pending;
        // ACK the reply now rather than up to 40 ms later: a late ACK is traffic that
        // would wake the server and hide a lost wake-up.
        const int one = 1;
        setsockopt(fds[picked[j]], IPPROTO_TCP, TCP_QUICKACK, &one, sizeof one);
      }
    }
    const double took = now_s() - start;
    if (took > worst) worst = took;
    // A quiet gap: the round's ACKs settle, so the next round starts with nothing in
    // flight that could rescue a lost wake-up.
    const struct timespec gap = {0, 2 * 1000 * 1000};
    nanosleep(&gap, NULL);
  }
  printf("rounds=%lu requests=%lu reconnects=%lu worst_round_ms=%.1f\n", rounds, requests, reconnects,
         worst * 1000);
  return 0;
}
