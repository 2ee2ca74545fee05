// close_range: closefrom(), close_range() and the other ways a program closes or reuses
// fd numbers it does not know, under libutcp.so (run by close_range_test.sh). The
// library's own fds (utcpd's control socket, eventfds, the family's memfd, doorbells)
// must survive them, the utcp sockets the program closes this way must be gone, and
// new utcp sockets must work afterwards. Modes:
//
//   close_range main PEER_IP PORT        the checks below; PEER_IP:PORT is a kernel echo
//                                         peer reached through utcp
//   close_range exec-child PEER_IP PORT  an exec'd image (as sshd's re-exec): its fd 0 is
//                                         an inherited utcp connection; closefrom(3)
//                                         first, then it uses fd 0 and a new socket
//   close_range exec-raw PEER_IP PORT    an exec'd image that closes everything with the
//                                         raw syscall (no interposer can see it), then
//                                         reuses the numbers: its join must be refused,
//                                         and libutcp must say so on stderr
//
// main also forks a child that sandboxes itself at once as sshd's privilege-separated
// child does (chroot to an empty directory, RLIMIT_NOFILE 1, no_new_privs, a seccomp
// filter with OpenSSH's list: read, write, poll, select, close... and nothing that makes
// an fd or yields), then echoes on its inherited connection: the library must have
// joined at fork with everything it needs.
//
// Lines: "ok: ..." / "FAIL: ..." for checks, "summary: N checks, M failed" last.
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/audit.h>
#include <linux/close_range.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stddef.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

static int checks, failures;
static const char* peer_ip;
static int peer_port;

static void result(int ok, const char* fmt, ...) __attribute__((format(printf, 2, 3)));
static void result(int ok, const char* fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  checks++;
  if (!ok) failures++;
  fputs(ok ? "ok: " : "FAIL: ", stdout);
  vprintf(fmt, ap);
  fputc('\n', stdout);
  fflush(stdout);
  va_end(ap);
}

static int summary(void) {
  printf("summary: %d checks, %d failed\n", checks, failures);
  fflush(stdout);
  return failures == 0 ? 0 : 1;
}

// A new connection to the echo peer (through utcp: the peer is in utcp's subnet).
static int connect_echo(void) {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return -1;
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((unsigned short)peer_port)};
  inet_pton(AF_INET, peer_ip, &a.sin_addr);
  if (connect(fd, (struct sockaddr*)&a, sizeof a) != 0) {
    const int err = errno;
    close(fd);
    errno = err;
    return -1;
  }
  return fd;
}

// Sends msg on fd and reads it back within 5 s.
static int echo_ok(int fd, const char* msg) {
  const size_t n = strlen(msg);
  if (write(fd, msg, n) != (ssize_t)n) return 0;
  char buf[256];
  size_t got = 0;
  while (got < n) {
    struct pollfd p = {fd, POLLIN, 0};
    if (poll(&p, 1, 5000) != 1) return 0;
    const ssize_t r = read(fd, buf + got, sizeof buf - got);
    if (r <= 0) return 0;
    got += (size_t)r;
  }
  return got == n && memcmp(buf, msg, n) == 0;
}

static int is_closed(int fd) { return fcntl(fd, F_GETFD) == -1 && errno == EBADF; }

// A new socket works end to end: the library was not cut off.
static void check_new_socket(const char* after) {
  const int fd = connect_echo();
  result(fd >= 0 && echo_ok(fd, "fresh\n"), "a new utcp socket works after %s (%s)", after,
         fd >= 0 ? "echo" : strerror(errno));
  if (fd >= 0) close(fd);
}

static void check_errnos(int live) {
  errno = 0;
  result(close_range(10, 9, 0) == -1 && errno == EINVAL, "close_range(10, 9): EINVAL (%s)", strerror(errno));
  errno = 0;
  result(close_range(3, ~0U, 0x80) == -1 && errno == EINVAL, "close_range with an unknown flag: EINVAL (%s)",
         strerror(errno));
  result(!is_closed(live) && echo_ok(live, "still\n"), "a refused close_range closed nothing");
}

static void check_one(void) {
  const int a = connect_echo(), b = connect_echo(), c = connect_echo();
  result(a >= 0 && b >= 0 && c >= 0, "three utcp connections (%s)", strerror(errno));
  check_errnos(a);
  result(close_range((unsigned)b, (unsigned)b, 0) == 0 && is_closed(b), "close_range(b, b) closes b");
  result(echo_ok(a, "a\n") && echo_ok(c, "c\n"), "the sockets around it still work");
  const int d = connect_echo();
  result(d == b && echo_ok(d, "d\n"), "the next socket takes b's number (%d) and works", d);
  close(a);
  close(c);
  close(d);
}

static void check_cloexec(void) {
  const int a = connect_echo();
  result(close_range(3, ~0U, CLOSE_RANGE_CLOEXEC) == 0, "close_range(3, ~0, CLOEXEC)");
  result((fcntl(a, F_GETFD) & FD_CLOEXEC) != 0 && echo_ok(a, "cloexec\n"),
         "the socket is close-on-exec and still works");
  check_new_socket("CLOSE_RANGE_CLOEXEC");
  result(close_range(3, ~0U, CLOSE_RANGE_UNSHARE | CLOSE_RANGE_CLOEXEC) == 0 && echo_ok(a, "unshare\n"),
         "close_range(3, ~0, UNSHARE|CLOEXEC) keeps it working");
  close(a);
}

static void check_closefrom(void) {
  const int a = connect_echo(), b = connect_echo();
  const int ep = epoll_create1(0);
  struct epoll_event ev = {.events = EPOLLIN, .data.fd = a};
  result(ep >= 0 && epoll_ctl(ep, EPOLL_CTL_ADD, a, &ev) == 0, "an epoll set holding a utcp socket");
  closefrom(3);
  result(is_closed(a) && is_closed(b) && is_closed(ep), "closefrom(3) closed the sockets and the epoll set");
  check_new_socket("closefrom(3)");
  // A socket in a new epoll set under the old numbers: the old registrations are gone.
  const int f = connect_echo();
  const int ep2 = epoll_create1(0);
  ev.data.fd = f;
  int ok = f >= 0 && ep2 >= 0 && epoll_ctl(ep2, EPOLL_CTL_ADD, f, &ev) == 0 && write(f, "e\n", 2) == 2;
  struct epoll_event out[4];
  ok = ok && epoll_wait(ep2, out, 4, 5000) == 1 && out[0].data.fd == f && (out[0].events & EPOLLIN);
  result(ok, "epoll after closefrom: a new set reports the new socket");
  close(ep2);
  close(f);
  result(close_range(3, 1000, 0) == 0, "close_range(3, 1000) with nothing of the program's open");
  check_new_socket("close_range(3, 1000)");
}

// Programs that close or dup2 onto numbers they believe free (no closefrom).
static void check_blind(void) {
  const int a = connect_echo();  // attached, so the library's fds exist
  for (int fd = 3; fd < 1024; ++fd) {
    if (fd != a) close(fd);
  }
  result(echo_ok(a, "loop\n"), "close() of every other fd below 1024: the socket still works");
  check_new_socket("a close() loop");
  close(a);
  const int null = open("/dev/null", O_RDWR);
  int dups = 0;
  for (int fd = 3; fd < 64; ++fd) {
    if (fd != null && dup2(null, fd) == fd) dups++;
  }
  result(dups == 60, "dup2 of /dev/null onto 3..63 (%d)", dups);
  check_new_socket("dup2 onto 3..63");
  for (int fd = 3; fd < 64; ++fd) close(fd);
}

static void check_exec(const char* self) {
  const int a = connect_echo();
  result(a >= 0, "a connection for the exec'd image");
  const char* modes[] = {"exec-child", "exec-raw"};
  for (int m = 0; m < 2; ++m) {
    const char* mode = modes[m];
    const pid_t pid = fork();
    if (pid == 0) {
      // As sshd's re-exec: the connection becomes fd 0, everything else closes later.
      dup2(a, 0);
      close(a);
      char port[16];
      snprintf(port, sizeof port, "%d", peer_port);
      execl(self, self, mode, peer_ip, port, (char*)NULL);
      _exit(127);
    }
    int status = 0;
    waitpid(pid, &status, 0);
    result(WIFEXITED(status) && WEXITSTATUS(status) == 0, "the exec'd image (%s) passed its checks", mode);
  }
  result(echo_ok(a, "after-child\n"), "the parent's copy of the connection still works");
  close(a);
}

// OpenSSH's preauth filter (sandbox-seccomp-filter.c), in short: these or death.
static int sandbox(const char* dir) {
  static const int allowed[] = {
      SYS_brk, SYS_clock_gettime, SYS_close, SYS_exit, SYS_exit_group, SYS_futex, SYS_geteuid,
      SYS_getpgid, SYS_getpid, SYS_getrandom, SYS_gettimeofday, SYS_getuid, SYS_madvise, SYS_mmap,
      SYS_mprotect, SYS_mremap, SYS_munmap, SYS_nanosleep, SYS_clock_nanosleep, SYS_poll,
      SYS_pselect6, SYS_read, SYS_rt_sigprocmask, SYS_select, SYS_shutdown, SYS_write};
  enum { kAllowed = sizeof allowed / sizeof allowed[0] };
  struct sock_filter f[4 + 2 * kAllowed + 1];
  int n = 0;
  f[n++] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch));
  f[n++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_X86_64, 1, 0);
  f[n++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS);
  f[n++] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr));
  for (int i = 0; i < kAllowed; ++i) {
    f[n++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (unsigned)allowed[i], 0, 1);
    f[n++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW);
  }
  f[n++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS);
  struct sock_fprog prog = {(unsigned short)n, f};
  const struct rlimit one = {1, 1};
  return chroot(dir) == 0 && chdir("/") == 0 && setrlimit(RLIMIT_NOFILE, &one) == 0 &&
                 prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == 0 &&
                 prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) == 0
             ? 0
             : -1;
}

static void check_fork_sandbox(void) {
  const int a = connect_echo();
  result(a >= 0 && echo_ok(a, "parent\n"), "a connection for the sandboxed child");
  char dir[] = "/tmp/utcp-empty.XXXXXX";
  result(mkdtemp(dir) != NULL, "an empty directory to chroot into");
  fflush(stdout);
  const pid_t pid = fork();
  if (pid == 0) {
    if (sandbox(dir) != 0) _exit(10);
    // Its first utcp calls: write, poll, read (echo_ok), a second round, shutdown-free.
    _exit(echo_ok(a, "sandboxed\n") && echo_ok(a, "again\n") ? 0 : 11);
  }
  int status = 0;
  waitpid(pid, &status, 0);
  rmdir(dir);
  result(WIFEXITED(status) && WEXITSTATUS(status) == 0,
         "a child sandboxed right after fork uses its inherited socket (%s %d)",
         WIFSIGNALED(status) ? "killed by signal" : "exit", WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status));
  result(echo_ok(a, "after\n"), "the parent's connection still works");
  close(a);
}

static int exec_child(void) {
  closefrom(3);
  result(echo_ok(0, "inherited\n"), "exec'd image: the inherited connection works after closefrom(3)");
  check_new_socket("closefrom(3) in an exec'd image");
  return summary();
}

static int exec_raw(void) {
  syscall(SYS_close_range, 3, ~0U, 0);  // out of every interposer's sight
  // The old numbers, reused (the memfd may sit high: dup2 onto 3..63 moved it).
  for (int i = 0; i < 256; ++i) open("/dev/null", O_RDONLY);
  errno = 0;
  const ssize_t n = write(0, "x", 1);
  result(n == -1 && errno == ENETDOWN, "exec'd image without its memfd: ENETDOWN (%s)", strerror(errno));
  return summary();
}

int main(int argc, char** argv) {
  if (argc != 4) {
    fprintf(stderr, "usage: %s main|exec-child|exec-raw PEER_IP PORT\n", argv[0]);
    return 2;
  }
  peer_ip = argv[2];
  peer_port = atoi(argv[3]);
  if (strcmp(argv[1], "exec-child") == 0) return exec_child();
  if (strcmp(argv[1], "exec-raw") == 0) return exec_raw();
  check_fork_sandbox();
  check_one();
  check_cloexec();
  check_closefrom();
  check_blind();
  check_exec(argv[0]);
  return summary();
}
