/* socket(), socketpair(), bind(), listen(). */
#include "common.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* --- socket() and socketpair(). */

static void socket_flags(void) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  res("socket.plain", "%s", fd < 0 ? rcstr(fd) : fdflags(fd));
  if (fd >= 0) close(fd);

  fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
  res("socket.nonblock", "%s", fd < 0 ? rcstr(fd) : fdflags(fd));
  if (fd >= 0) close(fd);

  fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  res("socket.cloexec", "%s", fd < 0 ? rcstr(fd) : fdflags(fd));
  if (fd >= 0) close(fd);

  fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, IPPROTO_TCP);
  res("socket.nonblock_cloexec_tcp", "%s", fd < 0 ? rcstr(fd) : fdflags(fd));
  if (fd >= 0) close(fd);
}

static void socket_errors(void) {
  int fd = socket(12345, SOCK_STREAM, 0);
  res_rc("socket.bad_domain", fd);
  fd = socket(AF_INET, 12345, 0);
  res_rc("socket.bad_type", fd);
  fd = socket(AF_INET, SOCK_STREAM, IPPROTO_UDP);
  res_rc("socket.bad_protocol", fd);
  fd = socket(AF_INET, SOCK_STREAM, 253);
  res_rc("socket.unknown_protocol", fd);
  fd = socket(AF_INET, SOCK_STREAM | 0x40000000, 0);
  res_rc("socket.bad_type_flag", fd);
  fd = socket(AF_INET, SOCK_SEQPACKET, 0);
  res_rc("socket.seqpacket_inet", fd);
  /* A UDP socket must still work next to TCP (a preload library passes it through). */
  fd = socket(AF_INET, SOCK_DGRAM, 0);
  res("socket.udp", "%s", fd < 0 ? rcstr(fd) : "ok");
  if (fd >= 0) close(fd);
}

static void socketpair_checks(void) {
  int sv[2];
  int rc = socketpair(AF_UNIX, SOCK_STREAM, 0, sv);
  res_ok("socketpair.unix", rc);
  if (rc == 0) {
    char buf[8] = {0};
    ssize_t w = write(sv[0], "ping", 4);
    ssize_t r = read(sv[1], buf, sizeof buf);
    res("socketpair.unix_io", "w=%zd r=%zd data=%.4s", w, r, buf);
    close(sv[0]);
    close(sv[1]);
  }
  rc = socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv);
  res("socketpair.unix_flags", "%s", rc < 0 ? rcstr(rc) : fdflags(sv[1]));
  if (rc == 0) {
    close(sv[0]);
    close(sv[1]);
  }
  rc = socketpair(AF_INET, SOCK_STREAM, 0, sv);
  res_rc("socketpair.inet", rc);
}

void checks_socket(void) {
  socket_flags();
  socket_errors();
  socketpair_checks();
}

/* --- bind(). */

static int bind_to(int fd, struct in_addr a, int port) {
  struct sockaddr_in s = sin_of(a, port);
  return bind(fd, (struct sockaddr *)&s, sizeof s);
}

/* Two sockets on one port: the second bind fails while the first listens. */
static void bind_inuse(void) {
  int port = next_port();
  int a = socket(AF_INET, SOCK_STREAM, 0), b = socket(AF_INET, SOCK_STREAM, 0);
  res_ok("bind.local", bind_to(a, g_local, port));
  res("bind.local_name", "port_matches=%s", port_of(a, 0) == port ? "yes" : "no");
  res_rc("bind.twice", bind_to(a, g_local, port + 0));
  res_ok("bind.listen", listen(a, 4));
  res_rc("bind.inuse", bind_to(b, g_local, port));
  close(b);
  /* SO_REUSEADDR on both does not allow a second bind while the first listens. */
  int one = 1;
  b = socket(AF_INET, SOCK_STREAM, 0);
  setsockopt(b, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  res_rc("bind.inuse_reuseaddr", bind_to(b, g_local, port));
  close(b);
  b = socket(AF_INET, SOCK_STREAM, 0);
  struct in_addr any = {htonl(INADDR_ANY)};
  res_rc("bind.inuse_any", bind_to(b, any, port));
  close(b);
  close(a);
  /* The listener is gone and had no connections: the port is free again. */
  b = socket(AF_INET, SOCK_STREAM, 0);
  res_ok("bind.after_close", bind_to(b, g_local, port));
  close(b);
}

/* The classic server restart: a connection we closed first holds the port (TIME_WAIT);
 * SO_REUSEADDR (on old and new socket) allows the rebind, without it EADDRINUSE. */
static void bind_reuseaddr_timewait(void) {
  int port = next_port(), one = 1, id = 0;
  int l = socket(AF_INET, SOCK_STREAM, 0);
  setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (bind_to(l, g_local, port) < 0 || listen(l, 4) < 0) {
    fail("bind.timewait", "listener %s", rcstr(-1));
    close(l);
    return;
  }
  int c = accept_from_peer(l, port, &id);
  if (c < 0) {
    close(l);
    return;
  }
  close(c);
  res("bind.timewait_peer_eof", "%s", ctl("WAITEOF %d", id));
  ctl("CLOSE %d", id);
  close(l);
  int b = socket(AF_INET, SOCK_STREAM, 0);
  res_rc("bind.timewait_no_reuseaddr", bind_to(b, g_local, port));
  close(b);
  b = socket(AF_INET, SOCK_STREAM, 0);
  setsockopt(b, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  res_ok("bind.timewait_reuseaddr", bind_to(b, g_local, port));
  res_ok("bind.timewait_reuseaddr_listen", listen(b, 4));
  close(b);
}

/* SO_REUSEPORT: two listeners on one port, connections are spread between them (which
 * one gets which is a hash: only the total is printed). */
static void bind_reuseport(void) {
  int port = next_port(), one = 1, fds[2];
  for (int i = 0; i < 2; i++) {
    fds[i] = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    setsockopt(fds[i], SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
  }
  res_ok("bind.reuseport_first", bind_to(fds[0], g_local, port));
  res_ok("bind.reuseport_first_listen", listen(fds[0], 8));
  res_ok("bind.reuseport_second", bind_to(fds[1], g_local, port));
  res_ok("bind.reuseport_second_listen", listen(fds[1], 8));
  int plain = socket(AF_INET, SOCK_STREAM, 0);
  res_rc("bind.reuseport_third_without", bind_to(plain, g_local, port));
  close(plain);
  int ok = 0;
  for (int i = 0; i < 4; i++)
    if (strncmp(ctl("CONNECT %d", port), "OK", 2) == 0) ok++;
  /* The peer's connect returns before our side queued the connection: poll both
   * listeners (bounded) until all arrived. */
  int accepted = 0;
  struct pollfd p[2] = {{fds[0], POLLIN, 0}, {fds[1], POLLIN, 0}};
  for (int i = 0; i < 50 && accepted < ok; i++) {
    if (poll(p, 2, 100) <= 0) continue;
    for (int k = 0; k < 2; k++) {
      int c = accept(fds[k], NULL, NULL);
      if (c >= 0) {
        accepted++;
        close(c);
      }
    }
  }
  res("bind.reuseport_spread", "peer_connected=%d accepted_total=%d", ok, accepted);
  close(fds[0]);
  close(fds[1]);
}

static void bind_errors(void) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in s = sin_of(g_local, next_port());
  res_rc("bind.short_addrlen", bind(fd, (struct sockaddr *)&s, sizeof(sa_family_t)));
  s.sin_family = AF_INET6;
  res_rc("bind.bad_family", bind(fd, (struct sockaddr *)&s, sizeof s));
  res_rc("bind.null_addr", bind(fd, NULL, sizeof s));
  res_rc("bind.null_addr_len0", bind(fd, NULL, 0));
  struct in_addr other;
  inet_pton(AF_INET, "198.18.7.99", &other);
  res_rc("bind.nonlocal_addr", bind_to(fd, other, next_port()));
  close(fd);

  /* AF_UNSPEC with INADDR_ANY is accepted as AF_INET for old programs. */
  fd = socket(AF_INET, SOCK_STREAM, 0);
  s = sin_of((struct in_addr){htonl(INADDR_ANY)}, 0);
  s.sin_family = AF_UNSPEC;
  res_rc("bind.unspec_any", bind(fd, (struct sockaddr *)&s, sizeof s));
  close(fd);

  fd = socket(AF_INET, SOCK_STREAM, 0);
  res_ok("bind.any_port0", bind_to(fd, (struct in_addr){htonl(INADDR_ANY)}, 0));
  res("bind.any_port0_name", "port!=0: %s", port_of(fd, 0) > 0 ? "yes" : "no");
  close(fd);

  int p[2];
  if (pipe(p) == 0) {
    res_rc("bind.notsock", bind_to(p[0], g_local, next_port()));
    close(p[0]);
    close(p[1]);
  }
  fd = socket(AF_INET, SOCK_STREAM, 0);
  close(fd);
  res_rc("bind.closed_fd", bind_to(fd, g_local, next_port()));
  res_rc("bind.negative_fd", bind_to(-1, g_local, next_port()));

  fd = connect_peer(PORT_ECHO);
  if (fd >= 0) {
    res_rc("bind.connected", bind_to(fd, g_local, next_port()));
    close(fd);
  }
}

/* --- listen(). */

static void listen_checks(void) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  res_ok("listen.unbound", listen(fd, 4));
  struct sockaddr_in a;
  socklen_t len = sizeof a;
  getsockname(fd, (struct sockaddr *)&a, &len);
  res("listen.unbound_autobind", "addr=%s port!=0: %s", ipname(a.sin_addr),
      ntohs(a.sin_port) ? "yes" : "no");
  res_ok("listen.twice", listen(fd, 8));
  close(fd);

  /* Backlog 0 still admits one connection. */
  int port = next_port();
  fd = socket(AF_INET, SOCK_STREAM, 0);
  bind_to(fd, g_local, port);
  res_ok("listen.backlog0", listen(fd, 0));
  int c = accept_from_peer(fd, port, NULL);
  res("listen.backlog0_accept", "%s", c >= 0 ? "ok" : "failed");
  if (c >= 0) close(c);
  close(fd);

  fd = socket(AF_INET, SOCK_STREAM, 0);
  bind_to(fd, g_local, next_port());
  res_ok("listen.backlog_negative", listen(fd, -1));
  close(fd);
  fd = socket(AF_INET, SOCK_STREAM, 0);
  bind_to(fd, g_local, next_port());
  res_ok("listen.backlog_huge", listen(fd, 1 << 30));
  close(fd);

  fd = connect_peer(PORT_ECHO);
  if (fd >= 0) {
    res_rc("listen.connected", listen(fd, 4));
    close(fd);
  }
  fd = socket(AF_INET, SOCK_DGRAM, 0);
  res_rc("listen.udp", listen(fd, 4));
  close(fd);
  int p[2];
  if (pipe(p) == 0) {
    res_rc("listen.notsock", listen(p[0], 4));
    close(p[0]);
    close(p[1]);
  }
  res_rc("listen.negative_fd", listen(-1, 4));
  /* A listener closed with a connection still in its queue resets that connection. */
  port = next_port();
  fd = listen_local(port);
  if (fd >= 0) {
    const char *r = ctl("CONNECT %d", port);
    int id = strncmp(r, "OK ", 3) == 0 ? atoi(r + 3) : -1;
    wait_ev(fd, POLLIN, WAIT_MS);
    close(fd);
    res("listen.close_with_queued", "peer: %s", id < 0 ? r : ctl("WAITEOF %d", id));
    if (id >= 0) ctl("CLOSE %d", id);
    res("listen.closed_refuses", "peer: %s", ctl("CONNECT %d", port));
  }
}

void checks_bind_listen(void) {
  bind_inuse();
  bind_reuseaddr_timewait();
  bind_reuseport();
  bind_errors();
  listen_checks();
}
