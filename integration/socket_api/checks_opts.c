/* setsockopt()/getsockopt(): values round-trip, defaults, error paths. Buffer sizes and
 * similar tunables are printed as properties only (see README.md). */
#include "common.h"

#include <netinet/ip.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>

static void *volatile g_null; /* hidden NULL for the EFAULT checks */

int set_int(int fd, int level, int opt, int v) {
  return setsockopt(fd, level, opt, &v, sizeof v);
}

/* Prints "default=D set=rc get=V" for an int option. */
void int_opt(const char *name, int fd, int level, int opt, int v) {
  int d = sockopt_int(fd, level, opt);
  int rc = set_int(fd, level, opt, v);
  const char *rs = rc == 0 ? "ok" : rcstr(rc);
  int g = sockopt_int(fd, level, opt);
  char ds[32], gs[32];
  snprintf(ds, sizeof ds, "%d", d);
  snprintf(gs, sizeof gs, "%d", g);
  res(name, "default=%s set=%s get=%s", d <= -1000 ? errname(-1000 - d) : ds, rs,
      g <= -1000 ? errname(-1000 - g) : gs);
}

static const char *tcp_state(int s) {
  static const char *n[] = {"0", "ESTABLISHED", "SYN_SENT", "SYN_RECV", "FIN_WAIT1",
                            "FIN_WAIT2", "TIME_WAIT", "CLOSE", "CLOSE_WAIT", "LAST_ACK",
                            "LISTEN", "CLOSING"};
  return s >= 0 && s < 12 ? n[s] : "other";
}

static void generic_opts(void) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  int_opt("sockopt.so_reuseaddr", fd, SOL_SOCKET, SO_REUSEADDR, 1);
  int_opt("sockopt.so_reuseport", fd, SOL_SOCKET, SO_REUSEPORT, 1);
  int_opt("sockopt.so_keepalive", fd, SOL_SOCKET, SO_KEEPALIVE, 1);
  int_opt("sockopt.tcp_keepidle", fd, IPPROTO_TCP, TCP_KEEPIDLE, 30);
  int_opt("sockopt.tcp_keepintvl", fd, IPPROTO_TCP, TCP_KEEPINTVL, 5);
  int_opt("sockopt.tcp_keepcnt", fd, IPPROTO_TCP, TCP_KEEPCNT, 3);
  res_rc("sockopt.tcp_keepidle_zero", set_int(fd, IPPROTO_TCP, TCP_KEEPIDLE, 0));
  res_rc("sockopt.tcp_keepcnt_too_big", set_int(fd, IPPROTO_TCP, TCP_KEEPCNT, 1000));
  int_opt("sockopt.tcp_nodelay", fd, IPPROTO_TCP, TCP_NODELAY, 1);
  int_opt("sockopt.tcp_cork", fd, IPPROTO_TCP, TCP_CORK, 1);
  int_opt("sockopt.so_oobinline", fd, SOL_SOCKET, SO_OOBINLINE, 1);
  int_opt("sockopt.so_rcvlowat", fd, SOL_SOCKET, SO_RCVLOWAT, 5);
  int_opt("sockopt.tcp_user_timeout", fd, IPPROTO_TCP, TCP_USER_TIMEOUT, 1000);
  int_opt("sockopt.ip_tos", fd, IPPROTO_IP, IP_TOS, 0x10);
  int_opt("sockopt.ip_ttl", fd, IPPROTO_IP, IP_TTL, 32);
  /* Linux stores TCP_DEFER_ACCEPT as retransmissions and reports them back as seconds. */
  int_opt("sockopt.tcp_defer_accept", fd, IPPROTO_TCP, TCP_DEFER_ACCEPT, 5);
  res_rc("sockopt.so_sndlowat_set", set_int(fd, SOL_SOCKET, SO_SNDLOWAT, 5));

  res("sockopt.so_type", "%s", sockopt_int(fd, SOL_SOCKET, SO_TYPE) == SOCK_STREAM ? "SOCK_STREAM" : "other");
  res("sockopt.so_domain", "%s", sockopt_int(fd, SOL_SOCKET, SO_DOMAIN) == AF_INET ? "AF_INET" : "other");
  res("sockopt.so_protocol", "%s", sockopt_int(fd, SOL_SOCKET, SO_PROTOCOL) == IPPROTO_TCP ? "IPPROTO_TCP" : "other");
  res("sockopt.so_error_fresh", "%d", sockopt_int(fd, SOL_SOCKET, SO_ERROR));
  res("sockopt.so_acceptconn_fresh", "%d", sockopt_int(fd, SOL_SOCKET, SO_ACCEPTCONN));
  res_rc("sockopt.so_type_set", set_int(fd, SOL_SOCKET, SO_TYPE, SOCK_DGRAM));

  /* Buffer sizes: only properties (a user-level stack may size them its own way). */
  int rb = sockopt_int(fd, SOL_SOCKET, SO_RCVBUF), sb = sockopt_int(fd, SOL_SOCKET, SO_SNDBUF);
  res("sockopt.so_rcvbuf_default", "%s", rb > 0 ? ">0" : "<=0");
  res("sockopt.so_sndbuf_default", "%s", sb > 0 ? ">0" : "<=0");
  res_ok("sockopt.so_rcvbuf_set", set_int(fd, SOL_SOCKET, SO_RCVBUF, 65536));
  res("sockopt.so_rcvbuf_get", "%s", sockopt_int(fd, SOL_SOCKET, SO_RCVBUF) >= 65536 ? ">=set" : "<set");
  res_ok("sockopt.so_sndbuf_set", set_int(fd, SOL_SOCKET, SO_SNDBUF, 65536));
  res("sockopt.so_sndbuf_get", "%s", sockopt_int(fd, SOL_SOCKET, SO_SNDBUF) >= 65536 ? ">=set" : "<set");
  int mss = sockopt_int(fd, IPPROTO_TCP, TCP_MAXSEG);
  res("sockopt.tcp_maxseg_unconnected", "%s", mss > 0 ? ">0" : mss == 0 ? "0" : "error");

  struct linger lg;
  socklen_t len = sizeof lg;
  getsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, &len);
  res("sockopt.so_linger_default", "onoff=%d linger=%d len=%u", lg.l_onoff, lg.l_linger, (unsigned)len);
  lg = (struct linger){1, 5};
  res_ok("sockopt.so_linger_set", setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg));
  memset(&lg, 0, sizeof lg);
  len = sizeof lg;
  getsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, &len);
  res("sockopt.so_linger_get", "onoff=%d linger=%d", lg.l_onoff, lg.l_linger);
  res_rc("sockopt.so_linger_short", setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, 4));

  struct timeval tv = {2, 0};
  res_ok("sockopt.so_rcvtimeo_set", setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv));
  memset(&tv, 0, sizeof tv);
  len = sizeof tv;
  getsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, &len);
  res("sockopt.so_rcvtimeo_get", "sec=%ld usec=%ld", (long)tv.tv_sec, (long)tv.tv_usec);
  tv = (struct timeval){0, 2000000};
  res_rc("sockopt.so_sndtimeo_bad_usec", setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv));
  len = sizeof tv;
  getsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, &len);
  res("sockopt.so_sndtimeo_default", "sec=%ld usec=%ld", (long)tv.tv_sec, (long)tv.tv_usec);

  struct tcp_info ti;
  len = sizeof ti;
  int rc = getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &len);
  res("sockopt.tcp_info_unconnected", "%s state=%s", rcstr(rc), tcp_state(ti.tcpi_state));
  close(fd);
}

static void error_opts(void) {
  int fd = socket(AF_INET, SOCK_STREAM, 0), v = 1;
  socklen_t len = sizeof v;
  res_rc("sockopt.unknown_sol_socket", set_int(fd, SOL_SOCKET, 9999, 1));
  res_rc("sockopt.unknown_tcp", set_int(fd, IPPROTO_TCP, 9999, 1));
  res_rc("sockopt.get_unknown_tcp", getsockopt(fd, IPPROTO_TCP, 9999, &v, &len));
  res_rc("sockopt.bad_level", set_int(fd, 12345, 1, 1));
  len = sizeof v;
  res_rc("sockopt.get_bad_level", getsockopt(fd, 12345, 1, &v, &len));
  res_rc("sockopt.set_short_optlen", setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &v, 2));
  res_rc("sockopt.set_null_optval", setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, g_null, 4));
  len = 4;
  res_rc("sockopt.get_null_optval", getsockopt(fd, SOL_SOCKET, SO_REUSEADDR, g_null, &len));
  res_rc("sockopt.get_null_optlen", getsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &v, g_null));
  /* Linux copies a truncated int into a short buffer and succeeds. */
  len = 2;
  int rc = getsockopt(fd, SOL_SOCKET, SO_TYPE, &v, &len);
  res("sockopt.get_short_optlen", "%s len=%u", rcstr(rc), (unsigned)len);
  int neg = -1;
  res_rc("sockopt.get_negative_optlen", getsockopt(fd, SOL_SOCKET, SO_TYPE, &v, (socklen_t *)&neg));
  len = 64; /* a bigger buffer: the real size comes back */
  char big[64];
  rc = getsockopt(fd, SOL_SOCKET, SO_TYPE, big, &len);
  res("sockopt.get_big_optlen", "%s len=%u", rcstr(rc), (unsigned)len);
  close(fd);
  res_rc("sockopt.closed_fd", set_int(fd, SOL_SOCKET, SO_REUSEADDR, 1));
  int p[2];
  if (pipe(p) == 0) {
    res_rc("sockopt.notsock", set_int(p[0], SOL_SOCKET, SO_REUSEADDR, 1));
    len = sizeof v;
    res_rc("sockopt.get_notsock", getsockopt(p[0], SOL_SOCKET, SO_TYPE, &v, &len));
    close(p[0]);
    close(p[1]);
  }
}

static int info_state(int fd) {
  struct tcp_info ti;
  memset(&ti, 0, sizeof ti);
  socklen_t len = sizeof ti;
  if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &len) < 0) return -1;
  return ti.tcpi_state;
}

static void conn_opts(void) {
  int port = next_port();
  int l = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a = sin_of(g_local, port);
  bind(l, (struct sockaddr *)&a, sizeof a);
  res("sockopt.so_acceptconn_bound", "%d", sockopt_int(l, SOL_SOCKET, SO_ACCEPTCONN));
  listen(l, 4);
  res("sockopt.so_acceptconn_listening", "%d", sockopt_int(l, SOL_SOCKET, SO_ACCEPTCONN));
  res("sockopt.tcp_info_listener", "state=%s", tcp_state(info_state(l)));
  close(l);

  int fd = connect_peer(PORT_ECHO);
  if (fd < 0) return;
  res("sockopt.tcp_info_connected", "state=%s", tcp_state(info_state(fd)));
  struct tcp_info ti;
  socklen_t len = 8; /* a short buffer is filled as far as it goes */
  int rc = getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &len);
  res("sockopt.tcp_info_short", "%s len=%u state=%s", rcstr(rc), (unsigned)len,
      tcp_state(ti.tcpi_state));
  res("sockopt.so_acceptconn_connected", "%d", sockopt_int(fd, SOL_SOCKET, SO_ACCEPTCONN));
  int mss = sockopt_int(fd, IPPROTO_TCP, TCP_MAXSEG);
  res("sockopt.tcp_maxseg_connected", "%s", mss > 0 && mss <= 1460 ? "in (0,1460]" : "other");
  res_ok("sockopt.tcp_nodelay_connected", set_int(fd, IPPROTO_TCP, TCP_NODELAY, 1));
  res_ok("sockopt.tcp_quickack", set_int(fd, IPPROTO_TCP, TCP_QUICKACK, 1));
  res_ok("sockopt.so_keepalive_connected", set_int(fd, SOL_SOCKET, SO_KEEPALIVE, 1));
  /* TCP_CORK holds small writes back until it is cleared. */
  res_ok("sockopt.cork_on", set_int(fd, IPPROTO_TCP, TCP_CORK, 1));
  send(fd, "co", 2, 0);
  send(fd, "rk", 2, 0);
  res_ok("sockopt.cork_off", set_int(fd, IPPROTO_TCP, TCP_CORK, 0));
  read_check("sockopt.cork_echo", fd, 4);
  shutdown(fd, SHUT_WR);
  int eof, err;
  char b[4];
  read_n(fd, b, sizeof b, &eof, &err); /* echo closes back: wait for its FIN */
  res("sockopt.tcp_info_after_fins", "state=%s", tcp_state(info_state(fd)));
  close(fd);

  fd = connect_peer(PORT_FIN);
  if (fd < 0) return;
  for (int i = 0; i < 500 && !(wait_ev(fd, POLLRDHUP, 10) & POLLRDHUP); i++) {}
  res("sockopt.tcp_info_close_wait", "state=%s", tcp_state(info_state(fd)));
  close(fd);
}

void checks_opts(void) {
  generic_opts();
  error_opts();
  conn_opts();
}
