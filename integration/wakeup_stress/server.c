// wakeup_stress server (issue 14 item 1): the thread shapes of real multi-threaded
// servers on one listener, run under libutcp.so. Every connection is an echo: what
// arrives is written back.
//   - an acceptor thread blocked in accept() (no O_NONBLOCK) hands connections out
//     round robin, memcached-style, through a pipe to
//   - EPOLL_WORKERS threads, each with its OWN epoll instance (its pipe plus its
//     connections, level-triggered), sleeping in epoll_wait(-1);
//   - every 4th connection instead goes to a thread of its own blocked in read();
//   - every 4th + 1 to the single poll thread, sleeping in poll(-1) over its set.
// A readiness change that wakes nobody leaves a request unanswered: the client (on the
// kernel) sees it as a stall and fails.
// Usage: server IP PORT EPOLL_WORKERS
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#define MAX_WORKERS 16
#define MAX_POLLED 256

static void die(const char* what) {
  fprintf(stderr, "server: %s: %s\n", what, strerror(errno));
  exit(2);
}

// Echoes what is readable now; returns 0 when the connection ended.
static int echo_once(int fd) {
  char buf[4096];
  const ssize_t n = read(fd, buf, sizeof buf);
  if (n == 0) return 0;
  if (n < 0) return errno == EAGAIN || errno == EINTR;
  for (ssize_t off = 0; off < n;) {
    const ssize_t w = write(fd, buf + off, (size_t)(n - off));
    if (w < 0) {
      if (errno == EAGAIN || errno == EINTR) continue;  // replies are tiny: never for long
      return 0;
    }
    off += w;
  }
  return 1;
}

struct worker {
  int pipe_rd, pipe_wr;
  int epfd;
};
static struct worker workers[MAX_WORKERS];

static void* epoll_worker(void* arg) {
  struct worker* w = arg;
  struct epoll_event ev = {.events = EPOLLIN, .data.fd = w->pipe_rd};
  if (epoll_ctl(w->epfd, EPOLL_CTL_ADD, w->pipe_rd, &ev) != 0) die("epoll_ctl pipe");
  for (;;) {
    struct epoll_event evs[64];
    const int n = epoll_wait(w->epfd, evs, 64, -1);
    if (n < 0) {
      if (errno == EINTR) continue;
      die("epoll_wait");
    }
    for (int i = 0; i < n; ++i) {
      const int fd = evs[i].data.fd;
      if (fd == w->pipe_rd) {
        int conn;
        if (read(w->pipe_rd, &conn, sizeof conn) != (ssize_t)sizeof conn) die("pipe read");
        struct epoll_event cev = {.events = EPOLLIN, .data.fd = conn};
        if (epoll_ctl(w->epfd, EPOLL_CTL_ADD, conn, &cev) != 0) die("epoll_ctl conn");
      } else if (!echo_once(fd)) {
        epoll_ctl(w->epfd, EPOLL_CTL_DEL, fd, NULL);
        close(fd);
      }
    }
  }
  return NULL;
}

static void* blocking_reader(void* arg) {
  const int fd = (int)(long)arg;
  while (echo_once(fd)) {
  }
  close(fd);
  return NULL;
}

// The poll thread's set: slot 0 is its pipe, the rest its connections.
static int poll_pipe[2];
static void* poll_worker(void* arg) {
  (void)arg;
  struct pollfd fds[MAX_POLLED + 1];
  int n = 1;
  fds[0] = (struct pollfd){.fd = poll_pipe[0], .events = POLLIN};
  for (;;) {
    const int r = poll(fds, (nfds_t)n, -1);
    if (r < 0) {
      if (errno == EINTR) continue;
      die("poll");
    }
    for (int i = n - 1; i >= 1; --i) {
      if (fds[i].revents == 0) continue;
      if (!echo_once(fds[i].fd)) {
        close(fds[i].fd);
        fds[i] = fds[--n];
      }
    }
    if (fds[0].revents & POLLIN) {
      int conn;
      if (read(poll_pipe[0], &conn, sizeof conn) != (ssize_t)sizeof conn) die("pipe read");
      if (n <= MAX_POLLED) {
        fds[n++] = (struct pollfd){.fd = conn, .events = POLLIN};
      } else {
        close(conn);
      }
    }
  }
  return NULL;
}

int main(int argc, char** argv) {
  if (argc != 4) {
    fprintf(stderr, "usage: server IP PORT EPOLL_WORKERS\n");
    return 2;
  }
  const int nworkers = atoi(argv[3]);
  if (nworkers < 1 || nworkers > MAX_WORKERS) return 2;
  const int lfd = socket(AF_INET, SOCK_STREAM, 0);
  if (lfd < 0) die("socket");
  const int one = 1;
  setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(argv[2]))};
  if (inet_pton(AF_INET, argv[1], &a.sin_addr) != 1) return 2;
  if (bind(lfd, (struct sockaddr*)&a, sizeof a) != 0) die("bind");
  if (listen(lfd, 512) != 0) die("listen");

  pthread_t t;
  for (int i = 0; i < nworkers; ++i) {
    int p[2];
    if (pipe(p) != 0) die("pipe");
    workers[i] = (struct worker){.pipe_rd = p[0], .pipe_wr = p[1], .epfd = epoll_create1(0)};
    if (workers[i].epfd < 0) die("epoll_create1");
    if (pthread_create(&t, NULL, epoll_worker, &workers[i]) != 0) die("pthread_create");
  }
  if (pipe(poll_pipe) != 0) die("pipe");
  if (pthread_create(&t, NULL, poll_worker, NULL) != 0) die("pthread_create");
  printf("ready\n");
  fflush(stdout);

  // The acceptor: this thread, blocked in accept().
  for (unsigned long k = 0;; ++k) {
    const int conn = accept(lfd, NULL, NULL);
    if (conn < 0) {
      if (errno == EINTR || errno == ECONNABORTED) continue;
      die("accept");
    }
    setsockopt(conn, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (k % 4 == 0) {
      if (pthread_create(&t, NULL, blocking_reader, (void*)(long)conn) != 0) die("pthread_create");
      pthread_detach(t);
    } else if (k % 4 == 1) {
      if (write(poll_pipe[1], &conn, sizeof conn) != (ssize_t)sizeof conn) die("pipe write");
    } else {
      const struct worker* w = &workers[k % (unsigned long)nworkers];
      if (write(w->pipe_wr, &conn, sizeof conn) != (ssize_t)sizeof conn) die("pipe write");
    }
  }
}
