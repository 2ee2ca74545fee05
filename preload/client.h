// Client: this process's attachment to utcpd (shim/control.h, shim/protocol.h): the
// control connection, the mapped region, this process's channel (a command, reply and
// event ring per engine) and the sleep/wake machinery every blocking call uses.
//
// Attaching is lazy: the first socket that needs utcp attaches, so a process that
// never opens one (a shell started by the app) costs nothing. The child of an attached
// process joins the same family with a channel of its own at fork (an atfork handler):
// a child that sandboxes itself right away (sshd's privilege separation: chroot,
// RLIMIT_NOFILE 0, seccomp) could neither reach the control socket nor make an fd
// later. An exec'd image joins on its first utcp call.
//
// Sleeping (DESIGN.md §3 "epoll and blocking"): a thread that must wait registers a
// wake-up eventfd of its own, announces that the process sleeps (the channel's sleep
// count), looks at its condition once more, then sleeps in the kernel on the channel's
// wake eventfd (which the engines write), its own eventfd, the control socket (utcpd's
// death) and whatever kernel fds the call also waits for. The thread that consumes the
// channel's wake-up writes every other sleeper's eventfd, so nobody misses one.
#pragma once

#include <poll.h>
#include <sys/types.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <vector>

#include "shim/control.h"
#include "shim/protocol.h"

namespace utcp::preload {

// This process's pid without a syscall (glibc no longer caches getpid(), and every
// interposed call asks "am I the process that attached?"). Kept right across fork by
// an atfork handler; vfork children never run interposed code before exec.
pid_t self_pid();

// When a wait ends: never (blocking), or at a point on the monotonic clock. Kept to the
// nanosecond, as the kernel keeps its timeouts: a wait never ends before its timeout
// (a remaining 0.9 ms rounded down to 0 would end it early, then spin).
class Deadline {
 public:
  using Clock = std::chrono::steady_clock;
  static Deadline never() { return Deadline(); }
  // timeout_ms < 0: never; 0: now (poll once).
  static Deadline after_ms(long timeout_ms) {
    Deadline d;
    if (timeout_ms >= 0) d.at_ = Clock::now() + std::chrono::milliseconds(timeout_ms);
    return d;
  }
  bool is_never() const { return !at_.has_value(); }
  bool passed() const { return at_.has_value() && Clock::now() >= *at_; }
  // The time left (0 once passed), for ppoll; only when !is_never().
  timespec left() const;

 private:
  std::optional<Clock::time_point> at_;
};

class Client {
 public:
  // The process's client, attached (or joined after fork) on first use. nullptr when
  // utcpd cannot be reached (errno ENETDOWN) or its control socket's permissions keep
  // this process out (EACCES), and one line went to stderr (none with UTCP_FALLBACK=kernel).
  static Client* get();
  // The errno of a bind, connect or listen that needed utcp after get() failed:
  // EACCES (permission denied on the control socket) or ENETDOWN (docs/preload.md).
  static int attach_errno();
  // The client if this process is attached already (no attach attempt).
  static Client* current();
  // UTCP_FALLBACK=kernel and utcpd is not reachable or refused by the socket's
  // permissions: every socket stays on the kernel.
  static bool kernel_fallback();
  // Whether addr (network order) belongs to utcp: its own address (bind), or a
  // destination in its subnet (connect). Reads the control path's daemon lazily.
  static bool is_utcp_local(std::uint32_t addr_net);
  // UTCP_CONTROL / UTCP_FALLBACK as this process started with them (nullptr: unset),
  // for children whose environment the program rebuilt.
  static const char* start_setting(const char* name);
  // The family's region memfd, also in a forked child that has not joined yet (-1: none).
  static int family_memfd();
  // In the child of an attached process (atfork): joins the family now, with the
  // calling thread's wake-up eventfd (see client.cc's child_after_fork).
  static void join_at_fork();

  const shim::RegionView& view() const { return *view_; }
  const shim::Geometry& geometry() const { return geometry_; }
  std::uint32_t channel() const { return channel_; }
  std::uint32_t ip() const { return ip_; }  // host order
  std::uint32_t prefix_len() const { return prefix_len_; }
  int memfd() const { return memfd_; }
  // The engine serving the CPU this thread runs on (the one an accept or connect
  // should try first).
  std::uint32_t home_engine() const;

  // One command to engine e and its reply. -ENETDOWN (in reply.result) when utcpd died.
  shim::Reply call(std::uint32_t e, shim::Command cmd);
  // A command that has no reply (kKick, kWatch, kClose).
  void post(std::uint32_t e, shim::Command cmd);
  // Registers the placeholder of (slot, generation): sends the daemon its end.
  bool register_placeholder(std::uint32_t slot, std::uint32_t generation, int daemon_end);
  // Returns once utcpd's engines have released every socket this process closed so far
  // (close() is asynchronous otherwise: see bind(), and close() of a listener).
  bool sync_releases();

  // Takes the engines' events (slot, generation) out of the rings; `sink` sees each.
  // Returns false when an event ring overflowed (everything must be looked at).
  bool drain_events(const std::function<void(std::uint32_t slot)>& sink);

  // Waits until ready() is true, utcpd dies, a kernel fd in `extra` is ready, or the
  // deadline passes (never before it). Returns: 1 ready(), 0 timeout, -1 errno (EINTR).
  // `extra` revents are filled in. ready() is called with no lock held. `own_fd` is
  // the eventfd other threads write to pass a wake-up on (default: the thread's own;
  // an epoll instance passes its own, so every thread waiting on it is reached).
  int wait(const std::function<bool()>& ready, std::span<pollfd> extra, Deadline deadline,
           int own_fd = -1);
  // The same with a timeout in ms (-1: none) from now.
  int wait(const std::function<bool()>& ready, std::span<pollfd> extra, int timeout_ms,
           int own_fd = -1) {
    return wait(ready, extra, Deadline::after_ms(timeout_ms), own_fd);
  }
  bool daemon_gone() const { return daemon_gone_.load(std::memory_order_relaxed); }

 private:
  Client() = default;
  bool attach(bool join);
  // After a failed attach: closes and unregisters what it made.
  void drop_fds();
  // Closes the control socket, wake-up eventfd and doorbells (not the memfd).
  void close_channel_fds();
  void ring_doorbell(std::uint32_t e);
  void check_daemon();

  pid_t pid_ = 0;
  int control_fd_ = -1;
  int wake_fd_ = -1;
  int memfd_ = -1;
  void* base_ = nullptr;
  std::size_t bytes_ = 0;
  std::optional<shim::RegionView> view_;
  shim::Geometry geometry_;
  std::uint32_t channel_ = 0;
  std::uint32_t ip_ = 0;
  std::uint32_t prefix_len_ = 0;
  std::vector<int> engine_cpu_;
  std::vector<int> doorbells_;
  bool refused_ = false;  // the last attach failed because utcpd said no (not unreachable)
  // The rings are single-producer/consumer, so each side has its lock; neither is held
  // while a caller waits, so one thread's round trip never holds up another's command.
  struct EngineChannel {
    std::mutex mu;  // pushing to `commands`, next_tag
    std::optional<shim::CommandRing> commands;
    std::uint32_t next_tag = 1;
    std::mutex replies_mu;  // popping `replies`, `stash`
    std::optional<shim::ReplyRing> replies;
    std::vector<shim::Reply> stash;  // replies popped by a thread they were not for
    std::mutex events_mu;
    std::optional<shim::EventRing> events;
  };
  // Pushes cmd (ch.mu held), ringing the doorbell while the ring is full.
  bool push_command(std::uint32_t e, EngineChannel& ch, const shim::Command& cmd);
  // The reply tagged `tag` if it has arrived (popping and stashing others' on the way).
  std::optional<shim::Reply> take_reply(EngineChannel& ch, std::uint32_t tag);
  void wake_sleepers();
  std::vector<std::unique_ptr<EngineChannel>> engines_;
  std::mutex control_mu_;  // one request on the control socket at a time
  std::mutex sleepers_mu_;
  std::vector<int> sleepers_;  // eventfds of threads that sleep now
  std::atomic<bool> daemon_gone_{false};
};

}  // namespace utcp::preload
