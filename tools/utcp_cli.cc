// utcp: the command people type (DESIGN.md §4).
//   utcp run [--control PATH] [--fallback-kernel] [--] CMD [ARGS...]
//     runs CMD with LD_PRELOAD=libutcp.so (and UTCP_CONTROL / UTCP_FALLBACK), so its
//     TCP goes through utcpd. libutcp.so is found next to this binary (the build tree's
//     ../preload/, or an install's ../lib/), or where UTCP_LIB says.
//   utcp stat / utcp ss: not yet (issue 6): they print so and exit 2.
#include <limits.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

namespace {

int usage(FILE* out) {
  std::fputs(
      "usage: utcp run [--control PATH] [--fallback-kernel] [--] CMD [ARGS...]\n"
      "  Runs CMD with its TCP on utcp (LD_PRELOAD=libutcp.so), talking to the utcpd at\n"
      "  PATH (default: $UTCP_CONTROL, else /run/utcp/utcpd.sock). With --fallback-kernel\n"
      "  CMD runs on the kernel stack when utcpd is not reachable (else its TCP fails).\n"
      "  UTCP_LIB overrides where libutcp.so is.\n"
      "utcp stat | utcp ss: not implemented yet (issue 6).\n",
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

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string_view> args(argv + 1, argv + argc);
  if (args.empty()) return usage(stderr);
  if (args[0] == "-h" || args[0] == "--help" || args[0] == "help") return usage(stdout);
  if (args[0] == "run") return run({args.begin() + 1, args.end()});
  if (args[0] == "stat" || args[0] == "ss") {
    std::fprintf(stderr, "utcp %s: not implemented yet (issue 6); utcpd prints its counters on SIGUSR1\n",
                 argv[1]);
    return 2;
  }
  std::fprintf(stderr, "utcp: unknown command %s\n", argv[1]);
  return usage(stderr);
}
