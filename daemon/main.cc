// utcpd's entry point (DESIGN.md §1, §4): parse options, open the port, start the
// engine threads, then serve signals on this (control) thread until SIGINT/SIGTERM.
// Read daemon/engine_loop.h next. Signals are blocked in every thread and read from a
// signalfd here, so no handler and no global state is needed.
#include <malloc.h>
#include <poll.h>
#include <signal.h>
#include <sys/random.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <cstdio>
#include <string>
#include <string_view>
#include <vector>

#include "daemon/core/control_access.h"
#include "daemon/core/credentials.h"
#include "daemon/core/control_server.h"
#include "daemon/core/log.h"
#include "daemon/core/options.h"
#include "daemon/core/report.h"
#include "daemon/core/stats.h"
#include "daemon/engine_loop.h"
#include "dpdk_io/dpdk_port.h"

namespace utcp::daemon {
namespace {

constexpr auto kSnapshotWait = std::chrono::milliseconds(2000);

dpdk_io::EalOptions eal_options(const Options& o) {
  dpdk_io::EalOptions eal;
  eal.devargs = o.devargs;
  eal.cores = o.cores;
  eal.file_prefix = o.file_prefix.empty() ? "utcpd-" + std::to_string(::getpid()) : o.file_prefix;
  if (o.hugepages != Hugepages::kAuto) eal.hugepages = o.hugepages == Hugepages::kOn;
  eal.log_levels = o.dpdk_log_levels;
  // dpdk_io's own lines: its decisions (offloads, RSS) and link changes.
  eal.log = [](std::string_view line) {
    log(LogLevel::kNotice, "%.*s", static_cast<int>(line.size()), line.data());
  };
  return eal;
}

dpdk_io::PortOptions port_options(const Options& o) {
  dpdk_io::PortOptions port;
  port.queues = static_cast<std::uint16_t>(o.cores.empty() ? 1 : o.cores.size());
  port.mtu = o.mtu;
  return port;
}

bool random_secret(stack::isn::Secret* secret) {
  return ::getrandom(secret->data(), secret->size(), 0) == static_cast<ssize_t>(secret->size());
}

template <class Snapshots>
void print_counters(const Snapshots& snaps) {
  for (std::size_t e = 0; e < snaps.size(); ++e) {
    if constexpr (std::is_same_v<typename Snapshots::value_type, CounterSnapshot>) {
      std::fputs(format_snapshot(static_cast<std::uint16_t>(e), snaps[e]).c_str(), stdout);
    } else if (snaps[e]) {
      std::fputs(format_snapshot(static_cast<std::uint16_t>(e), *snaps[e]).c_str(), stdout);
    } else {
      log(LogLevel::kWarning, "engine %zu did not answer the counter request", e);
    }
  }
  std::fflush(stdout);
}

// `utcp stat` / `utcp ss`: the engines' reports, formatted (daemon/core/report.h).
std::string answer_query(EngineLoops& loops, shim::Query what, std::uint32_t flags) {
  const bool json = (flags & shim::kQueryJson) != 0;
  if (what == shim::Query::kStat) {
    return format_stat(loops.collect_reports(kSnapshotWait, false),
                       {.json = json, .all = (flags & shim::kQueryAll) != 0});
  }
  const SocketFilter filter = (flags & shim::kQueryListeners) ? SocketFilter::kListeners
                              : (flags & shim::kQueryAll)     ? SocketFilter::kAll
                                                              : SocketFilter::kConnections;
  return format_ss(loops.collect_reports(kSnapshotWait, true), {.json = json, .filter = filter});
}

ControlConfig control_config(const Options& opts, const ControlAccess& access,
                             const dpdk_io::Port& port, EngineLoops& loops) {
  ControlConfig cfg;
  cfg.path = opts.control_path;
  cfg.access = access;
  cfg.ip = opts.ip.value;
  cfg.prefix_len = static_cast<std::uint32_t>(opts.prefix_len);
  for (const auto& e : port.info().engines) cfg.engine_cpus.push_back(static_cast<int>(e.cpu));
  cfg.doorbells = loops.doorbells();
  cfg.report = [&loops](shim::Query what, std::uint32_t flags) {
    return answer_query(loops, what, flags);
  };
  return cfg;
}

// How often the control thread looks for signals (SIGTERM, SIGUSR1), at most.
constexpr int kSignalCheckMs = 10;

// Serves apps (the control socket) and signals until SIGINT or SIGTERM; polls the link
// once a second (it logs changes).
void control_loop(int sig_fd, dpdk_io::Port& port, EngineLoops& loops, ControlServer& control) {
  auto next_link_check = std::chrono::steady_clock::now();
  auto next_signal_check = next_link_check;
  for (;;) {
    if (!control.serve(100)) {
      log(LogLevel::kError, "control socket failed");
      return;
    }
    const auto now = std::chrono::steady_clock::now();
    if (now >= next_link_check) {
      port.link_up();
      next_link_check += std::chrono::seconds(1);
    }
    // Not after every batch: a busy control thread (an app opening and closing
    // thousands of sockets a second) would spend a syscall per batch on it.
    if (now < next_signal_check) continue;
    next_signal_check = now + std::chrono::milliseconds(kSignalCheckMs);
    pollfd pfd{sig_fd, POLLIN, 0};
    if (::poll(&pfd, 1, 0) <= 0) continue;
    signalfd_siginfo si{};
    if (::read(sig_fd, &si, sizeof si) != static_cast<ssize_t>(sizeof si)) continue;
    if (si.ssi_signo == SIGUSR1) {
      print_counters(loops.collect(kSnapshotWait));
      continue;
    }
    log(LogLevel::kNotice, "signal %u: stopping", si.ssi_signo);
    return;
  }
}

int run(const Options& opts, const ControlAccess& access) {
  set_log_level(opts.log_level);
  // Blocked before EAL starts its threads, so they all inherit the mask and only the
  // signalfd sees these signals. SIGPIPE: a closed stdout must not kill the daemon.
  sigset_t signals;
  sigemptyset(&signals);
  for (int s : {SIGINT, SIGTERM, SIGUSR1}) sigaddset(&signals, s);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  ::signal(SIGPIPE, SIG_IGN);
  const int sig_fd = ::signalfd(-1, &signals, SFD_CLOEXEC);

  stack::isn::Secret secret{};
  if (sig_fd < 0 || !random_secret(&secret)) {
    log(LogLevel::kError, "cannot set up signals or read randomness");
    return 1;
  }
  std::string error;
  auto port = dpdk_io::Port::open(eal_options(opts), port_options(opts), &error);
  if (!port) {
    log(LogLevel::kError, "%s", error.c_str());
    return 1;
  }
  std::printf("%s\n", dpdk_io::to_string(port->info()).c_str());
  if (opts.fault) std::printf("fault: %s\n", opts.fault_text.c_str());
  if (opts.ping) std::printf("ping: %s every second from engine 0\n", opts.ping->to_string().c_str());
  int rc = 0;
  {
    EngineLoops loops(*port, opts, secret);
    ControlServer control(control_config(opts, access, *port, loops), loops.mailboxes());
    if (!control.open(&error)) {
      log(LogLevel::kError, "%s", error.c_str());
      rc = 1;
    } else if (loops.start(&error)) {
      std::printf("control: %s (group %s, mode %04o)\n", control.path().c_str(),
                  opts.control_group.c_str(), static_cast<unsigned>(access.mode));
      std::printf("ready\n");
      std::fflush(stdout);
      control_loop(sig_fd, *port, loops, control);
      print_counters(loops.stop());
    } else {
      log(LogLevel::kError, "%s", error.c_str());
      rc = 1;
    }
  }
  port->close();
  ::close(sig_fd);
  return rc;
}

}  // namespace
}  // namespace utcp::daemon

int main(int argc, char** argv) {
  using namespace utcp::daemon;
  const std::vector<std::string_view> args(argv + 1, argv + argc);
  const ParseOutcome parsed = parse_options(args);
  switch (parsed.kind) {
    case ParseOutcome::Kind::kHelp:
      std::fputs(usage().c_str(), stdout);
      return 0;
    case ParseOutcome::Kind::kError:
      std::fprintf(stderr, "utcpd: %s\n", parsed.error.c_str());
      return 2;
    case ParseOutcome::Kind::kRun:
      break;
  }
  // Every connection allocates a 256 KiB send and a receive ring. Above glibc's default
  // mmap threshold each is its own mapping, unmapped again at close: 1,000 connections
  // opened and closed cost 2,000 mmap + 2,000 munmap calls on the engine thread (5 + 8
  // with this; utcpd's CPU for that burst ~5 % lower). Keep them in the heap and reuse
  // the memory. (Per-engine buffer pools are issue 5.)
  mallopt(M_MMAP_THRESHOLD, 16 << 20);
  mallopt(M_TRIM_THRESHOLD, 64 << 20);
  Options opts = parsed.options;
  opts.unprivileged_port_start = read_unprivileged_port_start();
  // Before the port opens: a missing group is a one-line refusal, not a half start.
  std::string error;
  int status = 1;
  const auto access = resolve_control_access(opts, &error, &status);
  if (!access) {
    std::fprintf(stderr, "utcpd: %s\n", error.c_str());
    return status;
  }
  return run(opts, *access);
}
