/* socket_api LOCAL_IP PEER_IP: runs every area of checks in a fixed order and prints one
 * line per check, then "summary: N checks". See README.md.
 * socket_api --exec-child ...: the re-executed child of the exec checks (checks_process.c). */
#include "common.h"

#include <arpa/inet.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* Weak, so the program builds while an area is being written; a missing area is a FAIL. */
#pragma weak checks_socket
#pragma weak checks_bind_listen
#pragma weak checks_accept_connect
#pragma weak checks_io
#pragma weak checks_io_errors
#pragma weak checks_sendfile
#pragma weak checks_opts
#pragma weak checks_server_opts
#pragma weak checks_fcntl_dup
#pragma weak checks_poll
#pragma weak checks_epoll
#pragma weak checks_process
#pragma weak checks_eintr
#pragma weak exec_child_main

static const struct {
  const char *name;
  void (*fn)(void);
} areas[] = {
    {"socket", checks_socket},   {"bind_listen", checks_bind_listen},
    {"accept_connect", checks_accept_connect},
    {"io", checks_io},           {"io_errors", checks_io_errors},
    {"sendfile", checks_sendfile},
    {"opts", checks_opts},       {"server_opts", checks_server_opts},
    {"fcntl_dup", checks_fcntl_dup},
    {"poll", checks_poll},       {"epoll", checks_epoll},
    {"process", checks_process}, {"eintr", checks_eintr},
};

int main(int argc, char **argv) {
  g_self = "/proc/self/exe";
  /* Line buffered, so a watchdog exit or a fork never loses or duplicates lines. */
  setvbuf(stdout, NULL, _IOLBF, 0);
  if (argc >= 2 && strcmp(argv[1], "--exec-child") == 0)
    return exec_child_main ? exec_child_main(argc, argv) : 2;
  if (argc != 3 || inet_pton(AF_INET, argv[1], &g_local) != 1 ||
      inet_pton(AF_INET, argv[2], &g_peer) != 1) {
    fprintf(stderr, "usage: socket_api LOCAL_IP PEER_IP\n");
    return 2;
  }
  /* SIGPIPE is ignored except where a check is about it (those install their own). */
  signal(SIGPIPE, SIG_IGN);
  area("control");
  if (ctl_open() < 0) {
    fail("control", "no control connection to the peer");
    return 1;
  }
  for (size_t i = 0; i < sizeof areas / sizeof areas[0]; i++) {
    if (!areas[i].fn) {
      fail(areas[i].name, "area not built");
      continue;
    }
    area(areas[i].name);
    areas[i].fn();
  }
  alarm(0);
  printf("summary: %d checks\n", g_checks);
  return 0;
}
