/* accept()/accept4(), connect(), getsockname()/getpeername(). */
#include "common.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>

/* --- accept. */

static void accept_empty(void) {
  int port = next_port();
  int l = listen_local(port);
  if (l < 0) return;
  fcntl(l, F_SETFL, O_NONBLOCK);
  res_rc("accept.nonblock_empty", accept(l, NULL, NULL));
  fcntl(l, F_SETFL, 0);
  /* SO_RCVTIMEO bounds a blocking accept too. */
  struct timeval tv = {0, 100000};
  setsockopt(l, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  res_rc("accept.rcvtimeo_empty", accept(l, NULL, NULL));
  res_rc("accept4.bad_flags", accept4(l, NULL, NULL, 0x1234));
  close(l);

  int s = socket(AF_INET, SOCK_STREAM, 0);
  res_rc("accept.unbound", accept(s, NULL, NULL));
  struct sockaddr_in a = sin_of(g_local, next_port());
  bind(s, (struct sockaddr *)&a, sizeof a);
  res_rc("accept.not_listening", accept(s, NULL, NULL));
  close(s);
  int p[2];
  if (pipe(p) == 0) {
    res_rc("accept.notsock", accept(p[0], NULL, NULL));
    close(p[0]);
    close(p[1]);
  }
  res_rc("accept.negative_fd", accept(-1, NULL, NULL));
  s = connect_peer(PORT_ECHO);
  if (s >= 0) {
    res_rc("accept.connected", accept(s, NULL, NULL));
    close(s);
  }
}

/* Connections from the peer: flags, addresses, the address-length contract. */
static void accept_incoming(void) {
  int port = next_port(), id;
  int l = listen_local(port);
  if (l < 0) return;
  /* A non-blocking listener does not make accepted sockets non-blocking. */
  fcntl(l, F_SETFL, O_NONBLOCK);
  const char *r = ctl("CONNECT %d", port);
  res("accept.peer_connect", "%.2s", r);
  id = atoi(r + 3);
  res("accept.listener_readable", "%s", pollstr(wait_ev(l, POLLIN | POLLOUT, WAIT_MS)));
  struct sockaddr_in a;
  memset(&a, 0, sizeof a);
  socklen_t len = sizeof a;
  int c = accept(l, (struct sockaddr *)&a, &len);
  res("accept.ok", "%s", c < 0 ? rcstr(c) : "ok");
  if (c < 0) {
    close(l);
    return;
  }
  res("accept.peer_addr", "len=%u family=%s addr=%s port!=0: %s", (unsigned)len,
      a.sin_family == AF_INET ? "AF_INET" : "other", ipname(a.sin_addr),
      a.sin_port ? "yes" : "no");
  res("accept.flags_not_inherited", "%s", fdflags(c));
  close(c);
  ctl("CLOSE %d", id);

  /* accept4 flags. */
  ctl("CONNECT %d", port);
  wait_ev(l, POLLIN, WAIT_MS);
  c = accept4(l, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
  res("accept4.nonblock_cloexec", "%s", c < 0 ? rcstr(c) : fdflags(c));
  if (c >= 0) close(c);

  /* A short address buffer: the kernel copies what fits and returns the full length. */
  ctl("CONNECT %d", port);
  wait_ev(l, POLLIN, WAIT_MS);
  unsigned char buf[16];
  memset(buf, 0xEE, sizeof buf);
  len = 4;
  c = accept(l, (struct sockaddr *)buf, &len);
  int rest_untouched = 1;
  for (int i = 4; i < 16; i++) rest_untouched &= buf[i] == 0xEE;
  res("accept.short_addrlen", "%s len=%u family_ok=%s rest_untouched=%s",
      c < 0 ? rcstr(c) : "ok", (unsigned)len,
      ((struct sockaddr *)buf)->sa_family == AF_INET ? "yes" : "no", rest_untouched ? "yes" : "no");
  if (c >= 0) close(c);

  /* NULL address with a length pointer: the length is ignored. */
  ctl("CONNECT %d", port);
  wait_ev(l, POLLIN, WAIT_MS);
  len = 77;
  c = accept(l, NULL, &len);
  res("accept.null_addr_with_len", "%s len=%u", c < 0 ? rcstr(c) : "ok", (unsigned)len);
  if (c >= 0) close(c);

  ctl("CONNECT %d", port);
  wait_ev(l, POLLIN, WAIT_MS);
  int bad = -1;
  c = accept(l, (struct sockaddr *)&a, (socklen_t *)&bad);
  res_rc("accept.negative_addrlen", c < 0 ? -1 : 0);
  if (c >= 0) close(c);
  /* Linux dequeues the connection before it fails on the address length: the
   * connection is lost (the peer sees it closed), not left in the queue. */
  c = accept(l, NULL, NULL);
  res_rc("accept.after_negative_addrlen", c < 0 ? -1 : 0);
  if (c >= 0) close(c);
  ctl("CONNECT %d", port);
  wait_ev(l, POLLIN, WAIT_MS);
  c = accept(l, (struct sockaddr *)&a, NULL);
  res_rc("accept.null_addrlen", c < 0 ? -1 : 0);
  if (c >= 0) close(c);
  /* The queued connection is still there after those errors? */
  c = accept(l, NULL, NULL);
  res("accept.after_errors", "%s", c < 0 ? rcstr(c) : "ok");
  if (c >= 0) close(c);
  close(l);
}

/* Data both ways on an accepted connection, and its addresses. */
static void accept_data(void) {
  int port = next_port(), id = 0;
  int l = listen_local(port);
  if (l < 0) return;
  int c = accept_from_peer(l, port, &id);
  if (c < 0) {
    close(l);
    return;
  }
  struct sockaddr_in a;
  socklen_t len = sizeof a;
  getsockname(c, (struct sockaddr *)&a, &len);
  res("accept.conn_sockname", "addr=%s port_is_listener=%s", ipname(a.sin_addr),
      ntohs(a.sin_port) == port ? "yes" : "no");
  len = sizeof a;
  getpeername(c, (struct sockaddr *)&a, &len);
  res("accept.conn_peername", "addr=%s", ipname(a.sin_addr));
  ctl("SEND %d hello from peer", id);
  read_check("accept.conn_read", c, 15);
  send(c, "hello peer", 10, 0);
  res("accept.conn_peer_recv", "%s", ctl("RECV %d 10", id));
  close(c);
  res("accept.conn_peer_eof", "%s", ctl("WAITEOF %d", id));
  ctl("CLOSE %d", id);
  close(l);
}

/* --- connect. */

static int connect_to(int fd, int port) {
  struct sockaddr_in a = sin_of(g_peer, port);
  return connect(fd, (struct sockaddr *)&a, sizeof a);
}

static void connect_blocking(void) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  res_ok("connect.blocking", connect_to(fd, PORT_ECHO));
  struct sockaddr_in a;
  socklen_t len = sizeof a;
  int rc = getpeername(fd, (struct sockaddr *)&a, &len);
  res("getpeername.connected", "%s len=%u addr=%s port=%d", rc < 0 ? rcstr(rc) : "ok",
      (unsigned)len, ipname(a.sin_addr), ntohs(a.sin_port));
  len = sizeof a;
  rc = getsockname(fd, (struct sockaddr *)&a, &len);
  res("getsockname.connected", "%s len=%u addr=%s port!=0: %s", rc < 0 ? rcstr(rc) : "ok",
      (unsigned)len, ipname(a.sin_addr), a.sin_port ? "yes" : "no");
  echo_check("connect.blocking_echo", fd, "hello");
  res_rc("connect.again_connected", connect_to(fd, PORT_ECHO));
  res_rc("connect.again_other_port", connect_to(fd, PORT_SINK));
  close(fd);
}

static void connect_nonblocking(void) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
  res_rc("connect.nonblock", connect_to(fd, PORT_ECHO));
  res("connect.nonblock_poll", "%s", pollstr(wait_ev(fd, POLLOUT, WAIT_MS)));
  int e = sockopt_int(fd, SOL_SOCKET, SO_ERROR);
  res("connect.nonblock_so_error", "%s", e == 0 ? "0" : errname(e));
  /* Linux: the first connect after completion returns 0, later ones EISCONN. */
  res_rc("connect.nonblock_second", connect_to(fd, PORT_ECHO));
  res_rc("connect.nonblock_third", connect_to(fd, PORT_ECHO));
  res("connect.nonblock_peername", "port=%d", port_of(fd, 1));
  echo_check("connect.nonblock_echo", fd, "nb");
  close(fd);
}

static void connect_refused(void) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  res_rc("connect.refused", connect_to(fd, PORT_CLOSED));
  res("connect.refused_so_error", "%d", sockopt_int(fd, SOL_SOCKET, SO_ERROR));
  res_rc("connect.refused_getpeername", port_of(fd, 1));
  res_rc("connect.refused_retry", connect_to(fd, PORT_CLOSED));
  close(fd);

  fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
  res_rc("connect.refused_nonblock", connect_to(fd, PORT_CLOSED));
  res("connect.refused_nonblock_poll", "%s", pollstr(wait_ev(fd, POLLIN | POLLOUT, WAIT_MS)));
  int e = sockopt_int(fd, SOL_SOCKET, SO_ERROR);
  res("connect.refused_nonblock_so_error", "%s", e == 0 ? "0" : errname(e));
  e = sockopt_int(fd, SOL_SOCKET, SO_ERROR);
  res("connect.refused_nonblock_so_error_again", "%s", e == 0 ? "0" : errname(e));
  close(fd);

  fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
  connect_to(fd, PORT_CLOSED);
  wait_ev(fd, POLLOUT, WAIT_MS);
  /* Without SO_ERROR first, the next connect reports the pending error. */
  res_rc("connect.refused_nonblock_reconnect", connect_to(fd, PORT_CLOSED));
  close(fd);
}

/* A SYN that is never answered (dropped in the peer namespace): the connect stays pending. */
static void connect_pending(void) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
  res_rc("connect.pending", connect_to(fd, PORT_BLACKHOLE));
  res_rc("connect.pending_again", connect_to(fd, PORT_BLACKHOLE));
  res("connect.pending_poll_100ms", "%s", pollstr(wait_ev(fd, POLLIN | POLLOUT, 100)));
  res("connect.pending_so_error", "%d", sockopt_int(fd, SOL_SOCKET, SO_ERROR));
  res_rc("connect.pending_getpeername", port_of(fd, 1));
  res_rc("connect.pending_other_port", connect_to(fd, PORT_ECHO));
  close(fd);

  /* SO_SNDTIMEO bounds a blocking connect; Linux then reports EINPROGRESS. */
  fd = socket(AF_INET, SOCK_STREAM, 0);
  struct timeval tv = {0, 200000};
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  res_rc("connect.sndtimeo_pending", connect_to(fd, PORT_BLACKHOLE));
  res_rc("connect.sndtimeo_pending_again", connect_to(fd, PORT_BLACKHOLE));
  close(fd);
}

static void connect_errors(void) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a = sin_of(g_peer, PORT_ECHO);
  a.sin_family = AF_INET6;
  res_rc("connect.bad_family", connect(fd, (struct sockaddr *)&a, sizeof a));
  a.sin_family = AF_INET;
  res_rc("connect.short_addrlen", connect(fd, (struct sockaddr *)&a, 8));
  res_rc("connect.null_addr", connect(fd, NULL, sizeof a));
  close(fd);

  int port = next_port();
  int l = listen_local(port);
  if (l >= 0) {
    res_rc("connect.on_listener", connect_to(l, PORT_ECHO));
    close(l);
  }
  int p[2];
  if (pipe(p) == 0) {
    res_rc("connect.notsock", connect_to(p[0], PORT_ECHO));
    close(p[0]);
    close(p[1]);
  }
  res_rc("connect.negative_fd", connect_to(-1, PORT_ECHO));

  /* connect(AF_UNSPEC) dissolves the association (the peer sees a reset). */
  fd = connect_peer(PORT_ECHO);
  if (fd >= 0) {
    struct sockaddr u = {.sa_family = AF_UNSPEC};
    res_rc("connect.unspec_disconnect", connect(fd, &u, sizeof u));
    res_rc("connect.unspec_getpeername", port_of(fd, 1));
    res_ok("connect.unspec_reconnect", connect_to(fd, PORT_ECHO));
    echo_check("connect.unspec_reconnect_echo", fd, "again");
    close(fd);
  }
  /* An explicit bind before connect keeps the bound port. */
  fd = socket(AF_INET, SOCK_STREAM, 0);
  port = next_port();
  a = sin_of(g_local, port);
  bind(fd, (struct sockaddr *)&a, sizeof a);
  res_ok("connect.after_bind", connect_to(fd, PORT_ECHO));
  res("connect.after_bind_port", "kept=%s", port_of(fd, 0) == port ? "yes" : "no");
  close(fd);
}

/* --- getsockname/getpeername edge cases. */

static void name_checks(void) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a;
  memset(&a, 0xEE, sizeof a);
  socklen_t len = sizeof a;
  int rc = getsockname(fd, (struct sockaddr *)&a, &len);
  res("getsockname.unbound", "%s len=%u addr=%s port=%d", rc < 0 ? rcstr(rc) : "ok",
      (unsigned)len, ipname(a.sin_addr), ntohs(a.sin_port));
  len = sizeof a;
  res_rc("getpeername.unconnected", getpeername(fd, (struct sockaddr *)&a, &len));
  int bad = -1;
  res_rc("getsockname.negative_len", getsockname(fd, (struct sockaddr *)&a, (socklen_t *)&bad));
  len = 0;
  rc = getsockname(fd, (struct sockaddr *)&a, &len);
  res("getsockname.zero_len", "%s len=%u", rcstr(rc), (unsigned)len);
  len = sizeof a;
  res_rc("getsockname.null_addr", getsockname(fd, NULL, &len));
  res_rc("getsockname.null_len", getsockname(fd, (struct sockaddr *)&a, NULL));
  len = 64; /* a larger buffer: the returned length is the real one */
  char big[64];
  rc = getsockname(fd, (struct sockaddr *)big, &len);
  res("getsockname.big_buffer", "%s len=%u", rcstr(rc), (unsigned)len);
  close(fd);

  int l = listen_local(next_port());
  if (l >= 0) {
    len = sizeof a;
    res_rc("getpeername.listener", getpeername(l, (struct sockaddr *)&a, &len));
    close(l);
  }
  int p[2];
  if (pipe(p) == 0) {
    len = sizeof a;
    res_rc("getsockname.notsock", getsockname(p[0], (struct sockaddr *)&a, &len));
    close(p[0]);
    close(p[1]);
  }
}

/* Threads of one process connecting, echoing and closing at once: under libutcp.so their
 * commands share one channel to the engine, and one thread's round trip (a connect
 * waiting for its reply) must neither hold up nor take another thread's reply. */
enum { THREADS = 4, THREAD_ROUNDS = 50 };

static void *connect_rounds(void *arg) {
  int *ok = arg;
  for (int i = 0; i < THREAD_ROUNDS; ++i) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) continue;
    char out[16], in[16];
    snprintf(out, sizeof out, "t%p-%03d", (void *)ok, i);
    int eof = 0, err = 0;
    if (connect_to(fd, PORT_ECHO) == 0 && write_all(fd, out, sizeof out) == sizeof out &&
        read_n(fd, in, sizeof in, &eof, &err) == sizeof in && memcmp(in, out, sizeof in) == 0) {
      ++*ok;
    }
    close(fd);
  }
  return NULL;
}

static void connect_threads(void) {
  pthread_t t[THREADS];
  int ok[THREADS] = {0};
  int started = 0;
  for (int i = 0; i < THREADS; ++i) {
    if (pthread_create(&t[i], NULL, connect_rounds, &ok[i]) == 0) ++started;
  }
  int total = 0;
  for (int i = 0; i < started; ++i) {
    pthread_join(t[i], NULL);
    total += ok[i];
  }
  res("connect.threads_echo", "threads=%d rounds=%d echoed=%d", started, THREAD_ROUNDS, total);
  if (started != THREADS || total != THREADS * THREAD_ROUNDS) {
    fail("connect.threads_echo", "%d of %d connections echoed", total, THREADS * THREAD_ROUNDS);
  }
}

void checks_accept_connect(void) {
  accept_empty();
  accept_incoming();
  accept_data();
  connect_blocking();
  connect_nonblocking();
  connect_refused();
  connect_pending();
  connect_errors();
  name_checks();
  connect_threads();
}
