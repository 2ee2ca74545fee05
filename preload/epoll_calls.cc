// epoll_create, epoll_create1, epoll_ctl, epoll_wait, epoll_pwait (read epoll_set.h).
#include <signal.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>

#include <deque>
#include <memory>
#include <mutex>
#include <unordered_map>
#include <vector>

#include "preload/epoll_set.h"
#include "preload/ops.h"
#include "preload/private_fds.h"
#include "preload/real.h"

using namespace utcp::preload;

namespace {

struct Interest {
  USocketPtr s;
  std::uint32_t events = 0;
  epoll_data_t data{};
  bool disabled = false;  // EPOLLONESHOT fired
  bool queued = false;
  bool utcp = false;      // false: still a kernel socket, the kernel set watches it
  bool exclusive = false; // EPOLLEXCLUSIVE: Linux refuses any MOD of it
  std::uint32_t slot = 0;
  std::uint64_t registration = 0;  // which ADD this is: see Instance::ready
};

// Nesting: when this instance's fd is added to another epoll set, its `nest_fd` (an
// eventfd) goes into that outer kernel set too, under the app's data for this fd, and
// is kept readable while this instance has utcp candidates: so the outer set sees the
// inner one ready, as the kernel's nested epoll does.
//
// Wake-ups (DESIGN.md §3: a readiness change for an instance always wakes a sleeper of
// it). Any thread's pump may take another instance's events off the process-wide
// rings, so queueing one writes the instance's `efd` when a thread sleeps on it and has
// not been told yet. `sleepers` counts the threads between deciding to sleep and
// waking; `told` is cleared by every look at `ready`, so a queue after the look
// always writes. The efd is also in the kernel set (under wake_data()) once the instance
// has utcp interest: a thread that went straight to the kernel's epoll_wait while the
// instance had no utcp socket wakes when another thread adds one.
struct Instance {
  int epfd = -1;
  int efd = -1;  // this instance's wake-up eventfd (Client::wait's own fd)
  bool efd_in_kernel_set = false;
  int sleepers = 0;
  bool told = false;
  int nest_fd = -1;         // -1 until the instance is nested in another set
  bool nest_signalled = false;
  int nested_children = 0;  // instances nested in this one (its waits must pump)
  std::mutex mu;
  std::unordered_map<int, Interest> items;  // TCP sockets by fd
  std::unordered_map<std::uint32_t, std::vector<int>> by_slot;
  // Candidates as (fd, registration): an fd deleted and added again (a program that
  // closes a connection and opens the next under the same number) may still have an
  // entry of its old registration here, which must not report the new one twice.
  std::deque<std::pair<int, std::uint64_t>> ready;
  std::uint64_t registrations = 0;

  // Keeps nest_fd's readability equal to "has candidates" (called with mu held).
  void update_nest() {
    if (nest_fd < 0) return;
    const bool want = !ready.empty();
    std::uint64_t v = 1;
    if (want && !nest_signalled) {
      [[maybe_unused]] const ssize_t n = real().write(nest_fd, &v, sizeof v);
    } else if (!want && nest_signalled) {
      [[maybe_unused]] const ssize_t n = real().read(nest_fd, &v, sizeof v);
    }
    nest_signalled = want;
  }

  void queue(int fd, Interest& it) {
    if (it.queued || it.disabled || !it.utcp) return;
    it.queued = true;
    ready.emplace_back(fd, it.registration);
    if (sleepers > 0 && !told) {
      told = true;
      std::uint64_t one = 1;
      [[maybe_unused]] const ssize_t n = real().write(efd, &one, sizeof one);
    }
  }
  // A sleeper's look at the candidates (mu held): whatever is queued after it must
  // write efd again.
  bool has_candidates() {
    told = false;
    return !ready.empty();
  }
  // The data under which efd sits in the kernel set: this instance's address, which no
  // data of the program's can equal while the instance lives.
  std::uint64_t wake_data() const { return reinterpret_cast<std::uintptr_t>(this); }
  // Puts efd into the kernel set, once, when the instance gets utcp interest (mu held).
  void watch_efd() {
    if (efd_in_kernel_set || efd < 0) return;
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.u64 = wake_data();
    efd_in_kernel_set = real().epoll_ctl(epfd, EPOLL_CTL_ADD, efd, &ev) == 0;
  }
  // Removes the efd's entries from what the kernel returned (and takes its count: the
  // caller looks at the candidates next). Returns how many events are left.
  int strip_wake(epoll_event* evs, int n) {
    if (!efd_in_kernel_set || n <= 0) return n;
    int kept = 0;
    for (int i = 0; i < n; ++i) {
      if (evs[i].data.u64 == wake_data()) {
        std::uint64_t v;
        [[maybe_unused]] const ssize_t r = real().read(efd, &v, sizeof v);
        continue;
      }
      evs[kept++] = evs[i];
    }
    return kept;
  }
  void unindex(int fd, const Interest& it) {
    if (!it.utcp) return;
    auto& v = by_slot[it.slot];
    std::erase(v, fd);
    if (v.empty()) by_slot.erase(it.slot);
  }
};

std::mutex g_mu;  // guards g_instances (the instances have their own locks)
std::unordered_map<int, std::shared_ptr<Instance>> g_instances;

std::shared_ptr<Instance> find(int epfd) {
  std::lock_guard<std::mutex> lock(g_mu);
  auto it = g_instances.find(epfd);
  return it == g_instances.end() ? nullptr : it->second;
}

std::vector<std::shared_ptr<Instance>> all_instances() {
  std::lock_guard<std::mutex> lock(g_mu);
  std::vector<std::shared_ptr<Instance>> out;
  for (auto& [fd, inst] : g_instances) out.push_back(inst);
  return out;
}

int track(int epfd) {
  if (epfd < 0) return epfd;
  auto inst = std::make_shared<Instance>();
  inst->epfd = epfd;
  private_fds::create(&inst->efd, [] { return ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK); });
  std::lock_guard<std::mutex> lock(g_mu);
  g_instances[epfd] = std::move(inst);
  return epfd;
}

// Moves ready utcp events into out; returns how many.
int collect(Instance& inst, Client& c, epoll_event* out, int max) {
  std::lock_guard<std::mutex> lock(inst.mu);
  int n = 0;
  for (std::size_t k = inst.ready.size(); k > 0 && n < max; --k) {
    const auto [fd, registration] = inst.ready.front();
    inst.ready.pop_front();
    auto it = inst.items.find(fd);
    if (it == inst.items.end() || it->second.registration != registration) continue;
    Interest& item = it->second;
    item.queued = false;
    if (item.disabled || !item.utcp) continue;
    const std::uint32_t mask =
        static_cast<std::uint32_t>(readiness(*item.s, c)) & (item.events | EPOLLERR | EPOLLHUP);
    if (mask == 0) continue;
    out[n].events = mask;
    out[n].data = item.data;
    ++n;
    if (item.events & EPOLLONESHOT) {
      item.disabled = true;
    } else if (!(item.events & EPOLLET)) {
      inst.queue(fd, item);  // level-triggered: asked again next time
    }
  }
  inst.update_nest();
  return n;
}

// A wait on an instance with utcp interest: its candidates first, then the kernel set
// without blocking, then Client::wait on both. Returns -2 when the instance lost its
// utcp interest meanwhile (the caller starts over).
int utcp_wait(Instance& inst, Client& c, epoll_event* events, int max, const Deadline& deadline) {
  const Real& r = real();
  for (;;) {
    epoll_pump_events();
    int n = collect(inst, c, events, max);
    if (n < max) {
      const int m = r.epoll_wait(inst.epfd, events + n, max - n, 0);
      if (m > 0) {
        std::lock_guard<std::mutex> lock(inst.mu);
        n += inst.strip_wake(events + n, m);
      }
    }
    if (n > 0 || deadline.passed()) return n;
    if (c.daemon_gone()) {
      // Every utcp socket reports its error now; nothing more will change.
      std::lock_guard<std::mutex> lock(inst.mu);
      for (auto& [fd, item] : inst.items) inst.queue(fd, item);
      if (!inst.ready.empty()) continue;
    }
    {
      std::lock_guard<std::mutex> lock(inst.mu);
      if (inst.by_slot.empty() && inst.nested_children == 0) return -2;
      ++inst.sleepers;
    }
    pollfd kernel{inst.epfd, POLLIN, 0};
    const int w = c.wait(
        [&] {
          epoll_pump_events();
          std::lock_guard<std::mutex> lock(inst.mu);
          return inst.has_candidates();
        },
        std::span<pollfd>(&kernel, 1), deadline, inst.efd);
    const int saved = errno;
    {
      std::lock_guard<std::mutex> lock(inst.mu);
      --inst.sleepers;
    }
    if (w < 0) {
      errno = saved;
      return -1;
    }
  }
}

// A wait with no utcp interest: the kernel's, counted as a sleeper so that a utcp
// socket added meanwhile by another thread wakes it (through efd, stripped here).
// Returns -2 when it woke for that and must start over as a utcp wait.
int kernel_wait(Instance& inst, epoll_event* events, int max, const Deadline& deadline) {
  int ms = -1;
  if (!deadline.is_never()) {
    // epoll_wait takes whole ms: rounded up, it never ends early.
    const timespec left = deadline.left();
    ms = static_cast<int>(left.tv_sec * 1000 + (left.tv_nsec + 999'999) / 1'000'000);
  }
  const int n = real().epoll_wait(inst.epfd, events, max, ms);
  const int saved = errno;
  std::lock_guard<std::mutex> lock(inst.mu);
  --inst.sleepers;
  if (n <= 0) {
    errno = saved;
    return n;
  }
  const int kept = inst.strip_wake(events, n);
  return kept > 0 ? kept : -2;
}

int wait_common(int epfd, epoll_event* events, int max, int timeout) {
  const Real& r = real();
  if (max <= 0) return fail(EINVAL);
  if (events == nullptr) return fail(EFAULT);
  std::shared_ptr<Instance> inst = find(epfd);
  if (!inst) return r.epoll_wait(epfd, events, max, timeout);
  const Deadline deadline = Deadline::after_ms(timeout);
  for (;;) {
    Client* c = Client::current();
    bool has_utcp = false;
    {
      std::lock_guard<std::mutex> lock(inst->mu);
      has_utcp = c != nullptr && (!inst->by_slot.empty() || inst->nested_children > 0);
      if (!has_utcp) ++inst->sleepers;
    }
    if (!has_utcp) {
      const int n = kernel_wait(*inst, events, max, deadline);
      if (n != -2) return n;
      continue;
    }
    const int n = utcp_wait(*inst, *c, events, max, deadline);
    if (n != -2) return n;
  }
}

// epoll_ctl(outer, op, inner's fd): the kernel nests the inner kernel set; the inner
// utcp candidates show through its nest_fd, registered under the same data.
int nest(Instance& outer, Instance& inner, int op, int fd, epoll_event* ev) {
  const Real& r = real();
  const int rc = r.epoll_ctl(outer.epfd, op, fd, ev);
  if (rc != 0) return rc;
  std::lock_guard<std::mutex> lock(inner.mu);
  if (inner.nest_fd < 0) {
    private_fds::create(&inner.nest_fd, [] { return ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK); });
  }
  if (inner.nest_fd < 0) return 0;
  epoll_event copy{};
  if (ev != nullptr) copy = *ev;
  copy.events &= ~static_cast<std::uint32_t>(EPOLLEXCLUSIVE);
  (void)r.epoll_ctl(outer.epfd, op, inner.nest_fd, &copy);
  std::lock_guard<std::mutex> outer_lock(outer.mu);
  if (op == EPOLL_CTL_ADD) {
    ++outer.nested_children;
    outer.watch_efd();
  }
  if (op == EPOLL_CTL_DEL && outer.nested_children > 0) --outer.nested_children;
  inner.update_nest();
  return 0;
}

}  // namespace

namespace utcp::preload {

void epoll_pump_events() {
  Client* c = Client::current();
  if (c == nullptr) return;
  const auto instances = all_instances();
  std::vector<std::uint32_t> slots;
  const bool complete = c->drain_events([&](std::uint32_t slot) { slots.push_back(slot); });
  if (slots.empty() && complete) return;
  for (auto& inst : instances) {
    std::lock_guard<std::mutex> lock(inst->mu);
    if (!complete) {
      for (auto& [fd, item] : inst->items) inst->queue(fd, item);
      continue;
    }
    for (std::uint32_t slot : slots) {
      auto it = inst->by_slot.find(slot);
      if (it == inst->by_slot.end()) continue;
      for (int fd : it->second) inst->queue(fd, inst->items[fd]);
    }
    inst->update_nest();
  }
}

void epoll_forget_fd(int fd) {
  for (auto& inst : all_instances()) {
    std::lock_guard<std::mutex> lock(inst->mu);
    auto it = inst->items.find(fd);
    if (it == inst->items.end()) continue;
    inst->unindex(fd, it->second);
    inst->items.erase(it);
  }
}

void epoll_close_instance(int fd) {
  std::shared_ptr<Instance> inst;
  {
    std::lock_guard<std::mutex> lock(g_mu);
    auto it = g_instances.find(fd);
    if (it == g_instances.end()) return;
    inst = std::move(it->second);
    g_instances.erase(it);
  }
  private_fds::remove(&inst->efd);
  private_fds::remove(&inst->nest_fd);
  if (inst->efd >= 0) real().close(inst->efd);
  if (inst->nest_fd >= 0) real().close(inst->nest_fd);
}

std::vector<int> epoll_instance_fds() {
  std::lock_guard<std::mutex> lock(g_mu);
  std::vector<int> out;
  for (auto& [fd, inst] : g_instances) out.push_back(fd);
  return out;
}

void epoll_socket_became_utcp(int fd) {
  USocketPtr s = fd_table::get(fd);
  if (!s) return;
  for (auto& inst : all_instances()) {
    std::lock_guard<std::mutex> lock(inst->mu);
    auto it = inst->items.find(fd);
    if (it == inst->items.end() || it->second.utcp) continue;
    it->second.utcp = true;
    it->second.slot = s->slot;
    inst->by_slot[s->slot].push_back(fd);
    inst->watch_efd();
    inst->queue(fd, it->second);
    // A kernel half keeps the old socket alive, and with it the kernel's registration
    // (under the fd number, which now names the placeholder): it goes on reporting the
    // kernel half's connections under the app's data. MOD/DEL cannot reach it any
    // more (docs/supported.md: register a 0.0.0.0 listener after bind()).
  }
}

}  // namespace utcp::preload

extern "C" {

int epoll_create(int size) { return track(real().epoll_create(size)); }
int epoll_create1(int flags) { return track(real().epoll_create1(flags)); }

int epoll_ctl(int epfd, int op, int fd, epoll_event* ev) {
  const Real& r = real();
  std::shared_ptr<Instance> inst = find(epfd);
  if (inst && epfd != fd) {
    if (std::shared_ptr<Instance> inner = find(fd)) return nest(*inst, *inner, op, fd, ev);
  }
  USocketPtr s = fd_table::get(fd);
  if (!inst || !s) return r.epoll_ctl(epfd, op, fd, ev);
  if (epfd == fd) return fail(EINVAL);
  if (op != EPOLL_CTL_DEL && ev == nullptr) return fail(EFAULT);
  if (op != EPOLL_CTL_ADD && op != EPOLL_CTL_MOD && op != EPOLL_CTL_DEL) return fail(EINVAL);
  if (op == EPOLL_CTL_MOD && (ev->events & EPOLLEXCLUSIVE)) return fail(EINVAL);
  if (op == EPOLL_CTL_ADD && (ev->events & EPOLLEXCLUSIVE) && (ev->events & EPOLLONESHOT)) {
    return fail(EINVAL);
  }
  const bool utcp_mode = s->mode == USocket::Mode::kUtcp;
  Client* c = utcp_mode ? Client::get() : nullptr;
  if (utcp_mode && c == nullptr) return fail(ENETDOWN);
  if (c != nullptr) {
    std::lock_guard<std::mutex> lock(s->mu);
    watch_if_inherited(*s, *c);
  }
  std::lock_guard<std::mutex> lock(inst->mu);
  auto it = inst->items.find(fd);
  switch (op) {
    case EPOLL_CTL_ADD: {
      if (it != inst->items.end()) return fail(EEXIST);
      if (!utcp_mode || s->kernel_half >= 0) {
        // A kernel socket still (or the kernel half of a 0.0.0.0 listener).
        const int kfd = utcp_mode ? s->kernel_half : fd;
        if (r.epoll_ctl(epfd, op, kfd, ev) != 0) return -1;
      }
      Interest item{s, ev->events, ev->data, false, false, utcp_mode,
                    (ev->events & EPOLLEXCLUSIVE) != 0, s->slot, ++inst->registrations};
      auto& placed = inst->items[fd] = item;
      if (utcp_mode) {
        inst->by_slot[s->slot].push_back(fd);
        inst->watch_efd();
      }
      inst->queue(fd, placed);
      return 0;
    }
    case EPOLL_CTL_MOD: {
      if (it == inst->items.end()) return fail(ENOENT);
      if (it->second.exclusive) return fail(EINVAL);
      if (!it->second.utcp) {
        if (r.epoll_ctl(epfd, op, fd, ev) != 0) return -1;
      } else if (s->kernel_half >= 0) {
        (void)r.epoll_ctl(epfd, op, s->kernel_half, ev);
      }
      it->second.events = ev->events;
      it->second.data = ev->data;
      it->second.disabled = false;
      inst->queue(fd, it->second);
      return 0;
    }
    default: {
      if (it == inst->items.end()) return fail(ENOENT);
      if (!it->second.utcp || s->kernel_half >= 0) {
        const int kfd = it->second.utcp ? s->kernel_half : fd;
        (void)r.epoll_ctl(epfd, op, kfd, ev);
      }
      inst->unindex(fd, it->second);
      inst->items.erase(it);
      return 0;
    }
  }
}

int epoll_wait(int epfd, epoll_event* events, int max, int timeout) {
  return wait_common(epfd, events, max, timeout);
}

int epoll_pwait(int epfd, epoll_event* events, int max, int timeout, const sigset_t* mask) {
  if (mask == nullptr) return wait_common(epfd, events, max, timeout);
  if (!find(epfd) || Client::current() == nullptr) {
    return real().epoll_pwait(epfd, events, max, timeout, mask);
  }
  // Not atomic like the kernel's: a signal between the two mask changes is delivered
  // before the wait instead of waking it (docs/supported.md).
  sigset_t old;
  pthread_sigmask(SIG_SETMASK, mask, &old);
  const int n = wait_common(epfd, events, max, timeout);
  const int saved = errno;
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
  errno = saved;
  return n;
}

}  // extern "C"
