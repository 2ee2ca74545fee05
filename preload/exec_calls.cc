// execve and friends, posix_spawn: utcp sockets survive exec unless close-on-exec
// (DESIGN.md §3 "fork, exec"). The placeholders are kernel fds, so exec keeps them by
// itself; what the new image needs is the rest, passed in its environment:
//   UTCP_FAMILY_FD  the family's region memfd (kept open across exec for this)
//   UTCP_FDS        fd:slot:generation:owner:flags[:kernel_half],... for each socket
//   LD_PRELOAD      this library, added when the caller's environment lacks it (nginx
//                   execs its new binary with only the variables it chose), and the
//                   UTCP_* settings this process started with.
// The new image's constructor (adopt_inherited) rebuilds the fd table from it; its
// first call on such a socket joins the family (Client::get) and asks for its events.
#include <dlfcn.h>
#include <fcntl.h>
#include <spawn.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdarg>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "preload/ops.h"
#include "preload/real.h"

using namespace utcp::preload;

extern char** environ;

namespace {

constexpr unsigned kListening = 1, kNonblocking = 2;

std::string self_path() {
  Dl_info info{};
  if (::dladdr(reinterpret_cast<void*>(&self_path), &info) != 0 && info.dli_fname != nullptr) {
    return info.dli_fname;
  }
  return {};
}

bool has_var(char* const* envp, const char* name) {
  const std::size_t n = std::strlen(name);
  for (char* const* e = envp; e != nullptr && *e != nullptr; ++e) {
    if (std::strncmp(*e, name, n) == 0 && (*e)[n] == '=') return true;
  }
  return false;
}

// What an exec must carry: built before the exec, undone if it fails.
class ExecHandover {
 public:
  explicit ExecHandover(char* const* envp) {
    const int memfd = Client::family_memfd();
    std::string fds;
    const Real& r = real();
    for (auto& [fd, s] : fd_table::all()) {
      if (s->mode != USocket::Mode::kUtcp) continue;
      const int flags = r.fcntl(fd, F_GETFD);
      if (flags < 0 || (flags & FD_CLOEXEC)) continue;
      unsigned bits = (s->listening ? kListening : 0) | (s->nonblocking ? kNonblocking : 0);
      if (!fds.empty()) fds += ',';
      fds += std::to_string(fd) + ':' + std::to_string(s->slot) + ':' +
             std::to_string(s->generation) + ':' + std::to_string(s->owner) + ':' +
             std::to_string(bits);
      if (s->kernel_half >= 0) {
        clear_cloexec(s->kernel_half);
        fds += ':' + std::to_string(s->kernel_half);
      }
    }
    for (char* const* e = envp; e != nullptr && *e != nullptr; ++e) {
      if (std::strncmp(*e, "UTCP_FDS=", 9) != 0 && std::strncmp(*e, "UTCP_FAMILY_FD=", 15) != 0) {
        strings_.emplace_back(*e);
      }
    }
    if (!fds.empty() && memfd >= 0) {
      clear_cloexec(memfd);
      strings_.push_back("UTCP_FDS=" + fds);
      strings_.push_back("UTCP_FAMILY_FD=" + std::to_string(memfd));
      if (!has_var(envp, "LD_PRELOAD")) strings_.push_back("LD_PRELOAD=" + self_path());
    }
    for (const char* name : {"UTCP_CONTROL", "UTCP_FALLBACK"}) {
      if (!has_var(envp, name)) {
        if (const char* v = Client::start_setting(name)) strings_.push_back(std::string(name) + '=' + v);
      }
    }
    for (auto& s : strings_) env_.push_back(s.data());
    env_.push_back(nullptr);
  }
  ~ExecHandover() {
    // Only reached when the exec failed: the fds go back to close-on-exec.
    const Real& r = real();
    for (int fd : cleared_) r.fcntl(fd, F_SETFD, FD_CLOEXEC);
  }
  ExecHandover(const ExecHandover&) = delete;
  ExecHandover& operator=(const ExecHandover&) = delete;

  char* const* envp() { return env_.data(); }

 private:
  void clear_cloexec(int fd) {
    const Real& r = real();
    const int flags = r.fcntl(fd, F_GETFD);
    if (flags >= 0 && (flags & FD_CLOEXEC)) {
      r.fcntl(fd, F_SETFD, flags & ~FD_CLOEXEC);
      cleared_.push_back(fd);
    }
  }

  std::vector<std::string> strings_;
  std::vector<char*> env_;
  std::vector<int> cleared_;
};

std::vector<char*> collect_args(const char* first, va_list ap, char*** envp_out) {
  std::vector<char*> args{const_cast<char*>(first)};
  while (args.back() != nullptr) args.push_back(va_arg(ap, char*));
  if (envp_out != nullptr) *envp_out = va_arg(ap, char**);
  return args;
}

using ExecvpeFn = int (*)(const char*, char* const[], char* const[]);
using SpawnFn = int (*)(pid_t*, const char*, const posix_spawn_file_actions_t*,
                        const posix_spawnattr_t*, char* const[], char* const[]);

template <class Fn>
Fn next(const char* name) {
  return reinterpret_cast<Fn>(::dlsym(RTLD_NEXT, name));
}

// Rebuilds the fd table of an exec'd image from UTCP_FDS (see the top of this file).
__attribute__((constructor)) void adopt_inherited() {
  const char* list = std::getenv("UTCP_FDS");
  if (list == nullptr) return;
  std::string text(list);
  ::unsetenv("UTCP_FDS");  // not for our own children: they get a fresh list
  std::size_t at = 0;
  while (at < text.size()) {
    std::size_t end = text.find(',', at);
    if (end == std::string::npos) end = text.size();
    unsigned long v[6] = {0, 0, 0, 0, 0, ~0ul};
    int n = 0;
    const char* p = text.c_str() + at;
    char* stop = nullptr;
    while (n < 6 && p < text.c_str() + end) {
      v[n++] = std::strtoul(p, &stop, 10);
      p = (*stop == ':') ? stop + 1 : text.c_str() + end;
    }
    at = end + 1;
    struct stat st {};
    const int fd = static_cast<int>(v[0]);
    if (n < 5 || ::fstat(fd, &st) != 0 || !S_ISSOCK(st.st_mode)) continue;
    auto s = std::make_shared<USocket>();
    s->mode = USocket::Mode::kUtcp;
    s->slot = static_cast<std::uint32_t>(v[1]);
    s->generation = static_cast<std::uint32_t>(v[2]);
    s->owner = static_cast<std::uint32_t>(v[3]);
    s->listening = (v[4] & kListening) != 0;
    s->nonblocking = (v[4] & kNonblocking) != 0;
    s->bound = true;
    if (n == 6) {
      s->kernel_half = static_cast<int>(v[5]);
      real().fcntl(s->kernel_half, F_SETFD, FD_CLOEXEC);
    }
    fd_table::set(fd, std::move(s));
  }
}

}  // namespace

extern "C" {

int execve(const char* path, char* const argv[], char* const envp[]) {
  ExecHandover h(envp);
  return real().execve(path, argv, h.envp());
}

int execv(const char* path, char* const argv[]) { return execve(path, argv, environ); }

int execvpe(const char* file, char* const argv[], char* const envp[]) {
  static const auto fn = next<ExecvpeFn>("execvpe");
  ExecHandover h(envp);
  return fn(file, argv, h.envp());
}

int execvp(const char* file, char* const argv[]) { return execvpe(file, argv, environ); }

int execl(const char* path, const char* arg, ...) {
  va_list ap;
  va_start(ap, arg);
  std::vector<char*> args = collect_args(arg, ap, nullptr);
  va_end(ap);
  return execve(path, args.data(), environ);
}

int execlp(const char* file, const char* arg, ...) {
  va_list ap;
  va_start(ap, arg);
  std::vector<char*> args = collect_args(arg, ap, nullptr);
  va_end(ap);
  return execvpe(file, args.data(), environ);
}

int execle(const char* path, const char* arg, ...) {
  va_list ap;
  va_start(ap, arg);
  char** envp = nullptr;
  std::vector<char*> args = collect_args(arg, ap, &envp);
  va_end(ap);
  return execve(path, args.data(), envp);
}

// vfork's child borrows the parent's memory until it execs or exits: an interposed
// close() there would edit the parent's fd table. POSIX allows vfork to be fork, so
// it is (glibc's posix_spawn, system and popen never come here).
pid_t vfork() { return real().fork(); }

int posix_spawn(pid_t* pid, const char* path, const posix_spawn_file_actions_t* actions,
                const posix_spawnattr_t* attr, char* const argv[], char* const envp[]) {
  static const auto fn = next<SpawnFn>("posix_spawn");
  ExecHandover h(envp);
  return fn(pid, path, actions, attr, argv, h.envp());
}

int posix_spawnp(pid_t* pid, const char* file, const posix_spawn_file_actions_t* actions,
                 const posix_spawnattr_t* attr, char* const argv[], char* const envp[]) {
  static const auto fn = next<SpawnFn>("posix_spawnp");
  ExecHandover h(envp);
  return fn(pid, file, actions, attr, argv, h.envp());
}

}  // extern "C"
