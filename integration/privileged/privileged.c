// What utcpd checks (docs/security.md), seen from a program under libutcp.so: each
// call is made on a utcp socket (the utcp address) and, in the same run, on a kernel
// socket (127.0.0.1), and both answers are printed, so the script can require that they
// are the same and the expected one for this caller.
//   privileged bind IP PORT          bind(IP:PORT) and bind(127.0.0.1:PORT)
//   privileged group IP PORT STOP    a SO_REUSEPORT listener on both; "listening";
//                                    holds them until file STOP exists (60 s at most)
//   privileged join IP PORT          a SO_REUSEPORT bind (then listen) on both
//   privileged setuid IP PORT1 PORT2 as root: bind IP:PORT1, setuid(65534), listen, then
//                                    bind IP:PORT2 and 127.0.0.1:PORT2; "serving";
//                                    answers one connection on IP:PORT1
//   privileged options IP PORT       SO_MARK, SO_DEBUG, SO_PRIORITY 7, IP_TRANSPARENT,
//                                    TCP_MD5SIG (on a bound socket, and before bind)
// Lines: "<what> utcp=<ERRNO|OK> kernel=<ERRNO|OK>".
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <grp.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

static const char* result(int rc, int err) {
  static char buf[4][32];
  static int next;
  char* out = buf[next++ % 4];
  if (rc == 0) return "OK";
  const char* name = strerrorname_np(err);
  snprintf(out, 32, "%s", name ? name : "E?");
  return out;
}

static struct sockaddr_in addr_of(const char* ip, int port) {
  struct sockaddr_in a;
  memset(&a, 0, sizeof a);
  a.sin_family = AF_INET;
  a.sin_port = htons((unsigned short)port);
  if (inet_pton(AF_INET, ip, &a.sin_addr) != 1) {
    fprintf(stderr, "bad address %s\n", ip);
    exit(2);
  }
  return a;
}

static int tcp_socket(void) {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) {
    perror("socket");
    exit(2);
  }
  return fd;
}

// bind (with SO_REUSEPORT if asked); returns 0 or the errno. *out gets the socket.
static int try_bind(const char* ip, int port, int reuse_port, int* out) {
  const int fd = tcp_socket();
  const int one = 1;
  if (reuse_port && setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) != 0) return errno;
  struct sockaddr_in a = addr_of(ip, port);
  const int rc = bind(fd, (struct sockaddr*)&a, sizeof a);
  const int err = errno;
  if (out != NULL && rc == 0) {
    *out = fd;
  } else {
    close(fd);
  }
  return rc == 0 ? 0 : err;
}

static int try_bind_fd(int fd, const char* ip, int port) {
  struct sockaddr_in a = addr_of(ip, port);
  return bind(fd, (struct sockaddr*)&a, sizeof a) == 0 ? 0 : errno;
}

static void report(const char* what, int utcp_err, int kernel_err) {
  printf("%s utcp=%s kernel=%s\n", what, result(utcp_err, utcp_err), result(kernel_err, kernel_err));
  fflush(stdout);
}

static int listen_on(const char* ip, int port, int reuse_port) {
  int fd = -1;
  const int err = try_bind(ip, port, reuse_port, &fd);
  if (err != 0 || listen(fd, 16) != 0) {
    fprintf(stderr, "listen %s:%d: %s\n", ip, port, strerror(err ? err : errno));
    exit(1);
  }
  return fd;
}

static int cmd_bind(const char* ip, int port) {
  report("bind", try_bind(ip, port, 0, NULL), try_bind("127.0.0.1", port, 0, NULL));
  return 0;
}

static int cmd_group(const char* ip, int port, const char* stop) {
  listen_on(ip, port, 1);
  listen_on("127.0.0.1", port, 1);
  printf("listening uid=%d\n", (int)geteuid());
  fflush(stdout);
  struct stat st;
  for (int i = 0; i < 600 && stat(stop, &st) != 0; ++i) usleep(100 * 1000);
  return 0;
}

static int cmd_join(const char* ip, int port) {
  int u = -1, k = -1;
  int ue = try_bind(ip, port, 1, &u);
  int ke = try_bind("127.0.0.1", port, 1, &k);
  report("reuseport-bind", ue, ke);
  if (ue == 0) ue = listen(u, 16) == 0 ? 0 : errno;
  if (ke == 0) ke = listen(k, 16) == 0 ? 0 : errno;
  report("reuseport-listen", ue, ke);
  return 0;
}

static int cmd_setuid(const char* ip, int port1, int port2) {
  // Bound as root, listening only after setuid(): Linux judges the bind, not the listen
  // (utcpd's other engines create their listener shares at listen).
  int l = -1, k = -1;
  if (try_bind(ip, port1, 0, &l) != 0 || try_bind("127.0.0.1", port1, 0, &k) != 0) {
    fprintf(stderr, "setuid: cannot bind port %d as root\n", port1);
    return 1;
  }
  if (setgroups(0, NULL) != 0 || setgid(65534) != 0 || setuid(65534) != 0) {
    perror("dropping root");
    return 1;
  }
  printf("uid=%d euid=%d\n", (int)getuid(), (int)geteuid());
  report("listen-after-setuid", listen(l, 16) == 0 ? 0 : errno, listen(k, 16) == 0 ? 0 : errno);
  report("bind-after-setuid", try_bind(ip, port2, 0, NULL), try_bind("127.0.0.1", port2, 0, NULL));
  printf("serving\n");
  fflush(stdout);
  const int c = accept(l, NULL, NULL);
  if (c < 0) {
    perror("accept");
    return 1;
  }
  const char msg[] = "served-after-setuid\n";
  const int ok = write(c, msg, sizeof msg - 1) == (ssize_t)(sizeof msg - 1);
  close(c);
  printf("answered %s\n", ok ? "OK" : "write failed");
  return ok ? 0 : 1;
}

struct Opt {
  const char* name;
  int level, option, value;
};

static int cmd_options(const char* ip, int port) {
  int u = -1, k = -1;
  if (try_bind(ip, port, 0, &u) != 0 || try_bind("127.0.0.1", 0, 0, &k) != 0) {
    fprintf(stderr, "options: cannot bind the sockets\n");
    return 1;
  }
  const struct Opt opts[] = {
      {"SO_MARK", SOL_SOCKET, SO_MARK, 7},
      {"SO_DEBUG", SOL_SOCKET, SO_DEBUG, 1},
      {"SO_PRIORITY=7", SOL_SOCKET, SO_PRIORITY, 7},
      {"SO_PRIORITY=6", SOL_SOCKET, SO_PRIORITY, 6},
      {"IP_TRANSPARENT", IPPROTO_IP, IP_TRANSPARENT, 1},
  };
  for (size_t i = 0; i < sizeof opts / sizeof opts[0]; ++i) {
    const struct Opt* o = &opts[i];
    const int ue = setsockopt(u, o->level, o->option, &o->value, sizeof o->value) == 0 ? 0 : errno;
    const int ke = setsockopt(k, o->level, o->option, &o->value, sizeof o->value) == 0 ? 0 : errno;
    report(o->name, ue, ke);
    int uv = -1, kv = -1;
    socklen_t len = sizeof uv;
    const int ug = getsockopt(u, o->level, o->option, &uv, &len) == 0 ? 0 : errno;
    len = sizeof kv;
    const int kg = getsockopt(k, o->level, o->option, &kv, &len) == 0 ? 0 : errno;
    printf("get %s utcp=%s:%d kernel=%s:%d\n", o->name, result(ug, ug), uv, result(kg, kg), kv);
  }
  // TCP_MD5SIG: utcp cannot sign. On a utcp socket: ENOPROTOOPT. Taken by the kernel
  // while the socket was undecided, it makes the bind to the utcp address fail with
  // ENOPROTOOPT rather than send unsigned segments.
  struct tcp_md5sig md5;
  memset(&md5, 0, sizeof md5);
  struct sockaddr_in peer = addr_of("198.18.15.1", 0);
  memcpy(&md5.tcpm_addr, &peer, sizeof peer);
  md5.tcpm_keylen = 4;
  memcpy(md5.tcpm_key, "abcd", 4);
  const int um = setsockopt(u, IPPROTO_TCP, TCP_MD5SIG, &md5, sizeof md5) == 0 ? 0 : errno;
  const int km = setsockopt(k, IPPROTO_TCP, TCP_MD5SIG, &md5, sizeof md5) == 0 ? 0 : errno;
  report("TCP_MD5SIG", um, km);
  const int early = tcp_socket();
  int be = setsockopt(early, IPPROTO_TCP, TCP_MD5SIG, &md5, sizeof md5) == 0 ? 0 : errno;
  if (be == 0) be = try_bind_fd(early, ip, port + 100);
  const int kearly = tcp_socket();
  int ke = setsockopt(kearly, IPPROTO_TCP, TCP_MD5SIG, &md5, sizeof md5) == 0 ? 0 : errno;
  if (ke == 0) ke = try_bind_fd(kearly, "127.0.0.1", port + 100);
  report("TCP_MD5SIG-then-bind", be, ke);
  fflush(stdout);
  return 0;
}

int main(int argc, char** argv) {
  if (argc >= 4 && strcmp(argv[1], "bind") == 0) return cmd_bind(argv[2], atoi(argv[3]));
  if (argc >= 5 && strcmp(argv[1], "group") == 0) return cmd_group(argv[2], atoi(argv[3]), argv[4]);
  if (argc >= 4 && strcmp(argv[1], "join") == 0) return cmd_join(argv[2], atoi(argv[3]));
  if (argc >= 5 && strcmp(argv[1], "setuid") == 0) {
    return cmd_setuid(argv[2], atoi(argv[3]), atoi(argv[4]));
  }
  if (argc >= 4 && strcmp(argv[1], "options") == 0) return cmd_options(argv[2], atoi(argv[3]));
  fprintf(stderr, "usage: privileged bind|group|join|setuid|options IP PORT ...\n");
  return 2;
}
