// epoll_create, epoll_create1, epoll_ctl, epoll_wait, epoll_pwait (read epoll_set.h).
#include <signal.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>

#include <chrono>
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
struct Instance {
  int epfd = -1;
  int efd = -1;  // this instance's wake-up eventfd (Client::wait's own fd)
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

int wait_common(int epfd, epoll_event* events, int max, int timeout) {
  const Real& r = real();
  if (max <= 0) return fail(EINVAL);
  if (events == nullptr) return fail(EFAULT);
  std::shared_ptr<Instance> inst = find(epfd);
  Client* c = Client::current();
  bool has_utcp = false;
  if (inst && c != nullptr) {
    std::lock_guard<std::mutex> lock(inst->mu);
    has_utcp = !inst->by_slot.empty() || inst->nested_children > 0;
  }
  if (!has_utcp) return r.epoll_wait(epfd, events, max, timeout);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout);
  for (;;) {
    epoll_pump_events();
    int n = collect(*inst, *c, events, max);
    if (n < max) {
      const int m = r.epoll_wait(epfd, events + n, max - n, 0);
      if (m > 0) n += m;
    }
    if (n > 0 || timeout == 0) return n;
    if (c->daemon_gone()) {
      // Every utcp socket reports its error now; nothing more will change.
      std::lock_guard<std::mutex> lock(inst->mu);
      for (auto& [fd, item] : inst->items) inst->queue(fd, item);
      if (!inst->ready.empty()) continue;
    }
    int left = -1;
    if (timeout > 0) {
      left = static_cast<int>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                  deadline - std::chrono::steady_clock::now()).count());
      if (left <= 0) return 0;
    }
    pollfd kernel{epfd, POLLIN, 0};
    const int w = c->wait(
        [&] {
          epoll_pump_events();
          std::lock_guard<std::mutex> lock(inst->mu);
          return !inst->ready.empty();
        },
        std::span<pollfd>(&kernel, 1), left, inst->efd);
    if (w < 0) return -1;
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
  if (op == EPOLL_CTL_ADD) ++outer.nested_children;
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
      if (utcp_mode) inst->by_slot[s->slot].push_back(fd);
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
