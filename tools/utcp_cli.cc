// utcp: the command people type (DESIGN.md §4).
//   utcp run [--control PATH] [--fallback-kernel] [--] CMD [ARGS...]
//     runs CMD with LD_PRELOAD=libutcp.so (and UTCP_CONTROL / UTCP_FALLBACK), so its
//     TCP goes through utcpd. libutcp.so is found next to this binary (the build tree's
//     ../preload/, or an install's ../lib/), or where UTCP_LIB says.
//   utcp stat [--control PATH] [--json] [-a]
//     the engines' counters: a row per counter, a column per engine and the total
//     (-a: also those still zero).
//   utcp ss [--control PATH] [--json] [-l | -a]
//     connections like `ss -tni` (-l: listeners instead, -a: both).
//   stat and ss ask the running utcpd over its control socket (shim/control.h: kQuery);
//   it answers with a memfd holding the text, which is copied to stdout. Who may ask is
//   who may attach: root and the socket's group (docs/security.md).
#include <limits.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

#include "shim/attach_denied.h"
#include "shim/control.h"

namespace {

int usage(FILE* out) {
  std::fputs(
      "usage: utcp run [--control PATH] [--fallback-kernel] [--] CMD [ARGS...]\n"
      "  Runs CMD with its TCP on utcp (LD_PRELOAD=libutcp.so), talking to the utcpd at\n"
      "  PATH (default: $UTCP_CONTROL, else /run/utcp/utcpd.sock). With --fallback-kernel\n"
      "  CMD runs on the kernel stack when utcpd is not reachable or this user may not\n"
      "  attach (not in the control socket's group; else its TCP fails).\n"
      "  UTCP_LIB overrides where libutcp.so is.\n"
      "usage: utcp stat [--control PATH] [--json] [-a]\n"
      "  utcpd's counters per engine (-a: also those still zero).\n"
      "usage: utcp ss [--control PATH] [--json] [-l | -a]\n"
      "  utcpd's connections like ss -tni (-l: listening sockets instead, -a: both).\n",
      out);
  return out == stdout ? 0 : 2;
}

std::string self_dir() {
  char buf[PATH_MAX];
  const ssize_t n = ::readlink("/proc/self/exe", buf, sizeof buf - 1);
  if (n <= 0) return ".";
  std::string path(buf, static_cast<std::size_t>(n));
  return path.substr(0, path.rfind('/'));
}

std::string find_lib() {
  if (const char* env = std::getenv("UTCP_LIB"); env != nullptr && *env != '\0') return env;
  const std::string dir = self_dir();
  for (const char* rel : {"/../preload/libutcp.so", "/../lib/libutcp.so", "/libutcp.so"}) {
    std::string candidate = dir + rel;
    if (::access(candidate.c_str(), R_OK) == 0) {
      char real[PATH_MAX];
      return ::realpath(candidate.c_str(), real) != nullptr ? real : candidate;
    }
  }
  return {};
}

int run(std::vector<std::string_view> args) {
  std::string control;
  bool fallback = false;
  std::size_t i = 0;
  for (; i < args.size(); ++i) {
    if (args[i] == "--") {
      ++i;
      break;
    }
    if (args[i] == "--control" && i + 1 < args.size()) {
      control = args[++i];
    } else if (args[i].starts_with("--control=")) {
      control = args[i].substr(10);
    } else if (args[i] == "--fallback-kernel") {
      fallback = true;
    } else if (args[i].starts_with("-")) {
      std::fprintf(stderr, "utcp run: unknown option %.*s\n", static_cast<int>(args[i].size()),
                   args[i].data());
      return 2;
    } else {
      break;
    }
  }
  if (i >= args.size()) return usage(stderr);
  const std::string lib = find_lib();
  if (lib.empty()) {
    std::fprintf(stderr, "utcp run: libutcp.so not found next to %s (set UTCP_LIB)\n", self_dir().c_str());
    return 2;
  }
  // Ours first, then whatever the caller preloads already.
  std::string preload = lib;
  if (const char* old = std::getenv("LD_PRELOAD"); old != nullptr && *old != '\0') {
    preload += ':';
    preload += old;
  }
  ::setenv("LD_PRELOAD", preload.c_str(), 1);
  if (!control.empty()) ::setenv("UTCP_CONTROL", control.c_str(), 1);
  if (fallback) ::setenv("UTCP_FALLBACK", "kernel", 1);
  std::vector<std::string> owned(args.begin() + static_cast<std::ptrdiff_t>(i), args.end());
  std::vector<char*> argv;
  for (auto& a : owned) argv.push_back(a.data());
  argv.push_back(nullptr);
  ::execvp(argv[0], argv.data());
  std::fprintf(stderr, "utcp run: cannot run %s: %s\n", argv[0], std::strerror(errno));
  return 127;
}

std::string default_control() {
  const char* env = std::getenv("UTCP_CONTROL");
  return env != nullptr && *env != '\0' ? env : utcp::shim::kDefaultControlPath;
}

// utcp stat / utcp ss: one kQuery on the control socket, the answer's memfd to stdout.
int query(std::string_view cmd, std::vector<std::string_view> args) {
  namespace shim = utcp::shim;
  const bool ss = cmd == "ss";
  std::string control = default_control();
  std::uint32_t flags = 0;
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string_view a = args[i];
    if (a == "--control" && i + 1 < args.size()) {
      control = args[++i];
    } else if (a.starts_with("--control=")) {
      control = a.substr(10);
    } else if (a == "--json") {
      flags |= shim::kQueryJson;
    } else if (a == "-a" || a == "--all") {
      flags |= shim::kQueryAll;
    } else if (ss && (a == "-l" || a == "--listening")) {
      flags |= shim::kQueryListeners;
    } else {
      std::fprintf(stderr, "utcp %.*s: unknown option %.*s\n", static_cast<int>(cmd.size()),
                   cmd.data(), static_cast<int>(a.size()), a.data());
      return 2;
    }
  }
  const int sock = ::socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strncpy(addr.sun_path, control.c_str(), sizeof addr.sun_path - 1);
  if (sock < 0 || ::connect(sock, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    if (errno == EACCES) {  // the socket's mode and group keep this user out
      std::fprintf(stderr, "utcp %.*s: %s\n", static_cast<int>(cmd.size()), cmd.data(),
                   shim::attach_denied_line(control).c_str());
    } else {
      std::fprintf(stderr, "utcp %.*s: utcpd is not reachable at %s (%s)\n",
                   static_cast<int>(cmd.size()), cmd.data(), control.c_str(), std::strerror(errno));
    }
    return 1;
  }
  shim::ControlMsg msg;
  msg.kind = shim::ControlKind::kQuery;
  msg.pid = ::getpid();
  msg.slot = static_cast<std::uint32_t>(ss ? shim::Query::kSockets : shim::Query::kStat);
  msg.generation = flags;
  shim::ControlMsg answer;
  int fds[shim::kMaxPassedFds];
  std::size_t nfds = 0;
  if (!shim::send_control(sock, msg, {}) || shim::recv_control(sock, &answer, fds, &nfds) != 0 ||
      answer.kind != shim::ControlKind::kReport) {
    std::fprintf(stderr, "utcp %.*s: no answer from utcpd at %s\n", static_cast<int>(cmd.size()),
                 cmd.data(), control.c_str());
    return 1;
  }
  if (answer.status != 0 || nfds != 1) {
    std::fprintf(stderr, "utcp %.*s: utcpd could not answer: %s\n", static_cast<int>(cmd.size()),
                 cmd.data(), std::strerror(answer.status != 0 ? answer.status : EPROTO));
    return 1;
  }
  char buf[65536];
  for (;;) {
    const ssize_t n = ::read(fds[0], buf, sizeof buf);
    if (n <= 0) break;
    if (std::fwrite(buf, 1, static_cast<std::size_t>(n), stdout) != static_cast<std::size_t>(n)) {
      return 1;  // stdout closed (utcp ss | head)
    }
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string_view> args(argv + 1, argv + argc);
  if (args.empty()) return usage(stderr);
  if (args[0] == "-h" || args[0] == "--help" || args[0] == "help") return usage(stdout);
  if (args[0] == "run") return run({args.begin() + 1, args.end()});
  if (args[0] == "stat" || args[0] == "ss") return query(args[0], {args.begin() + 1, args.end()});
  std::fprintf(stderr, "utcp: unknown command %s\n", argv[1]);
  return usage(stderr);
}
