/* Sockets across fork(), execve(), system(), posix_spawn(); EINTR and SA_RESTART.
 * Children never print check lines themselves except the exec child, which reports how
 * many lines it printed through its exit status (added to the summary). */
#include "common.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/select.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

/* Waits (bounded by the child's own alarm) and describes how the child ended. */
static int child_status(pid_t pid) {
  int st = 0;
  if (waitpid(pid, &st, 0) < 0) return -1;
  return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static void fork_checks(void) {
  int fd = connect_peer(PORT_ECHO);
  if (fd < 0) return;
  /* The child closes its copy: the parent's connection is unaffected. */
  pid_t pid = fork();
  if (pid == 0) {
    close(fd);
    _exit(0);
  }
  res("fork.child_close", "status=%d", child_status(pid));
  echo_check("fork.child_close_parent_echo", fd, "parent");

  /* vfork: the child borrows the parent's memory; its close() must not undo the
   * parent's socket (old spawn code closes fds between vfork and exec). */
  pid = vfork();
  if (pid == 0) {
    close(fd);
    _exit(0);
  }
  res("fork.vfork_child_close", "status=%d", child_status(pid));
  echo_check("fork.vfork_child_close_parent_echo", fd, "vparent");

  /* The child writes on the inherited socket; the echo comes back to the parent. */
  pid = fork();
  if (pid == 0) {
    alarm(5);
    _exit(write(fd, "from-child", 10) == 10 ? 0 : 1);
  }
  res("fork.child_write", "status=%d", child_status(pid));
  read_check("fork.child_write_parent_read", fd, 10);

  /* The parent closes its copy; the child still owns a working connection. */
  pid = fork();
  if (pid == 0) {
    alarm(5);
    char b[4];
    int eof, err;
    if (write(fd, "kid", 3) != 3) _exit(1);
    _exit(read_n(fd, b, 3, &eof, &err) == 3 && !memcmp(b, "kid", 3) ? 0 : 2);
  }
  close(fd);
  res("fork.parent_closed_child_echo", "status=%d", child_status(pid));

  /* shutdown() in the child acts on the one shared socket. */
  fd = connect_peer(PORT_ECHO);
  if (fd < 0) return;
  pid = fork();
  if (pid == 0) _exit(shutdown(fd, SHUT_WR) == 0 ? 0 : 1);
  res("fork.child_shutdown", "status=%d", child_status(pid));
  char b[4];
  int eof, err;
  ssize_t r = read_n(fd, b, sizeof b, &eof, &err);
  res("fork.child_shutdown_parent_eof", "n=%zd eof=%d", r, eof);
  close(fd);

  /* A listener shared with a child (pre-fork servers): the child accepts. */
  int port = next_port(), id = 0;
  int l = listen_local(port);
  if (l < 0) return;
  pid = fork();
  if (pid == 0) {
    alarm(5);
    int c = accept(l, NULL, NULL);
    _exit(c >= 0 && write(c, "child-accepted", 14) == 14 ? 0 : 1);
  }
  const char *rep = ctl("CONNECT %d", port);
  if (strncmp(rep, "OK ", 3) == 0) id = atoi(rep + 3);
  res("fork.child_accept", "status=%d", child_status(pid));
  res("fork.child_accept_peer", "%s", ctl("RECV %d 14", id));
  res("fork.child_accept_peer_eof", "%s", ctl("WAITEOF %d", id));
  ctl("CLOSE %d", id);
  close(l);
}

/* Runs the exec child (self, "--exec-child PREFIX FD CLOEXEC_FD") by fork+execve or by
 * posix_spawn and adds the lines it printed. */
static void run_exec_child(const char *prefix, int fd, int cfd, int spawn) {
  char a1[16], a2[16];
  snprintf(a1, sizeof a1, "%d", fd);
  snprintf(a2, sizeof a2, "%d", cfd);
  char *argv[] = {(char *)"socket_api", (char *)"--exec-child", (char *)prefix, a1, a2, NULL};
  pid_t pid;
  fflush(stdout);
  if (spawn) {
    if (posix_spawn(&pid, g_self, NULL, NULL, argv, environ) != 0) {
      fail(prefix, "posix_spawn failed");
      return;
    }
  } else {
    pid = fork();
    if (pid == 0) {
      execve(g_self, argv, environ);
      _exit(127);
    }
  }
  int st = child_status(pid);
  if (st >= 0 && st < 100)
    g_checks += st; /* the child printed st lines */
  else
    fail(prefix, "exec child ended with status %d", st);
}

int exec_child_main(int argc, char **argv) {
  if (argc != 5) return 101;
  const char *prefix = argv[2];
  int fd = atoi(argv[3]), cfd = atoi(argv[4]);
  char name[64];
  area("exec_child");
  signal(SIGPIPE, SIG_IGN);
  g_checks = 0;
  snprintf(name, sizeof name, "%s.inherited_flags", prefix);
  res(name, "%s", fdflags(fd));
  snprintf(name, sizeof name, "%s.inherited_peername", prefix);
  res(name, "port=%d", port_of(fd, 1));
  snprintf(name, sizeof name, "%s.inherited_echo", prefix);
  echo_check(name, fd, "after-exec");
  snprintf(name, sizeof name, "%s.cloexec_fd", prefix);
  res_rc(name, fcntl(cfd, F_GETFD));
  return g_checks;
}

static void exec_checks(void) {
  int fd = connect_peer(PORT_ECHO), cfd = connect_peer(PORT_ECHO);
  if (fd < 0 || cfd < 0) return;
  fcntl(cfd, F_SETFD, FD_CLOEXEC);
  run_exec_child("exec", fd, cfd, 0);
  echo_check("exec.parent_echo_after", fd, "parent");
  run_exec_child("spawn", fd, cfd, 1);
  echo_check("spawn.parent_echo_after", fd, "parent2");
  echo_check("exec.cloexec_fd_in_parent", cfd, "cx");

  int st = system("true");
  res("system.true", "status=%d", WIFEXITED(st) ? WEXITSTATUS(st) : -1);
  echo_check("system.echo_after", fd, "sys");
  pid_t pid;
  char *argv[] = {(char *)"true", NULL};
  int rc = posix_spawn(&pid, "/bin/true", NULL, NULL, argv, environ);
  res("spawn.true", "rc=%d status=%d", rc, rc == 0 ? child_status(pid) : -1);
  echo_check("spawn.echo_after", fd, "spawned");
  close(fd);
  close(cfd);
}

void checks_process(void) {
  fork_checks();
  exec_checks();
}

/* --- EINTR: a periodic SIGUSR1 (first after 100 ms, then every 100 ms) interrupts a
 * blocking call; the handler is installed with or without SA_RESTART. */

static volatile sig_atomic_t g_usr1;
static timer_t g_timer;
static void on_usr1(int sig) {
  (void)sig;
  g_usr1++;
}

static void arm(int restart) {
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_usr1;
  sa.sa_flags = restart ? SA_RESTART : 0;
  sigaction(SIGUSR1, &sa, NULL);
  g_usr1 = 0;
  struct itimerspec it = {{0, 100000000}, {0, 100000000}};
  timer_settime(g_timer, 0, &it, NULL);
}

static void disarm(void) {
  struct itimerspec it = {{0, 0}, {0, 0}};
  timer_settime(g_timer, 0, &it, NULL);
  signal(SIGUSR1, SIG_IGN);
}

void checks_eintr(void) {
  struct sigevent sev;
  memset(&sev, 0, sizeof sev);
  sev.sigev_notify = SIGEV_SIGNAL;
  sev.sigev_signo = SIGUSR1;
  if (timer_create(CLOCK_MONOTONIC, &sev, &g_timer) < 0) {
    fail("eintr", "timer_create %s", rcstr(-1));
    return;
  }
  char buf[16];
  int hold = connect_peer(PORT_HOLD); /* never sends: a read blocks until interrupted */
  if (hold < 0) return;
  arm(0);
  ssize_t r = read(hold, buf, sizeof buf);
  disarm();
  res("eintr.read_no_restart", "%s handler_ran=%s", rcstr(r), g_usr1 ? "yes" : "no");

  int d = connect_peer(PORT_DELAY); /* sends "delayed\n" after 500 ms */
  if (d >= 0) {
    arm(1);
    r = read(d, buf, sizeof buf);
    disarm();
    res("eintr.read_restart", "n=%zd data=%.7s handler_ran=%s", r, buf, g_usr1 ? "yes" : "no");
    close(d);
  }
  /* With SO_RCVTIMEO set, Linux does not restart the read even with SA_RESTART. */
  struct timeval tv = {3, 0};
  setsockopt(hold, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  arm(1);
  r = read(hold, buf, sizeof buf);
  disarm();
  res_rc("eintr.read_rcvtimeo_restart", r);
  tv = (struct timeval){0, 0};
  setsockopt(hold, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);

  /* poll, select and epoll_wait are never restarted. */
  struct pollfd p = {hold, POLLIN, 0};
  arm(1);
  res_rc("eintr.poll_restart", poll(&p, 1, 3000));
  disarm();
  fd_set rd;
  FD_ZERO(&rd);
  FD_SET(hold, &rd);
  struct timeval stv = {3, 0};
  arm(1);
  res_rc("eintr.select_restart", select(hold + 1, &rd, NULL, NULL, &stv));
  disarm();
  int ep = epoll_create1(0);
  struct epoll_event e = {.events = EPOLLIN, .data.fd = hold};
  epoll_ctl(ep, EPOLL_CTL_ADD, hold, &e);
  arm(1);
  res_rc("eintr.epoll_wait_restart", epoll_wait(ep, &e, 1, 3000));
  disarm();
  close(ep);
  close(hold);

  int port = next_port();
  int l = listen_local(port);
  if (l >= 0) {
    arm(0);
    res_rc("eintr.accept_no_restart", accept(l, NULL, NULL));
    disarm();
    close(l);
  }
  /* An interrupted connect keeps connecting: the next call says EALREADY. */
  int c = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a = sin_of(g_peer, PORT_BLACKHOLE);
  arm(0);
  res_rc("eintr.connect_no_restart", connect(c, (struct sockaddr *)&a, sizeof a));
  disarm();
  fcntl(c, F_SETFL, O_NONBLOCK); /* never block here if the connect is not pending */
  res_rc("eintr.connect_again", connect(c, (struct sockaddr *)&a, sizeof a));
  close(c);
  timer_delete(g_timer);
}
