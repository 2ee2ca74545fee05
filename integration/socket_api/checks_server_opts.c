/* Options and flags real servers use (nginx, sshd, haproxy, redis), on sockets bound to
 * LOCAL, so that under libutcp.so they are utcp's sockets and not still kernel ones:
 * IP_TOS/IP_TTL, SO_PRIORITY, SO_BINDTODEVICE, IP_BIND_ADDRESS_NO_PORT, TCP_USER_TIMEOUT,
 * TCP_QUICKACK, TCP_DEFER_ACCEPT, TCP_NOTSENT_LOWAT, SO_RCVLOWAT, TCP_CONGESTION,
 * TCP_MAXSEG; then what some of them do: the MSS in use, SO_RCVLOWAT readiness and
 * reads, MSG_MORE's 200 ms ceiling, TCP_DEFER_ACCEPT holding a connection back,
 * TCP_USER_TIMEOUT ending a SYN-SENT connect, MSG_EOR accepted. */
#include "common.h"

#include <net/if.h>
#include <netinet/ip.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <linux/capability.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static int bound_socket(void) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a = sin_of(g_local, next_port());
  if (fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof a) != 0) fail("server_opts", "bind %s", rcstr(-1));
  return fd;
}

/* SO_PRIORITY above 6 needs CAP_NET_ADMIN: a child without capabilities tries 7 and 6. */
static void priority_unprivileged(int fd) {
  fflush(stdout);
  pid_t pid = fork();
  if (pid == 0) {
    struct __user_cap_header_struct h = {_LINUX_CAPABILITY_VERSION_3, 0};
    struct __user_cap_data_struct d[2];
    memset(d, 0, sizeof d);
    if (syscall(SYS_capset, &h, d) != 0) _exit(3);
    int rc7 = set_int(fd, SOL_SOCKET, SO_PRIORITY, 7);
    const char *r7 = rc7 == 0 ? "ok" : rcstr(rc7);
    int rc6 = set_int(fd, SOL_SOCKET, SO_PRIORITY, 6);
    res("srvopt.so_priority_unprivileged", "seven=%s six=%s get=%d", r7, rc6 == 0 ? "ok" : rcstr(rc6),
        sockopt_int(fd, SOL_SOCKET, SO_PRIORITY));
    _exit(0);
  }
  int status = 0;
  if (pid < 0 || waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
    fail("srvopt.so_priority_unprivileged", "child status %d", status);
  g_checks++; /* the child's line */
}

/* TCP_CONGESTION: "set=rc get=NAME len=L" (Linux answers the 16-byte name, truncated). */
static void congestion(const char *name, int fd, const char *set, socklen_t getlen) {
  int rc = setsockopt(fd, IPPROTO_TCP, TCP_CONGESTION, set, (socklen_t)strlen(set));
  const char *rs = rc == 0 ? "ok" : rcstr(rc); /* before getsockopt may touch errno */
  char got[32];
  memset(got, 'x', sizeof got);
  socklen_t len = getlen;
  int g = getsockopt(fd, IPPROTO_TCP, TCP_CONGESTION, got, &len);
  res(name, "set=%s get=%s %.*s len=%u", rs, g == 0 ? "ok" : rcstr(g),
      (int)strnlen(got, len), got, (unsigned)len);
}

static void ip_level(void) {
  int fd = bound_socket();
  int_opt("srvopt.ip_tos", fd, IPPROTO_IP, IP_TOS, 0x13); /* TCP clears the ECN bits */
  int_opt("srvopt.ip_ttl", fd, IPPROTO_IP, IP_TTL, 32);
  res_rc("srvopt.ip_ttl_zero", set_int(fd, IPPROTO_IP, IP_TTL, 0));
  res_rc("srvopt.ip_ttl_256", set_int(fd, IPPROTO_IP, IP_TTL, 256));
  res_ok("srvopt.ip_ttl_reset", set_int(fd, IPPROTO_IP, IP_TTL, -1));
  res("srvopt.ip_ttl_after_reset", "%d", sockopt_int(fd, IPPROTO_IP, IP_TTL));
  unsigned char b = 0x28, got = 0;
  int rc = setsockopt(fd, IPPROTO_IP, IP_TOS, &b, 1);
  socklen_t len = 1;
  int g = getsockopt(fd, IPPROTO_IP, IP_TOS, &got, &len);
  res("srvopt.ip_tos_byte", "set=%s get=%s len=%u val=0x%x", rcstr(rc), rcstr(g), (unsigned)len, got);
  int_opt("srvopt.ip_bind_address_no_port", fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, 1);
  int_opt("srvopt.so_priority", fd, SOL_SOCKET, SO_PRIORITY, 6);
  priority_unprivileged(fd);
  close(fd);
  /* IP_TOS also sets SO_PRIORITY (rt_tos2priority), also when set before the bind. */
  fd = socket(AF_INET, SOCK_STREAM, 0);
  set_int(fd, IPPROTO_IP, IP_TOS, 0x10);
  struct sockaddr_in a = sin_of(g_local, next_port());
  bind(fd, (struct sockaddr *)&a, sizeof a);
  res("srvopt.so_priority_from_tos", "%d", sockopt_int(fd, SOL_SOCKET, SO_PRIORITY));
  res("srvopt.ip_tos_before_bind", "0x%x", sockopt_int(fd, IPPROTO_IP, IP_TOS));
  char dev[IFNAMSIZ];
  memset(dev, 'x', sizeof dev);
  len = sizeof dev;
  rc = getsockopt(fd, SOL_SOCKET, SO_BINDTODEVICE, dev, &len);
  res("srvopt.so_bindtodevice", "%s len=%u", rcstr(rc), (unsigned)len);
  close(fd);
}

static void tcp_level(void) {
  int fd = bound_socket();
  int_opt("srvopt.tcp_user_timeout", fd, IPPROTO_TCP, TCP_USER_TIMEOUT, 1500);
  res_rc("srvopt.tcp_user_timeout_negative", set_int(fd, IPPROTO_TCP, TCP_USER_TIMEOUT, -1));
  int_opt("srvopt.tcp_quickack", fd, IPPROTO_TCP, TCP_QUICKACK, 0);
  int_opt("srvopt.tcp_defer_accept", fd, IPPROTO_TCP, TCP_DEFER_ACCEPT, 5);
  int_opt("srvopt.tcp_defer_accept_30", fd, IPPROTO_TCP, TCP_DEFER_ACCEPT, 30);
  int_opt("srvopt.tcp_defer_accept_negative", fd, IPPROTO_TCP, TCP_DEFER_ACCEPT, -3);
  int_opt("srvopt.tcp_notsent_lowat", fd, IPPROTO_TCP, TCP_NOTSENT_LOWAT, 16384);
  int_opt("srvopt.so_rcvlowat", fd, SOL_SOCKET, SO_RCVLOWAT, 100);
  int_opt("srvopt.so_rcvlowat_zero", fd, SOL_SOCKET, SO_RCVLOWAT, 0);
  set_int(fd, SOL_SOCKET, SO_RCVLOWAT, -1); /* INT_MAX, capped at half tcp_rmem[2] */
  res("srvopt.so_rcvlowat_negative", "%s",
      sockopt_int(fd, SOL_SOCKET, SO_RCVLOWAT) >= 1048576 ? ">=1MiB" : "<1MiB");
  int_opt("srvopt.tcp_maxseg", fd, IPPROTO_TCP, TCP_MAXSEG, 1000);
  /* SO_RCVBUF/SO_SNDBUF: twice the request, at least the kernel's minimum. */
  set_int(fd, SOL_SOCKET, SO_RCVBUF, 1);
  set_int(fd, SOL_SOCKET, SO_SNDBUF, 1);
  res("srvopt.bufs_tiny", "rcv=%d snd=%d", sockopt_int(fd, SOL_SOCKET, SO_RCVBUF),
      sockopt_int(fd, SOL_SOCKET, SO_SNDBUF));
  set_int(fd, SOL_SOCKET, SO_RCVBUF, 50000);
  set_int(fd, SOL_SOCKET, SO_SNDBUF, 70000);
  res("srvopt.bufs_set", "rcv=%d snd=%d", sockopt_int(fd, SOL_SOCKET, SO_RCVBUF),
      sockopt_int(fd, SOL_SOCKET, SO_SNDBUF));
  congestion("srvopt.tcp_congestion_reno", fd, "reno", 32);
  congestion("srvopt.tcp_congestion_unknown", fd, "nosuchcc", 32);
  congestion("srvopt.tcp_congestion_cubic_short", fd, "cubic", 3);
  close(fd);
}

/* The MSS in use after connect, and after a TCP_MAXSEG clamp before it. */
static void maxseg(void) {
  int fd = connect_peer(PORT_ECHO);
  if (fd < 0) return;
  res("srvopt.tcp_maxseg_connected", "%d", sockopt_int(fd, IPPROTO_TCP, TCP_MAXSEG));
  res_ok("srvopt.ip_tos_connected_set", set_int(fd, IPPROTO_IP, IP_TOS, 0x20));
  res("srvopt.ip_tos_connected_get", "0x%x", sockopt_int(fd, IPPROTO_IP, IP_TOS));
  congestion("srvopt.tcp_congestion_connected", fd, "reno", 16);
  res_ok("srvopt.tcp_quickack_connected", set_int(fd, IPPROTO_TCP, TCP_QUICKACK, 1));
  res("srvopt.tcp_quickack_connected_get", "%d", sockopt_int(fd, IPPROTO_TCP, TCP_QUICKACK));
  echo_check("srvopt.echo_after_options", fd, "still works");
  close(fd);

  fd = bound_socket();
  set_int(fd, IPPROTO_TCP, TCP_MAXSEG, 1000);
  struct sockaddr_in a = sin_of(g_peer, PORT_ECHO);
  int rc = connect(fd, (struct sockaddr *)&a, sizeof a);
  res("srvopt.tcp_maxseg_clamped", "%s mss=%d", rcstr(rc), sockopt_int(fd, IPPROTO_TCP, TCP_MAXSEG));
  static char big[3000];
  pattern(big, sizeof big, 0);
  write_all(fd, big, sizeof big);
  int eof, err;
  res("srvopt.tcp_maxseg_clamped_echo", "n=%zd", read_n(fd, big, sizeof big, &eof, &err));
  close(fd);
}

/* SO_RCVLOWAT: not readable below it; a blocking read waits for it (or its timeout). */
static void rcvlowat(void) {
  int fd = connect_peer(PORT_ECHO);
  if (fd < 0) return;
  char buf[64];
  set_int(fd, SOL_SOCKET, SO_RCVLOWAT, 6);
  send(fd, "abc", 3, 0);
  wait_inq(fd, 3);
  res("srvopt.rcvlowat_below", "%s", pollstr(wait_ev(fd, POLLIN, 100)));
  send(fd, "defgh", 5, 0);
  wait_inq(fd, 8);
  res("srvopt.rcvlowat_reached", "%s", pollstr(wait_ev(fd, POLLIN, 0)));
  ssize_t r = recv(fd, buf, sizeof buf, 0);
  res("srvopt.rcvlowat_read", "n=%zd data=%.*s", r, (int)(r > 0 ? r : 0), buf);

  set_int(fd, SOL_SOCKET, SO_RCVLOWAT, 10);
  struct timeval tv = {0, 300000};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  send(fd, "12345", 5, 0);
  long t0 = now_ms();
  r = recv(fd, buf, sizeof buf, 0);
  res("srvopt.rcvlowat_blocking_read", "n=%zd at_least_250ms=%s", r, now_ms() - t0 >= 250 ? "yes" : "no");
  close(fd);
}

/* MSG_MORE holds a partial segment for Linux's 200 ms ceiling, not for ever; MSG_EOR is
 * accepted. */
static void more_and_eor(void) {
  int fd = connect_peer(PORT_ECHO);
  if (fd < 0) return;
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  long t0 = now_ms();
  send(fd, "mo", 2, MSG_MORE);
  int held = !(wait_ev(fd, POLLIN, 80) & POLLIN);
  int came = (wait_ev(fd, POLLIN, 2000) & POLLIN) != 0;
  long waited = now_ms() - t0;
  res("srvopt.msg_more_ceiling", "held_80ms=%s arrived=%s within_1s=%s", held ? "yes" : "no",
      came ? "yes" : "no", waited < 1000 ? "yes" : "no");
  read_check("srvopt.msg_more_data", fd, 2);
  res_rc("srvopt.msg_eor", send(fd, "rec1", 4, MSG_EOR));
  res_rc("srvopt.msg_eor_second", send(fd, "rec2", 4, MSG_EOR));
  wait_inq(fd, 8);
  read_check("srvopt.msg_eor_echo", fd, 8);
  close(fd);
}

/* TCP_NOTSENT_LOWAT: writable only while the unsent bytes stay under it (poll: twice
 * them). Corked bytes are unsent until the 200 ms ceiling sends them. */
static void notsent_lowat(void) {
  int fd = connect_peer(PORT_ECHO);
  if (fd < 0) return;
  set_int(fd, IPPROTO_TCP, TCP_NOTSENT_LOWAT, 1);
  set_int(fd, IPPROTO_TCP, TCP_CORK, 1);
  res("srvopt.notsent_lowat_idle", "%s", pollstr(wait_ev(fd, POLLOUT, 0)));
  send(fd, "abc", 3, 0);
  res("srvopt.notsent_lowat_held", "%s", pollstr(wait_ev(fd, POLLOUT, 0)));
  res("srvopt.notsent_lowat_sent", "%s", pollstr(wait_ev(fd, POLLOUT, 2000)));
  read_check("srvopt.notsent_lowat_echo", fd, 3);
  close(fd);
}

/* TCP_DEFER_ACCEPT: a connection without data waits off the accept queue. */
static void defer_accept(void) {
  int port = next_port();
  int l = listen_local(port);
  if (l < 0) return;
  set_int(l, IPPROTO_TCP, TCP_DEFER_ACCEPT, 3);
  const char *r = ctl("CONNECT %d", port);
  int id = strncmp(r, "OK ", 3) == 0 ? atoi(r + 3) : -1;
  res("srvopt.defer_connect", "%s", id >= 0 ? "OK" : r);
  res("srvopt.defer_no_data", "%s", pollstr(wait_ev(l, POLLIN, 300)));
  ctl("SEND %d hello", id);
  res("srvopt.defer_data", "%s", pollstr(wait_ev(l, POLLIN, WAIT_MS)));
  int fd = accept(l, NULL, NULL);
  if (fd >= 0) {
    wait_inq(fd, 5);
    read_check("srvopt.defer_accepted_read", fd, 5);
    close(fd);
  }
  /* Silent for longer than the defer time: handed over anyway (Linux: after its last
   * SYN-ACK retransmission is answered). 1 s rounds to one retransmission: 1 s. */
  set_int(l, IPPROTO_TCP, TCP_DEFER_ACCEPT, 1);
  ctl("CONNECT %d", port);
  long t0 = now_ms();
  int ev = wait_ev(l, POLLIN, WAIT_MS);
  long waited = now_ms() - t0;
  res("srvopt.defer_timeout", "%s after_800ms=%s", pollstr(ev), waited >= 800 ? "yes" : "no");
  fd = accept(l, NULL, NULL);
  res("srvopt.defer_timeout_accept", "%s", fd >= 0 ? "ok" : rcstr(fd));
  if (fd >= 0) close(fd);
  close(l);
}

/* An accepted connection starts with its listener's options (Linux clones the socket). */
static void inherited(void) {
  int port = next_port();
  int l = socket(AF_INET, SOCK_STREAM, 0);
  set_int(l, IPPROTO_IP, IP_TOS, 0x28);
  set_int(l, IPPROTO_IP, IP_TTL, 21);
  set_int(l, SOL_SOCKET, SO_PRIORITY, 3);
  set_int(l, SOL_SOCKET, SO_RCVLOWAT, 7);
  set_int(l, SOL_SOCKET, SO_RCVBUF, 50000);
  set_int(l, IPPROTO_TCP, TCP_NOTSENT_LOWAT, 4000);
  set_int(l, IPPROTO_TCP, TCP_USER_TIMEOUT, 2500);
  set_int(l, IPPROTO_TCP, TCP_MAXSEG, 1200);
  setsockopt(l, IPPROTO_TCP, TCP_CONGESTION, "reno", 4);
  struct sockaddr_in a = sin_of(g_local, port);
  if (bind(l, (struct sockaddr *)&a, sizeof a) != 0 || listen(l, 4) != 0) {
    fail("inherited", "listen %s", rcstr(-1));
    close(l);
    return;
  }
  int fd = accept_from_peer(l, port, NULL);
  if (fd >= 0) {
    char cc[16] = {0};
    socklen_t len = sizeof cc;
    getsockopt(fd, IPPROTO_TCP, TCP_CONGESTION, cc, &len);
    res("srvopt.accepted_ip", "tos=0x%x ttl=%d priority=%d", sockopt_int(fd, IPPROTO_IP, IP_TOS),
        sockopt_int(fd, IPPROTO_IP, IP_TTL), sockopt_int(fd, SOL_SOCKET, SO_PRIORITY));
    res("srvopt.accepted_lowats", "rcvlowat=%d notsent_lowat=%d rcvbuf=%d",
        sockopt_int(fd, SOL_SOCKET, SO_RCVLOWAT), sockopt_int(fd, IPPROTO_TCP, TCP_NOTSENT_LOWAT),
        sockopt_int(fd, SOL_SOCKET, SO_RCVBUF));
    res("srvopt.accepted_tcp", "user_timeout=%d congestion=%s maxseg=%d",
        sockopt_int(fd, IPPROTO_TCP, TCP_USER_TIMEOUT), cc, sockopt_int(fd, IPPROTO_TCP, TCP_MAXSEG));
    close(fd);
  }
  close(l);
}

/* TCP_USER_TIMEOUT ends a connect whose SYNs go unanswered (Linux's retransmits_timed_out
 * covers SYN-SENT): ETIMEDOUT after the timeout, not after the SYN retries. */
static void user_timeout_connect(void) {
  int fd = bound_socket();
  set_int(fd, IPPROTO_TCP, TCP_USER_TIMEOUT, 1000);
  struct sockaddr_in a = sin_of(g_peer, PORT_BLACKHOLE);
  long t0 = now_ms();
  int rc = connect(fd, (struct sockaddr *)&a, sizeof a);
  long waited = now_ms() - t0;
  res("srvopt.user_timeout_connect", "%s at_least_900ms=%s under_2500ms=%s", rcstr(rc),
      waited >= 900 ? "yes" : "no", waited < 2500 ? "yes" : "no");
  close(fd);
}

/* IP_BIND_ADDRESS_NO_PORT: bind leaves the port to connect. */
static void bind_no_port(void) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  set_int(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, 1);
  struct sockaddr_in a = sin_of(g_local, 0);
  res_ok("srvopt.bind_no_port_bind", bind(fd, (struct sockaddr *)&a, sizeof a));
  res("srvopt.bind_no_port_name", "port=%d", port_of(fd, 0));
  a = sin_of(g_peer, PORT_ECHO);
  res_ok("srvopt.bind_no_port_connect", connect(fd, (struct sockaddr *)&a, sizeof a));
  res("srvopt.bind_no_port_after", "%s", port_of(fd, 0) > 0 ? "port>0" : "port=0");
  echo_check("srvopt.bind_no_port_echo", fd, "np");
  close(fd);
  /* listen() picks the port a bind under the option left open. */
  fd = socket(AF_INET, SOCK_STREAM, 0);
  set_int(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, 1);
  a = sin_of(g_local, 0);
  bind(fd, (struct sockaddr *)&a, sizeof a);
  res_ok("srvopt.bind_no_port_listen", listen(fd, 4));
  res("srvopt.bind_no_port_listen_name", "%s", port_of(fd, 0) > 0 ? "port>0" : "port=0");
  close(fd);
}

void checks_server_opts(void) {
  ip_level();
  tcp_level();
  maxseg();
  rcvlowat();
  more_and_eor();
  notsent_lowat();
  defer_accept();
  inherited();
  user_timeout_connect();
  bind_no_port();
}
