/* socket_api: the socket-API differential test program (see README.md).
 * Shared declarations: result printing, errno/flag names, peer helpers, bounded waits.
 *
 * Every check prints exactly one line "<name>: <result>" through res_*(); results never
 * contain ports (other than the peer's fixed service ports), fd numbers, pids or
 * timings, so the output of a run on the kernel and one under libutcp.so can be
 * compared byte for byte. */
#ifndef SOCKET_API_COMMON_H
#define SOCKET_API_COMMON_H

#define _GNU_SOURCE
#include <errno.h>
#include <netinet/in.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>

/* The peer's services (peer.py), all on PEER_IP. */
enum {
  PORT_CTRL = 7000,   /* control line protocol */
  PORT_ECHO = 7001,   /* echo; half-closes back on EOF */
  PORT_SINK = 7002,   /* reads to EOF, replies "n=<bytes> fnv=<hex>\n" */
  PORT_PIECES = 7003, /* PIECES_TOTAL pattern bytes in pieces, then close */
  PORT_RESET = 7004,  /* RST right after accept */
  PORT_DELAY = 7005,  /* "delayed\n" after DELAY_MS */
  PORT_FIN = 7006,    /* "bye\n", then SHUT_WR, discards to EOF */
  PORT_HOLD = 7007,   /* never reads, never sends */
  PORT_CLOSED = 7009, /* nothing listens: RST */
  PORT_BLACKHOLE = 7010 /* SYNs dropped by nftables in the peer namespace */
};
#define PIECES_TOTAL 3000
#define DELAY_MS 500
#define WAIT_MS 5000 /* the bound of every "wait until the peer did X" */

/* First local port the program binds explicitly; next_port() hands out unique ones so
 * no check ever trips over a TIME_WAIT left by an earlier one. */
#define LOCAL_PORT_BASE 7100

extern struct in_addr g_local, g_peer;
extern const char *g_self; /* path of this executable, for re-exec */
extern int g_checks;       /* lines printed by res_*() */

/* --- Results. */
void res(const char *name, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* rc < 0: "-1 ENAME" (errno); otherwise the number. */
void res_rc(const char *name, long rc);
/* rc < 0: "-1 ENAME"; rc == 0: "ok"; otherwise "rc=N". */
void res_ok(const char *name, long rc);
/* A setup step or an impossible outcome: "FAIL <name>: ..." (run.sh fails). */
void fail(const char *name, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Name of the area being run, for the watchdog message. */
void area(const char *name);
/* Re-arms the watchdog (alarm) for the current area. */
void watchdog(unsigned seconds);

/* --- Names. */
const char *errname(int e);
/* "-1 ENAME" for rc < 0 (errno), else "%ld"; static buffer, one use per printf. */
const char *rcstr(long rc);
/* poll/epoll event masks as "POLLIN|POLLOUT" / "EPOLLIN|..." / "0". */
const char *pollstr(int revents);
const char *epollstr(uint32_t events);
/* "LOCAL", "PEER", "ANY" or "OTHER". */
const char *ipname(struct in_addr a);

/* --- Sockets. */
struct sockaddr_in sin_of(struct in_addr a, int port);
int next_port(void);
/* Blocking connect to PEER:port; -1 (after a FAIL line) on error. */
int connect_peer(int port);
/* socket + bind(LOCAL:port) + listen(16); -1 after FAIL. */
int listen_local(int port);
/* Asks the peer to CONNECT to LOCAL:port and accepts (bounded); returns the accepted fd
 * or -1 after FAIL; *id gets the peer's connection id. */
int accept_from_peer(int lfd, int port, int *id);
/* fd flags as "O_NONBLOCK=x FD_CLOEXEC=y". */
const char *fdflags(int fd);
int port_of(int fd, int peer); /* getsockname/getpeername port, -1 on error */
int sockopt_int(int fd, int level, int opt); /* getsockopt int, -1000-errno on error */

/* --- Bounded waits and I/O. */
/* poll for events, at most ms; returns revents or 0 (timeout) or -1. */
int wait_ev(int fd, int events, int ms);
long now_ms(void); /* CLOCK_MONOTONIC */
/* Reads up to n bytes, waiting at most WAIT_MS overall; stops early on EOF/error.
 * Returns bytes read (>= 0); *eof set if EOF seen, *err the errno (0 if none). */
ssize_t read_n(int fd, void *buf, size_t n, int *eof, int *err);
/* Writes all n bytes (blocking socket or poll-driven), bounded; returns bytes written. */
ssize_t write_all(int fd, const void *buf, size_t n);
/* Waits until FIONREAD reports at least n bytes (bounded); returns the last value. */
int wait_inq(int fd, int n);
/* Waits (bounded) until the socket saw a reset/hangup (POLLERR or POLLHUP). */
int wait_hup(int fd);
/* Sends text on fd, reads len(text) back from echo and prints "n=.. data=..". */
void echo_check(const char *name, int fd, const char *text);
/* Reads up to n bytes (bounded) and prints "n=<n> data=<text>" (text printable only). */
void read_check(const char *name, int fd, size_t n);
uint32_t fnv1a(const void *p, size_t n, uint32_t h);
void pattern(char *buf, size_t n, size_t start); /* 'a'..'z' repeated, like peer.py */

/* --- Control connection to the peer. */
int ctl_open(void);
/* Sends one command line (printf-style) and returns the reply line (static buffer),
 * or "ERR NOREPLY" if none came within the bound. */
const char *ctl(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* --- Options (checks_opts.c). */
int set_int(int fd, int level, int opt, int v); /* setsockopt of an int */
/* Prints "default=D set=rc get=V" for an int option. */
void int_opt(const char *name, int fd, int level, int opt, int v);

/* --- Areas (checks_*.c). */
void checks_socket(void);
void checks_bind_listen(void);
void checks_accept_connect(void);
void checks_io(void);
void checks_io_errors(void);
void checks_sendfile(void);
void checks_opts(void);
void checks_server_opts(void);
void checks_fcntl_dup(void);
void checks_poll(void);
void checks_epoll(void);
void checks_process(void);
void checks_eintr(void);
int exec_child_main(int argc, char **argv);

#endif
