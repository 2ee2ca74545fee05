// The control thread's side of the app channel (read control_server.h first).
#include "daemon/core/control_server.h"

#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <ctime>

#include "daemon/core/credentials.h"
#include "daemon/core/log.h"

namespace utcp::daemon {
namespace {

std::uint64_t bit(std::uint32_t c) { return std::uint64_t{1} << c; }

void ring(int fd) {
  const std::uint64_t one = 1;
  [[maybe_unused]] const ssize_t n = ::write(fd, &one, sizeof one);
}

// mkdir -p of the socket's directory. What it creates admits no one the socket does
// not (directory_mode), with the socket's group; what exists already is left alone.
bool make_parent_dirs(const std::string& path, const ControlAccess& access) {
  const mode_t mode = directory_mode(access.mode);
  for (std::size_t at = path.find('/', 1); at != std::string::npos; at = path.find('/', at + 1)) {
    const std::string dir = path.substr(0, at);
    if (::mkdir(dir.c_str(), mode) != 0) {
      if (errno == EEXIST) continue;
      return false;
    }
    // mkdir's mode went through the umask; the group is the socket's.
    if (::chown(dir.c_str(), static_cast<uid_t>(-1), access.group) != 0 ||
        ::chmod(dir.c_str(), mode) != 0) {
      return false;
    }
  }
  return true;
}

// Binds fd to addr so that the socket file is never, even for a moment, open to more
// than `mode` (connect() needs write permission): the umask narrows what bind()
// creates, then the group and the exact mode are set (a directory's default ACL
// would otherwise override the umask). The umask is the process's: utcpd opens the
// control socket before its engines start, and DPDK's threads create no files then.
bool bind_restricted(int fd, const sockaddr_un& addr, const ControlAccess& access) {
  const mode_t old = ::umask(~access.mode & 0777);
  const int rc = ::bind(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr);
  ::umask(old);
  return rc == 0 && ::chown(addr.sun_path, static_cast<uid_t>(-1), access.group) == 0 &&
         ::chmod(addr.sun_path, access.mode) == 0;
}

}  // namespace

ControlServer::ControlServer(ControlConfig cfg, std::vector<Mailbox*> mailboxes)
    : cfg_(std::move(cfg)), mailboxes_(std::move(mailboxes)) {
  cfg_.geometry.engines = static_cast<std::uint32_t>(cfg_.doorbells.size());
}

ControlServer::~ControlServer() {
  for (auto& [fd, w] : watches_) ::close(fd);
  if (epoll_fd_ >= 0) ::close(epoll_fd_);
  if (pause_fd_ >= 0) ::close(pause_fd_);
  if (listen_fd_ >= 0) ::unlink(cfg_.path.c_str());
}

bool ControlServer::open(std::string* error) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (cfg_.path.empty() || cfg_.path.size() >= sizeof addr.sun_path) {
    *error = "control path too long: " + cfg_.path;
    return false;
  }
  if (!cfg_.geometry.valid()) {
    *error = "invalid channel geometry";
    return false;
  }
  std::memcpy(addr.sun_path, cfg_.path.c_str(), cfg_.path.size());
  if (!make_parent_dirs(cfg_.path, cfg_.access)) {
    *error = "control socket " + cfg_.path + ": cannot make its directory: " + std::strerror(errno);
    return false;
  }
  ::unlink(cfg_.path.c_str());
  listen_fd_ = ::socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  epoll_fd_ = ::epoll_create1(EPOLL_CLOEXEC);
  pause_fd_ = ::epoll_create1(EPOLL_CLOEXEC);
  if (listen_fd_ < 0 || epoll_fd_ < 0 || pause_fd_ < 0 ||
      !bind_restricted(listen_fd_, addr, cfg_.access) || ::listen(listen_fd_, 128) != 0) {
    *error = "control socket " + cfg_.path + ": " + std::strerror(errno);
    return false;
  }
  auto w = std::make_unique<Watch>(Watch{Watch::Kind::kListen, listen_fd_});
  watch(*w, EPOLLIN);
  watches_.emplace(listen_fd_, std::move(w));
  return true;
}

bool ControlServer::serve(int timeout_ms) {
  // Channels still being let go make this thread look again soon.
  bool draining = false;
  for (auto& f : families_) draining |= f->draining != 0;
  epoll_event evs[64];
  const int n = ::epoll_wait(epoll_fd_, evs, 64, draining ? std::min(timeout_ms, 20) : timeout_ms);
  if (n < 0 && errno != EINTR) return false;
  for (int i = 0; i < n; ++i) {
    // By fd, not pointer: handling one event (a kSync) may handle and forget others
    // of this batch.
    Watch* w = watch_of(evs[i]);
    if (w == nullptr) continue;
    switch (w->kind) {
      case Watch::Kind::kListen:
        accept_connections();
        break;
      case Watch::Kind::kConnection:
        on_connection(*w);
        break;
      case Watch::Kind::kPlaceholder:
        placeholder_gone(*w);
        break;
    }
  }
  drain_channels();
  // Once per batch: a burst of hang-ups costs a sleeping engine one doorbell.
  ring_sleepers();
  if (n > 0 && n < static_cast<int>(std::size(evs)) && cfg_.batch_pause.count() > 0) {
    // Hang-ups gather meanwhile; a process's message ends the pause early (it may be a
    // close() waiting in kSync, or an attach).
    const timespec pause{0, static_cast<long>(cfg_.batch_pause.count()) * 1000};
    epoll_event ev;
    (void)::epoll_pwait2(pause_fd_, &ev, 1, &pause, nullptr);
  }
  return true;
}

void ControlServer::serve_ready_placeholders() {
  epoll_event evs[64];
  for (;;) {
    const int n = ::epoll_wait(epoll_fd_, evs, 64, 0);
    int handled = 0;
    for (int i = 0; i < n; ++i) {
      Watch* w = watch_of(evs[i]);
      if (w == nullptr || w->kind != Watch::Kind::kPlaceholder) continue;
      placeholder_gone(*w);
      ++handled;
    }
    if (n < 64 || handled == 0) return;
  }
}

bool ControlServer::watch(Watch& w, std::uint32_t events) {
  w.serial = ++next_serial_;
  epoll_event ev{};
  ev.events = events;
  ev.data.u64 = (std::uint64_t{w.serial} << 32) | static_cast<std::uint32_t>(w.fd);
  if (::epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, w.fd, &ev) != 0) return false;
  if (w.kind != Watch::Kind::kPlaceholder) (void)::epoll_ctl(pause_fd_, EPOLL_CTL_ADD, w.fd, &ev);
  return true;
}

ControlServer::Watch* ControlServer::watch_of(const epoll_event& ev) {
  const auto fd = static_cast<int>(ev.data.u64 & 0xffffffffu);
  const auto it = watches_.find(fd);
  if (it == watches_.end() || it->second->serial != static_cast<std::uint32_t>(ev.data.u64 >> 32)) {
    return nullptr;
  }
  return it->second.get();
}

void ControlServer::accept_connections() {
  for (;;) {
    const int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK);
    if (fd < 0) return;
    auto w = std::make_unique<Watch>(Watch{Watch::Kind::kConnection, fd});
    w->channel = shim::kMaxChannels;  // not attached yet
    watch(*w, EPOLLIN | EPOLLRDHUP);
    watches_.emplace(fd, std::move(w));
  }
}

void ControlServer::on_connection(Watch& w) {
  for (;;) {
    shim::ControlMsg msg;
    int fds[shim::kMaxPassedFds];
    std::size_t nfds = 0;
    const int rc = shim::recv_control(w.fd, &msg, fds, &nfds);
    if (rc == 1 || (rc < 0 && errno != EAGAIN && errno != EPROTO)) {
      connection_gone(w);
      return;
    }
    if (rc < 0 && errno == EAGAIN) return;
    if (rc < 0) {  // EPROTO: a broken client; it is dropped like a dead one
      ++counters_.rejected;
      log(LogLevel::kWarning, "process %d: malformed control message: disconnected",
          static_cast<int>(w.pid));
      connection_gone(w);
      return;
    }
    const std::span<int> passed(fds, nfds);
    switch (msg.kind) {
      case shim::ControlKind::kAttach:
      case shim::ControlKind::kJoin:
        attach(w, msg, passed);
        break;
      case shim::ControlKind::kSync: {
        // Every hang-up the kernel raised before this message is handled first, so an
        // app that closed a socket and then binds its port finds it free.
        for (int fd : passed) ::close(fd);
        serve_ready_placeholders();
        shim::ControlMsg answer;
        answer.kind = shim::ControlKind::kSynced;
        (void)shim::send_control(w.fd, answer, {});
        break;
      }
      case shim::ControlKind::kQuery:
        for (int fd : passed) ::close(fd);
        query(w, msg);
        break;
      case shim::ControlKind::kPlaceholder:
        if (nfds == 1) {
          placeholder(w, msg, fds[0]);
          break;
        }
        [[fallthrough]];
      default:
        ++counters_.rejected;
        for (int fd : passed) ::close(fd);
        // Debug only: a hostile app could send these in a loop.
        log(LogLevel::kDebug, "process %d: control message %u refused", static_cast<int>(w.pid),
            static_cast<unsigned>(msg.kind));
        break;
    }
  }
}

void ControlServer::attach(Watch& w, const shim::ControlMsg& msg, std::span<int> fds) {
  shim::ControlMsg answer;
  answer.kind = shim::ControlKind::kAttached;
  answer.pid = ::getpid();
  Family* family = nullptr;
  int wake_fd = fds.empty() ? -1 : fds[0];
  const bool join = msg.kind == shim::ControlKind::kJoin;
  if (w.family != nullptr || wake_fd < 0 || fds.size() != (join ? 2u : 1u)) {
    answer.status = EPROTO;
  } else if (join) {
    struct stat st {};
    if (::fstat(fds[1], &st) == 0) {
      for (auto& f : families_) {
        if (f->region->inode() == st.st_ino) family = f.get();
      }
    }
    ::close(fds[1]);
    if (family == nullptr) answer.status = ENOENT;
  } else {
    std::string error;
    auto region = Region::create(cfg_.geometry, next_region_id_++, &error);
    if (!region) {
      answer.status = ENOMEM;
    } else {
      families_.push_back(std::make_unique<Family>());
      family = families_.back().get();
      family->region = std::move(region);
      ++counters_.families;
    }
  }
  std::uint32_t channel = shim::kMaxChannels;
  if (family != nullptr) {
    for (std::uint32_t c = 0; c < cfg_.geometry.channels; ++c) {
      if ((family->channels & bit(c)) == 0) {
        channel = c;
        break;
      }
    }
    if (channel == shim::kMaxChannels) answer.status = EMFILE;
  }
  // The process's credentials are read from the kernel at each privileged operation
  // (credentials.h), through this directory; without it there is no channel.
  int proc_fd = -1;
  ucred cred{};
  socklen_t cred_len = sizeof cred;
  if (::getsockopt(w.fd, SOL_SOCKET, SO_PEERCRED, &cred, &cred_len) == 0) w.pid = cred.pid;
  if (answer.status == 0) {
    proc_fd = open_peer_proc_dir(w.fd, &w.pid);
    if (proc_fd < 0) answer.status = ESRCH;
  }
  if (answer.status != 0) {
    ++counters_.rejected;
    if (wake_fd >= 0) ::close(wake_fd);
    (void)shim::send_control(w.fd, answer, {});
    log(LogLevel::kWarning, "process %d: %s refused: %s", static_cast<int>(w.pid),
        join ? "join" : "attach", std::strerror(answer.status));
    return;
  }
  log(LogLevel::kInfo, "process %d: %s family %llu as channel %u", static_cast<int>(w.pid),
      join ? "joined" : "attached, new", static_cast<unsigned long long>(family->region->id()),
      channel);
  family->channels |= bit(channel);
  // A reused channel number: what its previous process left in the rings must not
  // reach the newcomer (every engine has let go of it: see drain_channels).
  family->region->view().reset_channel(channel);
  family->region->set_wake_fd(channel, wake_fd);
  family->region->set_proc_fd(channel, proc_fd);
  w.family = family;
  w.channel = channel;
  join ? ++counters_.joins : ++counters_.attaches;
  post_all({EngineMsg::Kind::kChannelUp, family->region, channel, 0, 0});

  answer.channel = channel;
  answer.geometry = cfg_.geometry;
  answer.ip = cfg_.ip;
  answer.prefix_len = cfg_.prefix_len;
  for (std::size_t e = 0; e < cfg_.engine_cpus.size() && e < shim::kMaxEngines; ++e) {
    answer.engine_cpu[e] = cfg_.engine_cpus[e];
  }
  std::vector<int> out{family->region->memfd()};
  out.insert(out.end(), cfg_.doorbells.begin(), cfg_.doorbells.end());
  (void)shim::send_control(w.fd, answer, out);
}

void ControlServer::placeholder(Watch& w, const shim::ControlMsg& msg, int fd) {
  if (w.family == nullptr || msg.slot >= cfg_.geometry.sockets) {
    ++counters_.rejected;
    ::close(fd);
    return;
  }
  auto p = std::make_unique<Watch>(Watch{Watch::Kind::kPlaceholder, fd});
  p->family = w.family;
  p->slot = msg.slot;
  p->generation = msg.generation;
  // EPOLLHUP is always reported: the app end's last close.
  if (!watch(*p, EPOLLRDHUP)) {
    ++counters_.rejected;
    ::close(fd);
    return;
  }
  ++w.family->placeholders;
  ++counters_.placeholders;
  if (log_enabled(LogLevel::kDebug)) {
    log(LogLevel::kDebug, "family %llu: placeholder for slot %u generation %u",
        static_cast<unsigned long long>(w.family->region->id()), msg.slot, msg.generation);
  }
  post_all({EngineMsg::Kind::kPlaceholder, w.family->region, w.channel, msg.slot, msg.generation});
  watches_.emplace(fd, std::move(p));
}

// The answer travels in a memfd: `utcp ss` on a busy server can be megabytes, more
// than one datagram, and the control thread must not block writing it.
void ControlServer::query(Watch& w, const shim::ControlMsg& msg) {
  shim::ControlMsg answer;
  answer.kind = shim::ControlKind::kReport;
  const auto what = static_cast<shim::Query>(msg.slot);
  if (!cfg_.report) {
    answer.status = ENOSYS;
  } else if (what != shim::Query::kStat && what != shim::Query::kSockets) {
    answer.status = EINVAL;
  }
  if (answer.status != 0) {
    ++counters_.rejected;
    (void)shim::send_control(w.fd, answer, {});
    return;
  }
  const std::string text = cfg_.report(what, msg.generation);
  const int fd = ::memfd_create("utcp-report", MFD_CLOEXEC);
  bool written = fd >= 0;
  for (std::size_t at = 0; written && at < text.size();) {
    const ssize_t n = ::write(fd, text.data() + at, text.size() - at);
    written = n > 0;
    at += written ? static_cast<std::size_t>(n) : 0;
  }
  if (!written) {
    answer.status = fd < 0 ? EMFILE : EIO;
    (void)shim::send_control(w.fd, answer, {});
  } else {
    ::lseek(fd, 0, SEEK_SET);
    (void)shim::send_control(w.fd, answer, std::span<const int>(&fd, 1));
    ++counters_.queries;
  }
  if (fd >= 0) ::close(fd);
}

void ControlServer::placeholder_gone(Watch& w) {
  ++counters_.releases;
  if (log_enabled(LogLevel::kDebug)) {
    log(LogLevel::kDebug, "family %llu: slot %u generation %u released (last reference closed)",
        static_cast<unsigned long long>(w.family->region->id()), w.slot, w.generation);
  }
  --w.family->placeholders;
  post_all({EngineMsg::Kind::kRelease, w.family->region, 0, w.slot, w.generation});
  forget(w);
}

void ControlServer::connection_gone(Watch& w) {
  if (w.family != nullptr) {
    ++counters_.processes_gone;
    Family& f = *w.family;
    log(LogLevel::kInfo, "process %d: gone from family %llu (channel %u)", static_cast<int>(w.pid),
        static_cast<unsigned long long>(f.region->id()), w.channel);
    f.draining |= bit(w.channel);
    f.region->channel_pending(w.channel).store(static_cast<std::uint32_t>(mailboxes_.size()));
    post_all({EngineMsg::Kind::kChannelGone, f.region, w.channel, 0, 0});
  }
  forget(w);
}

void ControlServer::drain_channels() {
  for (auto& f : families_) {
    std::uint64_t d = f->draining;
    while (d != 0) {
      const auto c = static_cast<std::uint32_t>(__builtin_ctzll(d));
      d &= d - 1;
      if (f->region->channel_pending(c).load() != 0) continue;
      f->region->close_wake_fd(c);
      f->draining &= ~bit(c);
      f->channels &= ~bit(c);
    }
  }
  // A family with no process and no socket left is over; the engines drop their
  // views of its region when they next look (see ShimServer).
  const auto over = [this](const std::unique_ptr<Family>& f) {
    const bool done = f->channels == 0 && f->placeholders == 0;
    if (done) {
      log(LogLevel::kInfo, "family %llu: over (no process, no socket left)",
          static_cast<unsigned long long>(f->region->id()));
      post_all({EngineMsg::Kind::kFamilyOver, f->region, 0, 0, 0});
    }
    return done;
  };
  const auto before = families_.size();
  families_.erase(std::remove_if(families_.begin(), families_.end(), over), families_.end());
  counters_.families -= before - families_.size();
}

void ControlServer::post_all(const EngineMsg& msg) {
  for (std::size_t e = 0; e < mailboxes_.size(); ++e) {
    if (mailboxes_[e]->post(msg)) to_ring_ |= bit(static_cast<std::uint32_t>(e));
  }
}

void ControlServer::ring_sleepers() {
  std::uint64_t r = to_ring_;
  to_ring_ = 0;
  while (r != 0) {
    const auto e = static_cast<std::uint32_t>(__builtin_ctzll(r));
    r &= r - 1;
    ring(cfg_.doorbells[e]);
  }
}

void ControlServer::forget(Watch& w) {
  const int fd = w.fd;
  ::epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, fd, nullptr);
  if (w.kind != Watch::Kind::kPlaceholder) ::epoll_ctl(pause_fd_, EPOLL_CTL_DEL, fd, nullptr);
  ::close(fd);
  watches_.erase(fd);  // destroys w
}

}  // namespace utcp::daemon
