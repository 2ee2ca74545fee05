// The engine threads (read engine_loop.h first). Loop: poll the engine, run the
// services, answer a snapshot request, then (IdlePolicy) spin or sleep with the
// prepare_sleep / epoll_wait / finish_sleep protocol of dpdk_port.h.
// On stop: reset open connections, poll until the RSTs left, publish the final counters.
#include "daemon/engine_loop.h"

#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cstdio>
#include <memory>

#include "daemon/core/idle_policy.h"
#include "daemon/core/log.h"
#include "daemon/core/pcap_capture.h"
#include "daemon/core/services.h"
#include "daemon/core/shim_server.h"
#include "stack/engine/engine.h"
#include "stack/io/fault_injector.h"

namespace utcp::daemon {
namespace {

constexpr int kShutdownPolls = 1000;  // bound on polls that flush the final RSTs

// Wall-clock minus steady-clock microseconds: pcap timestamps are wall-clock times.
std::int64_t realtime_offset_us() {
  using namespace std::chrono;
  return duration_cast<microseconds>(system_clock::now().time_since_epoch()).count() -
         duration_cast<microseconds>(steady_clock::now().time_since_epoch()).count();
}

stack::Instant clock_now() {
  using namespace std::chrono;
  return stack::instant_from_us(
      duration_cast<microseconds>(steady_clock::now().time_since_epoch()).count());
}

}  // namespace

EngineLoops::EngineLoops(dpdk_io::Port& port, const Options& opts,
                         const stack::isn::Secret& secret)
    : port_(port), opts_(opts), secret_(secret), count_(port.info().queues),
      snapshots_(count_), served_(count_, 0), exited_(count_, false) {
  for (std::uint16_t e = 0; e < count_; ++e) {
    wake_fds_.push_back(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
    mailboxes_.push_back(std::make_unique<Mailbox>());
  }
}

EngineLoops::~EngineLoops() {
  if (started_) stop();
  for (int fd : wake_fds_) {
    if (fd >= 0) ::close(fd);
  }
}

bool EngineLoops::start(std::string* error) {
  for (int fd : wake_fds_) {
    if (fd < 0) {
      *error = "eventfd failed";
      return false;
    }
  }
  started_ = port_.start_engines([this](std::uint16_t e) { run(e); }, error);
  return started_;
}

std::vector<Mailbox*> EngineLoops::mailboxes() const {
  std::vector<Mailbox*> out;
  for (const auto& m : mailboxes_) out.push_back(m.get());
  return out;
}

void EngineLoops::wake(std::uint16_t e) {
  const std::uint64_t one = 1;
  [[maybe_unused]] const ssize_t w = ::write(wake_fds_[e], &one, sizeof one);
}

void EngineLoops::publish(std::uint16_t e, EngineReport report, std::uint64_t generation) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    snapshots_[e] = std::move(report);
    served_[e] = generation;
  }
  published_cv_.notify_all();
}

std::vector<std::optional<CounterSnapshot>> EngineLoops::collect(std::chrono::milliseconds timeout) {
  std::vector<std::optional<CounterSnapshot>> out;
  for (auto& r : collect_reports(timeout, false)) {
    out.push_back(r ? std::optional<CounterSnapshot>(std::move(r->counters)) : std::nullopt);
  }
  return out;
}

std::vector<std::optional<EngineReport>> EngineLoops::collect_reports(
    std::chrono::milliseconds timeout, bool with_sockets) {
  want_sockets_.store(with_sockets);
  const std::uint64_t gen = requested_.fetch_add(1) + 1;
  for (std::uint16_t e = 0; e < count_; ++e) wake(e);
  std::unique_lock<std::mutex> lock(mu_);
  published_cv_.wait_for(lock, timeout, [&] {
    for (std::uint16_t e = 0; e < count_; ++e) {
      if (served_[e] < gen && !exited_[e]) return false;
    }
    return true;
  });
  std::vector<std::optional<EngineReport>> out(count_);
  for (std::uint16_t e = 0; e < count_; ++e) {
    if (served_[e] >= gen || exited_[e]) out[e] = snapshots_[e];
  }
  return out;
}

std::vector<CounterSnapshot> EngineLoops::stop() {
  stop_.store(true);
  for (std::uint16_t e = 0; e < count_; ++e) wake(e);
  if (started_) port_.wait_engines();
  started_ = false;
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<CounterSnapshot> out;
  for (const EngineReport& r : snapshots_) out.push_back(r.counters);
  return out;
}

void EngineLoops::run(std::uint16_t e) {
  stack::io::PacketIo* io = &port_.queue(e);
  std::unique_ptr<stack::io::FaultInjector> fault;
  if (opts_.fault) {
    stack::io::FaultSpec spec = *opts_.fault;
    spec.seed += e;  // engines draw different faults from one --fault seed
    fault = std::make_unique<stack::io::FaultInjector>(*io, spec);
    io = fault.get();
  }
  // Inside the fault injector: the capture shows what the engine itself got and sent.
  std::unique_ptr<PcapCapture> capture;
  if (!opts_.pcap_path.empty()) {
    const std::string path = e == 0 ? opts_.pcap_path : opts_.pcap_path + "." + std::to_string(e);
    capture = std::make_unique<PcapCapture>(*io, path, realtime_offset_us());
    if (capture->ok()) {
      io = capture.get();
    } else {
      log(LogLevel::kWarning, "engine %u: cannot write %s: no capture", e, path.c_str());
      capture.reset();
    }
  }
  stack::Instant now = clock_now();
  auto engine = std::make_unique<stack::engine::Engine>(
      engine_config(opts_, e, count_, port_.rss_key(), port_.reta(), secret_), *io, now);
  std::string error;
  Services services(*engine, {opts_.echo_port, opts_.discard_port, opts_.http_port}, &error);
  if (!error.empty()) log(LogLevel::kError, "engine %u: %s", e, error.c_str());
  // The shim drains the engine's events; those of the services' sockets go to them.
  ShimServer shim(
      *engine, e, [&](const stack::engine::SocketEvent& ev) { services.handle(ev, now); },
      opts_.unprivileged_port_start);
  Mailbox& mail = *mailboxes_[e];

  const int ep = ::epoll_create1(EPOLL_CLOEXEC);
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.fd = port_.wakeup_fd(e);
  ::epoll_ctl(ep, EPOLL_CTL_ADD, port_.wakeup_fd(e), &ev);
  ev.data.fd = wake_fds_[e];
  ::epoll_ctl(ep, EPOLL_CTL_ADD, wake_fds_[e], &ev);

  // The kernel's default timer slack (50 us) would stretch the 20 us polling sleeps of
  // a queue without interrupts; 1 us keeps them what IdlePolicy asked for.
  ::prctl(PR_SET_TIMERSLACK, 1000UL);
  IdlePolicy idle({.busy_poll = opts_.poll == PollMode::kBusy,
                   .rx_interrupts = port_.info().engines[e].rx_interrupt});
  std::uint64_t served = 0;
  // --ping: engine 0 only, once a second, like ping(8); the ident tells our echoes apart.
  const bool pinger = opts_.ping && e == 0;
  const auto ping_ident = static_cast<std::uint16_t>(::getpid());
  std::uint16_t ping_seq = 0;
  stack::Instant next_ping = pinger ? now : stack::kNever;
  while (!stop_.load(std::memory_order_relaxed)) {
    now = clock_now();
    std::size_t work = 0;
    if (now >= next_ping) {
      (void)engine->ping(*opts_.ping, ping_ident, ++ping_seq, now);
      next_ping = now + std::chrono::seconds(1);
      ++work;
    }
    work += engine->poll(now);
    work += shim.run(now, mail);
    if (const std::uint64_t want = requested_.load(std::memory_order_acquire); want != served) {
      served = want;
      EngineReport report{snapshot(engine->counters(), services.counters(), shim.counters(), fault.get()), {}};
      if (want_sockets_.load()) report.sockets = engine->report_sockets();
      publish(e, std::move(report), want);
    }
    if (!idle.after_round(work)) continue;
    const std::int64_t timeout_us = idle.sleep_timeout_us(now, std::min(engine->next_deadline(), next_ping));
    // The doorbell (wake_fds_[e]) is also what apps ring once the shim announced the
    // sleep; the last look at their rings comes after the announcement.
    bool port_woken = false;
    if (port_.prepare_sleep(e)) {
      if (shim.prepare_sleep() && mail.prepare_sleep()) {
        std::array<epoll_event, 4> evs{};
        // epoll_pwait2: microseconds (epoll_wait's milliseconds would round 20 us to 1 ms).
        timespec ts{static_cast<time_t>(timeout_us / 1000000), static_cast<long>(timeout_us % 1000000) * 1000};
        const int n = ::epoll_pwait2(ep, evs.data(), static_cast<int>(evs.size()),
                                     timeout_us < 0 ? nullptr : &ts, nullptr);
        // Most sleeps end by timeout (a queue without interrupts): no read then.
        for (int i = 0; i < n; ++i) {
          const int fd = evs[static_cast<std::size_t>(i)].data.fd;
          port_woken |= fd == port_.wakeup_fd(e);
          if (fd != wake_fds_[e]) continue;
          std::uint64_t drained = 0;
          [[maybe_unused]] const ssize_t r = ::read(wake_fds_[e], &drained, sizeof drained);
        }
      }
      mail.finish_sleep();
      shim.finish_sleep();
      port_.finish_sleep(e, port_woken);
    }
  }

  // Shutdown: RSTs for what is open (the peers learn at once instead of timing out),
  // then poll until the engine has nothing left to send.
  now = clock_now();
  services.abort_all(now);
  shim.abort_all(now);
  for (int i = 0; i < kShutdownPolls; ++i) {
    if (engine->poll(clock_now()) == 0 && i > 0) break;
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    snapshots_[e] = {snapshot(engine->counters(), services.counters(), shim.counters(), fault.get()), {}};
    exited_[e] = true;
  }
  published_cv_.notify_all();
  // The engine hands its buffers back through the capture and the injector, then the
  // injector its held frames to the port.
  engine.reset();
  if (capture) {
    log(capture->ok() ? LogLevel::kNotice : LogLevel::kWarning, "engine %u: %llu frames captured%s",
        e, static_cast<unsigned long long>(capture->frames()),
        capture->ok() ? "" : " (writing failed: the capture is cut short)");
  }
  capture.reset();
  fault.reset();
  ::close(ep);
}

}  // namespace utcp::daemon
