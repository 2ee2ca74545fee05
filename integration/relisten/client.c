/* relisten client (issue 14 item 5), on the kernel: for SECONDS, connect, send "x",
 * expect "ok", close; again at once. Counts what worked, what was refused (RST to the
 * SYN) and what was reset after the handshake (the listener closed with the
 * connection still in its queue); after a failure it waits 1 ms, as a client that
 * retries would. The 0.5 s connect timeout bounds a lost SYN.
 * With LOG, it writes "reset NS" for each reset connection: when its connect()
 * returned (CLOCK_MONOTONIC), for relisten_windows.py.
 * Usage: client IP PORT SECONDS [LOG]; prints "ok=N refused=N reset=N other=N". */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static long long now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv) {
  if (argc != 4 && argc != 5) {
    fprintf(stderr, "usage: client IP PORT SECONDS [LOG]\n");
    return 2;
  }
  FILE *log = argc == 5 ? fopen(argv[4], "w") : NULL;
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(argv[2]))};
  if (inet_pton(AF_INET, argv[1], &a.sin_addr) != 1) return 2;
  const double end = now_s() + atof(argv[3]);
  unsigned long ok = 0, refused = 0, reset = 0, other = 0;
  const struct timeval tv = {0, 500000};
  while (now_s() < end) {
    const int fd = socket(AF_INET, SOCK_STREAM, 0);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
      if (errno == ECONNREFUSED) {
        ++refused;
      } else {
        if (other++ < 3) fprintf(stderr, "client: connect: %s\n", strerror(errno));
      }
      close(fd);
      usleep(1000);
      continue;
    }
    const long long connected = now_ns();
    char buf[4];
    if (write(fd, "x", 1) == 1 && read(fd, buf, sizeof buf) == 2) {
      ++ok;
      close(fd);
    } else {
      ++reset;
      if (log) fprintf(log, "reset %lld\n", connected);
      close(fd);
      usleep(1000);
    }
  }
  if (log) fclose(log);
  printf("ok=%lu refused=%lu reset=%lu other=%lu\n", ok, refused, reset, other);
  return 0;
}
