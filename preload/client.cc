// Attaching, commands and sleeping (read client.h first).
#include "preload/client.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "preload/private_fds.h"
#include "shim/attach_denied.h"
#include "preload/real.h"
#include "preload/sandbox_poll.h"

namespace utcp::preload {
namespace {

// A busy engine answers within a few of its rounds; on two cores, yielding longer
// only steals the CPU the engine needs to answer.
constexpr int kSpinsBeforeSleep = 20;
std::mutex g_attach_mu;
std::atomic<Client*> g_client{nullptr};
std::atomic<bool> g_unreachable{false};
// What calls that need utcp fail with once the attach failed: EACCES when the control
// socket's mode or group kept this process out, else ENETDOWN.
std::atomic<int> g_attach_errno{ENETDOWN};

// The environment as the program started: servers clear theirs before forking
// workers (nginx keeps only TZ), and a worker must still find its utcpd.
struct StartEnv {
  std::string control = shim::kDefaultControlPath;
  std::string control_raw, fallback_raw;  // as given (empty: unset)
  bool fallback_kernel = false;
  int family_fd = -1;
};
StartEnv& start_env() {
  static StartEnv env;
  return env;
}
__attribute__((constructor)) void capture_env() {
  StartEnv& e = start_env();
  if (const char* p = std::getenv("UTCP_CONTROL"); p != nullptr && *p != '\0') {
    e.control = p;
    e.control_raw = p;
  }
  if (const char* f = std::getenv("UTCP_FALLBACK")) {
    e.fallback_kernel = std::strcmp(f, "kernel") == 0;
    e.fallback_raw = f;
  }
  if (const char* fd = std::getenv("UTCP_FAMILY_FD")) {
    // An exec'd member of a family: the region's memfd was kept open for us. It goes
    // back to close-on-exec, and the variable away (our children get their own).
    e.family_fd = std::atoi(fd) > 0 ? std::atoi(fd) : -1;
    if (e.family_fd >= 0) ::fcntl(e.family_fd, F_SETFD, FD_CLOEXEC);
    // The program may closefrom() before its first socket call (sshd's re-exec does):
    // the memfd is the proof of membership the join needs, so it is kept out of reach.
    private_fds::add(&e.family_fd);
    ::unsetenv("UTCP_FAMILY_FD");
  }
}

const char* control_path() { return start_env().control.c_str(); }

// Why utcpd refused an attach or join (its answer's status, control_server.cc).
const char* refusal_reason(int status) {
  switch (status) {
    case ENOENT: return "the memfd it was given is not a family's region: was it closed?";
    case EMFILE: return "the family has no free channel: too many processes";
    case ENOMEM: return "no memory for a new region";
    case EPROTO: return "malformed request";
    default: return std::strerror(status);
  }
}

}  // namespace

const char* Client::start_setting(const char* name) {
  const StartEnv& e = start_env();
  const std::string& v = std::strcmp(name, "UTCP_CONTROL") == 0 ? e.control_raw : e.fallback_raw;
  return v.empty() ? nullptr : v.c_str();
}

namespace {

// The thread's own wake-up eventfd, per process (a forked child gets a new one: the
// inherited one is shared with the parent). Closed when the thread ends.
struct OwnEventfd {
  pid_t owner = 0;
  int fd = -1;
  ~OwnEventfd() {
    if (fd < 0 || owner != self_pid()) return;
    private_fds::remove(&fd);
    real().close(fd);
  }
};
thread_local OwnEventfd t_own;

int own_eventfd() {
  const pid_t pid = self_pid();
  if (t_own.owner != pid) {
    if (t_own.fd >= 0) real().close(t_own.fd);  // the parent's, inherited by this child
    private_fds::create(&t_own.fd, [] { return ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK); });
    t_own.owner = pid;
  }
  return t_own.fd;
}

void write_one(int fd) {
  const std::uint64_t one = 1;
  [[maybe_unused]] const ssize_t n = real().write(fd, &one, sizeof one);
}

bool read_counter(int fd) {
  std::uint64_t v = 0;
  return real().read(fd, &v, sizeof v) == static_cast<ssize_t>(sizeof v);
}

}  // namespace

namespace {
std::atomic<pid_t> g_pid{0};
void refresh_pid() { g_pid.store(::getpid(), std::memory_order_relaxed); }

// fork: the child of an attached process joins the family right away, in the atfork
// child handler, so that it can use its inherited sockets with no syscall the kernel
// socket would not need: sshd's privilege-separated child sandboxes itself (chroot,
// RLIMIT_NOFILE 1 on Debian, seccomp) before its first read. A process not attached pays
// two uncontended locks. The locks taken here are the ones joining needs, so a fork
// while another thread attaches or makes a private fd cannot leave them held.
bool g_fork_attached = false;
void before_fork() {
  g_attach_mu.lock();
  private_fds::lock().lock();
  g_fork_attached = Client::current() != nullptr;
}
void parent_after_fork() {
  private_fds::lock().unlock();
  g_attach_mu.unlock();
}
void child_after_fork() {
  refresh_pid();
  private_fds::lock().unlock();
  g_attach_mu.unlock();
  if (g_fork_attached) Client::join_at_fork();
}
__attribute__((constructor)) void track_pid() {
  refresh_pid();
  ::pthread_atfork(before_fork, parent_after_fork, child_after_fork);
}
}  // namespace

pid_t self_pid() {
  const pid_t p = g_pid.load(std::memory_order_relaxed);
  return p != 0 ? p : ::getpid();
}

Client* Client::current() {
  Client* c = g_client.load(std::memory_order_acquire);
  return c != nullptr && c->pid_ == self_pid() ? c : nullptr;
}

bool Client::kernel_fallback() {
  return g_unreachable.load() && start_env().fallback_kernel;
}

int Client::attach_errno() { return g_attach_errno.load(); }

int Client::family_memfd() {
  Client* c = g_client.load(std::memory_order_acquire);
  return c != nullptr ? c->memfd_ : start_env().family_fd;
}

Client* Client::get() {
  if (Client* c = current()) return c;
  std::lock_guard<std::mutex> lock(g_attach_mu);
  if (Client* c = current()) return c;
  if (g_unreachable.load()) {
    errno = attach_errno();
    return nullptr;
  }
  Client* parent = g_client.load();
  auto* c = new Client();
  // A forked child joins its parent's family; an exec'd image finds the family's memfd
  // in the environment (exec_calls.cc put it there).
  int family_fd = parent != nullptr ? parent->memfd_ : -1;
  if (family_fd < 0) family_fd = start_env().family_fd;
  c->memfd_ = family_fd;
  const bool join = family_fd >= 0;
  if (!c->attach(join)) {
    const int err = errno;
    const bool refused = c->refused_;
    c->drop_fds();
    delete c;
    if (!join || parent == nullptr) {
      g_unreachable.store(true);
      if (err == EACCES) {
        // The kernel refused the connect(): the socket's mode and group (or a directory's)
        // keep this process out. One line naming the group to be in, unless the program
        // asked to run on the kernel then (as for an unreachable utcpd).
        g_attach_errno.store(EACCES);
        if (!kernel_fallback()) {
          std::fprintf(stderr, "utcp: %s\n", shim::attach_denied_line(control_path()).c_str());
        }
      } else if (join && err == EBADF) {
        std::fprintf(stderr, "libutcp: cannot join utcpd's family at %s: the region's memfd "
                             "(fd %d) was closed behind the library's back; TCP sockets fail\n",
                     control_path(), family_fd);
      } else if (refused) {
        // utcpd answered: saying "not reachable" would send people looking in the wrong
        // place. Inherited sockets cannot move to the kernel, so this prints regardless.
        std::fprintf(stderr, "libutcp: utcpd at %s refused to %s (%s); TCP sockets fail\n",
                     control_path(), join ? "join the family" : "attach", refusal_reason(err));
      } else if (!kernel_fallback()) {
        std::fprintf(stderr, "libutcp: utcpd is not reachable at %s (%s); TCP sockets fail "
                             "(UTCP_FALLBACK=kernel runs them on the kernel instead)\n",
                     control_path(), std::strerror(err));
      }
    }
    errno = attach_errno();
    return nullptr;
  }
  g_client.store(c, std::memory_order_release);
  return c;
}

void Client::join_at_fork() {
  Client* parent = g_client.load();
  if (parent == nullptr || parent->memfd_ < 0) return;
  // The parent's control connection, wake-up eventfd and doorbells are the parent's: a
  // copy held here would hide the parent's death from utcpd while this child lives.
  parent->close_channel_fds();
  auto* c = new Client();
  c->memfd_ = parent->memfd_;
  if (!c->attach(true)) {
    // Nothing printed: the child tries again on its first utcp call, as before.
    c->drop_fds();
    delete c;
    return;
  }
  g_client.store(c, std::memory_order_release);
  // The thread that returns from fork is the child's only thread: its wake-up eventfd
  // is made now, while the child may still create fds.
  own_eventfd();
}

void Client::close_channel_fds() {
  const Real& r = real();
  for (int* cell : {&control_fd_, &wake_fd_}) {
    private_fds::remove(cell);
    if (*cell >= 0) r.close(*cell);
    *cell = -1;
  }
  for (int& fd : doorbells_) {
    private_fds::remove(&fd);
    r.close(fd);
  }
  doorbells_.clear();
}

void Client::drop_fds() {
  close_channel_fds();
  // The memfd is the family's (shared with the parent, or kept for the exec'd image's
  // next try), unless utcpd made it for this attach.
  private_fds::remove(&memfd_);
}

bool Client::attach(bool join) {
  const Real& r = real();
  pid_ = self_pid();
  private_fds::create(&control_fd_, [&] { return r.socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0); });
  private_fds::create(&wake_fd_, [] { return ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK); });
  if (control_fd_ < 0 || wake_fd_ < 0) return false;
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strncpy(addr.sun_path, control_path(), sizeof addr.sun_path - 1);
  if (r.connect(control_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) return false;
  shim::ControlMsg msg;
  msg.kind = join ? shim::ControlKind::kJoin : shim::ControlKind::kAttach;
  msg.pid = pid_;
  int out[2] = {wake_fd_, memfd_};
  if (!shim::send_control(control_fd_, msg, std::span<const int>(out, join ? 2 : 1))) return false;
  shim::ControlMsg answer;
  int fds[shim::kMaxPassedFds];
  std::size_t nfds = 0;
  if (shim::recv_control(control_fd_, &answer, fds, &nfds) != 0) {
    if (errno == 0) errno = ECONNRESET;
    return false;
  }
  const shim::Geometry& g = answer.geometry;
  if (answer.kind != shim::ControlKind::kAttached || answer.status != 0 || !g.valid() ||
      nfds != 1 + g.engines) {
    for (std::size_t i = 0; i < nfds; ++i) r.close(fds[i]);
    refused_ = answer.kind == shim::ControlKind::kAttached && answer.status != 0;
    errno = answer.status != 0 ? answer.status : EPROTO;
    return false;
  }
  // The family's memfd: the one we joined with stays (a forked child shares it with
  // the parent), else the daemon's copy becomes ours.
  if (join) {
    r.close(fds[0]);
  } else {
    memfd_ = fds[0];
  }
  private_fds::add(&memfd_);
  geometry_ = g;
  const shim::Layout layout(g);
  bytes_ = layout.total_bytes();
  base_ = ::mmap(nullptr, bytes_, PROT_READ | PROT_WRITE, MAP_SHARED, memfd_, 0);
  if (base_ == MAP_FAILED) return false;
  view_.emplace(base_, g);
  channel_ = answer.channel;
  ip_ = answer.ip;
  prefix_len_ = answer.prefix_len;
  for (std::uint32_t e = 0; e < g.engines; ++e) {
    doorbells_.push_back(fds[1 + e]);
    engine_cpu_.push_back(answer.engine_cpu[e]);
    auto ch = std::make_unique<EngineChannel>();
    ch->commands.emplace(view_->command_ring(channel_, e), g.command_capacity);
    ch->replies.emplace(view_->reply_ring(channel_, e), g.reply_capacity);
    ch->events.emplace(view_->event_ring(channel_, e), g.event_capacity);
    engines_.push_back(std::move(ch));
  }
  // Registered once the vector stops growing: the registry keeps their addresses.
  for (int& fd : doorbells_) private_fds::add(&fd);
  return true;
}

bool Client::is_utcp_local(std::uint32_t addr_net) {
  const std::uint32_t a = ntohl(addr_net);
  if ((a >> 24) == 127 || a == 0xffffffffu) return false;
  Client* c = get();
  if (c == nullptr) return false;
  const std::uint32_t mask = c->prefix_len_ == 0 ? 0 : ~std::uint32_t{0} << (32 - c->prefix_len_);
  return (a & mask) == (c->ip_ & mask);
}

std::uint32_t Client::home_engine() const {
  const int cpu = ::sched_getcpu();
  for (std::size_t e = 0; e < engine_cpu_.size(); ++e) {
    if (engine_cpu_[e] == cpu) return static_cast<std::uint32_t>(e);
  }
  return cpu >= 0 ? static_cast<std::uint32_t>(cpu) % geometry_.engines : 0;
}

void Client::ring_doorbell(std::uint32_t e) {
  if (shim::needs_wakeup(view_->engine_flag(e))) write_one(doorbells_[e]);
}

void Client::check_daemon() {
  pollfd p{control_fd_, POLLIN, 0};
  if (real().poll(&p, 1, 0) > 0) daemon_gone_.store(true);
}

std::optional<shim::Reply> Client::take_reply(EngineChannel& ch, std::uint32_t tag) {
  bool stashed = false;
  std::optional<shim::Reply> mine;
  {
    std::lock_guard<std::mutex> lock(ch.replies_mu);
    const auto it = std::find_if(ch.stash.begin(), ch.stash.end(),
                                 [&](const shim::Reply& r) { return r.tag == tag; });
    if (it != ch.stash.end()) {
      mine = *it;
      ch.stash.erase(it);
      return mine;
    }
    while (auto got = ch.replies->pop()) {
      if (got->tag == tag) {
        mine = *got;
        break;
      }
      // Tag 0: an answer to a posted command (one the engine refused); nobody waits.
      if (got->tag == 0) continue;
      ch.stash.push_back(*got);
      stashed = true;
    }
  }
  // Whoever the stashed reply is for may sleep waiting for the ring.
  if (stashed) wake_sleepers();
  return mine;
}

void Client::wake_sleepers() {
  std::lock_guard<std::mutex> lock(sleepers_mu_);
  for (int fd : sleepers_) write_one(fd);
}

shim::Reply Client::call(std::uint32_t e, shim::Command cmd) {
  shim::Reply rep;
  rep.result = -ENETDOWN;
  if (e >= engines_.size() || daemon_gone()) return rep;
  EngineChannel& ch = *engines_[e];
  {
    std::lock_guard<std::mutex> lock(ch.mu);
    cmd.tag = ch.next_tag++;
    if (cmd.tag == 0) cmd.tag = ch.next_tag++;  // 0 marks posted commands
    if (!push_command(e, ch, cmd)) return rep;
  }
  ring_doorbell(e);
  for (int spins = 0;; ++spins) {
    if (auto got = take_reply(ch, cmd.tag)) return *got;
    if (ch.replies->poisoned() || daemon_gone()) return rep;
    if (spins < kSpinsBeforeSleep) {
      ::sched_yield();
      continue;
    }
    // A sleeping engine answers through our wake eventfd; the timeout only bounds how
    // long a dead daemon (whose control socket has not closed yet) can keep us.
    const std::uint32_t tag = cmd.tag;
    const auto arrived = [&] {
      std::lock_guard<std::mutex> lock(ch.replies_mu);
      return ch.replies->readable() > 0 ||
             std::any_of(ch.stash.begin(), ch.stash.end(),
                         [&](const shim::Reply& r) { return r.tag == tag; });
    };
    if (wait(arrived, {}, 1000) == 0) check_daemon();
  }
}

bool Client::push_command(std::uint32_t e, EngineChannel& ch, const shim::Command& cmd) {
  while (!ch.commands->push(cmd)) {
    if (ch.commands->poisoned() || daemon_gone()) return false;
    ring_doorbell(e);
    ::sched_yield();
    check_daemon();
  }
  return true;
}

void Client::post(std::uint32_t e, shim::Command cmd) {
  if (e >= engines_.size() || daemon_gone()) return;
  EngineChannel& ch = *engines_[e];
  cmd.tag = 0;
  {
    std::lock_guard<std::mutex> lock(ch.mu);
    if (!push_command(e, ch, cmd)) return;
  }
  ring_doorbell(e);
}

bool Client::register_placeholder(std::uint32_t slot, std::uint32_t generation, int daemon_end) {
  shim::ControlMsg msg;
  msg.kind = shim::ControlKind::kPlaceholder;
  msg.pid = pid_;
  msg.slot = slot;
  msg.generation = generation;
  std::lock_guard<std::mutex> lock(control_mu_);
  return shim::send_control(control_fd_, msg, std::span<const int>(&daemon_end, 1));
}

bool Client::sync_releases() {
  {
    std::lock_guard<std::mutex> lock(control_mu_);
    shim::ControlMsg msg;
    msg.kind = shim::ControlKind::kSync;
    msg.pid = pid_;
    if (!shim::send_control(control_fd_, msg, {})) return false;
    shim::ControlMsg answer;
    int fds[shim::kMaxPassedFds];
    std::size_t nfds = 0;
    const int rc = shim::recv_control(control_fd_, &answer, fds, &nfds);
    for (std::size_t i = 0; i < nfds; ++i) real().close(fds[i]);
    if (rc != 0 || answer.kind != shim::ControlKind::kSynced) return false;
  }
  // The releases are in the engines' mailboxes now; an engine may have taken its mail
  // for this round just before they arrived, so a barrier to each returns once they
  // are handled.
  for (std::uint32_t e = 0; e < engines_.size(); ++e) {
    shim::Command cmd;
    cmd.op = shim::Op::kBarrier;
    if (call(e, cmd).result != 0) return false;
  }
  return true;
}

bool Client::drain_events(const std::function<void(std::uint32_t)>& sink) {
  bool complete = true;
  for (auto& ch : engines_) {
    std::lock_guard<std::mutex> lock(ch->events_mu);
    shim::Event evs[256];
    for (;;) {
      const std::size_t n = ch->events->pop_burst(evs);
      for (std::size_t i = 0; i < n; ++i) {
        if (evs[i].slot < geometry_.sockets) sink(evs[i].slot);
      }
      if (n < std::size(evs)) break;
    }
  }
  if (view_->channel(channel_).event_overflow.exchange(0) != 0) complete = false;
  return complete;
}

timespec Deadline::left() const {
  const auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(*at_ - Clock::now()).count();
  if (ns <= 0) return timespec{0, 0};
  return timespec{static_cast<time_t>(ns / 1'000'000'000), static_cast<long>(ns % 1'000'000'000)};
}

int Client::wait(const std::function<bool()>& ready, std::span<pollfd> extra, Deadline deadline,
                 int own_fd) {
  const int me = own_fd >= 0 ? own_fd : own_eventfd();
  std::vector<pollfd> fds;
  fds.reserve(3 + extra.size());
  shim::SleepFlag& flag = view_->channel(channel_).app_asleep;
  for (;;) {
    {
      std::lock_guard<std::mutex> lock(sleepers_mu_);
      sleepers_.push_back(me);
    }
    flag.asleep.fetch_add(1, std::memory_order_relaxed);
    std::atomic_thread_fence(std::memory_order_seq_cst);
    int rc = -2;
    if (ready()) {
      rc = 1;
    } else {
      fds.assign({{wake_fd_, POLLIN, 0}, {me, POLLIN, 0}, {control_fd_, POLLIN, 0}});
      fds.insert(fds.end(), extra.begin(), extra.end());
      // Whole ms rounded up: a wait never ends before its deadline (rounded down, a
      // remaining 0.9 ms polled 0 ms and spun). poll, not ppoll: sshd's sandbox allows it.
      int ms = -1;
      if (!deadline.is_never()) {
        const timespec left = deadline.left();
        ms = static_cast<int>(left.tv_sec * 1000 + (left.tv_nsec + 999'999) / 1'000'000);
      }
      const int n = poll_fds(fds.data(), fds.size(), ms);
      if (n < 0) rc = -1;
      if (n == 0) rc = 0;
      if (n > 0 && fds[2].revents != 0) daemon_gone_.store(true);
      bool extra_ready = false;
      for (std::size_t i = 0; i < extra.size(); ++i) {
        extra[i].revents = fds[3 + i].revents;
        extra_ready |= extra[i].revents != 0;
      }
      if (extra_ready) rc = 1;
    }
    const int saved_errno = errno;
    flag.asleep.fetch_sub(1, std::memory_order_relaxed);
    {
      std::lock_guard<std::mutex> lock(sleepers_mu_);
      sleepers_.erase(std::find(sleepers_.begin(), sleepers_.end(), me));
      // We took the channel's wake-up: pass it on to everyone else who sleeps.
      if (read_counter(wake_fd_)) {
        for (int fd : sleepers_) write_one(fd);
      }
    }
    read_counter(me);  // a wake-up passed to us (or, for epoll, to our instance)
    if (rc == 1 || daemon_gone()) return 1;
    if (rc == -1) {
      errno = saved_errno;
      return -1;
    }
    if (ready()) return 1;
    if (deadline.passed()) return 0;
  }
}

}  // namespace utcp::preload
