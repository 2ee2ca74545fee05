/* relisten server (issue 14 item 5), iperf3's pattern: a listener per test. For SECONDS:
 * socket, SO_REUSEADDR, bind, listen; accept one connection, read its request, answer
 * "ok", close it; close the listener; again. Prints "tests=N". A connect that arrives
 * while no listener exists is refused, on any stack: what matters is that utcp's window
 * is no wider than the kernel's (its close of a listener takes effect before close()
 * returns, as the kernel's does). With LOG, it writes "listen NS" after each listen()
 * and "closed NS" after each close() of a listener returned (CLOCK_MONOTONIC, shared
 * with the client on this machine), for relisten_windows.py.
 * HOW says how the listener goes: close (default), close_range (close_range(l, l, 0), as
 * closefrom does), or dup2 (/dev/null dup2'ed over it, then closed).
 * Usage: server IP PORT SECONDS [LOG [HOW]] */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
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
  if (argc < 4 || argc > 6) {
    fprintf(stderr, "usage: server IP PORT SECONDS [LOG [HOW]]\n");
    return 2;
  }
  FILE *log = argc >= 5 ? fopen(argv[4], "w") : NULL;
  const char *how = argc == 6 ? argv[5] : "close";
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(argv[2]))};
  if (inet_pton(AF_INET, argv[1], &a.sin_addr) != 1) return 2;
  const double end = now_s() + atof(argv[3]);
  unsigned long tests = 0, bind_retries = 0;
  printf("ready\n");
  fflush(stdout);
  while (now_s() < end) {
    const int l = socket(AF_INET, SOCK_STREAM, 0);
    const int one = 1;
    setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    while (bind(l, (struct sockaddr *)&a, sizeof a) != 0) {
      if (errno != EADDRINUSE || now_s() >= end) {
        perror("bind");
        return 1;
      }
      ++bind_retries;  /* the kernel's answer too, had the old one not gone yet */
      usleep(1000);
    }
    if (listen(l, 16) != 0) {
      perror("listen");
      return 1;
    }
    if (log) fprintf(log, "listen %lld\n", now_ns());
    const int c = accept(l, NULL, NULL);
    if (c >= 0) {
      char buf[16];
      if (read(c, buf, sizeof buf) > 0 && write(c, "ok", 2) == 2) ++tests;
      close(c);
    }
    if (strcmp(how, "close_range") == 0) {
      close_range((unsigned)l, (unsigned)l, 0);  /* glibc's, which libutcp.so interposes */
    } else if (strcmp(how, "dup2") == 0) {
      const int nul = open("/dev/null", O_RDONLY);
      dup2(nul, l);
      close(l);
      close(nul);
    } else {
      close(l);
    }
    if (log) fprintf(log, "closed %lld\n", now_ns());
  }
  if (log) fclose(log);
  printf("tests=%lu bind_retries=%lu\n", tests, bind_retries);
  return 0;
}
