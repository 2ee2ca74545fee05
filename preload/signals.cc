// sigaction/signal behind a trampoline (read signals.h first). The trampoline must be
// async-signal-safe: it reads the program's handler and flags from atomics and bumps
// thread-local counters; sigaction() itself (never called from a handler by the
// library) takes a mutex.
#include "preload/signals.h"

#include <dlfcn.h>
#include <signal.h>

#include <atomic>
#include <cstdlib>
#include <mutex>

namespace utcp::preload {
namespace {

using SigactionFn = int (*)(int, const struct sigaction*, struct sigaction*);

struct Installed {
  std::atomic<bool> wrapped{false};  // the kernel holds our trampoline for this signal
  std::atomic<void*> handler{nullptr};
  std::atomic<int> flags{0};
  struct sigaction user {};  // as the program gave it (guarded by g_mu)
};

Installed g_table[NSIG];
std::mutex g_mu;
thread_local std::uint64_t t_handled = 0;
thread_local std::uint64_t t_handled_no_restart = 0;

SigactionFn real_sigaction() {
  static const auto fn = reinterpret_cast<SigactionFn>(::dlsym(RTLD_NEXT, "sigaction"));
  if (fn == nullptr) std::abort();
  return fn;
}

void trampoline(int sig, siginfo_t* info, void* ctx) {
  Installed& t = g_table[sig];
  const int flags = t.flags.load(std::memory_order_acquire);
  void* handler = t.handler.load(std::memory_order_acquire);
  ++t_handled;
  if (!(flags & SA_RESTART)) ++t_handled_no_restart;
  // The kernel already went back to SIG_DFL for a one-shot handler.
  if (flags & SA_RESETHAND) t.wrapped.store(false, std::memory_order_release);
  if (flags & SA_SIGINFO) {
    reinterpret_cast<void (*)(int, siginfo_t*, void*)>(handler)(sig, info, ctx);
  } else {
    reinterpret_cast<void (*)(int)>(handler)(sig);
  }
}

bool is_handler(const struct sigaction* act) {
  if (act->sa_flags & SA_SIGINFO) return act->sa_sigaction != nullptr;
  return act->sa_handler != SIG_DFL && act->sa_handler != SIG_IGN && act->sa_handler != nullptr;
}

}  // namespace

SignalMark signal_mark() { return {t_handled, t_handled_no_restart}; }

bool restart_after_signal(const SignalMark& before) {
  return t_handled > before.handled && t_handled_no_restart == before.without_restart;
}

}  // namespace utcp::preload

using namespace utcp::preload;

extern "C" {

int sigaction(int sig, const struct sigaction* act, struct sigaction* old) {
  if (sig <= 0 || sig >= NSIG || sig == SIGKILL || sig == SIGSTOP) {
    return real_sigaction()(sig, act, old);
  }
  std::lock_guard<std::mutex> lock(g_mu);
  Installed& t = g_table[sig];
  const bool was_wrapped = t.wrapped.load(std::memory_order_acquire);
  const struct sigaction previous = t.user;
  struct sigaction kernel_old {};
  int rc;
  if (act != nullptr && is_handler(act)) {
    struct sigaction tramp = *act;
    tramp.sa_flags |= SA_SIGINFO;
    tramp.sa_sigaction = trampoline;
    // The trampoline may run the moment the kernel has it: the handler goes first.
    t.handler.store((act->sa_flags & SA_SIGINFO) ? reinterpret_cast<void*>(act->sa_sigaction)
                                                 : reinterpret_cast<void*>(act->sa_handler),
                    std::memory_order_release);
    t.flags.store(act->sa_flags, std::memory_order_release);
    rc = real_sigaction()(sig, &tramp, &kernel_old);
    if (rc == 0) {
      t.user = *act;
      t.wrapped.store(true, std::memory_order_release);
    }
  } else {
    rc = real_sigaction()(sig, act, &kernel_old);
    if (rc == 0 && act != nullptr) t.wrapped.store(false, std::memory_order_release);
  }
  if (rc == 0 && old != nullptr) {
    *old = kernel_old;
    if (was_wrapped) {  // the program's own handler and flags, not the trampoline
      old->sa_flags = previous.sa_flags;
      if (previous.sa_flags & SA_SIGINFO) {
        old->sa_sigaction = previous.sa_sigaction;
      } else {
        old->sa_handler = previous.sa_handler;
      }
    }
  }
  return rc;
}

// glibc's signal(): BSD semantics (the handler stays, interrupted calls restart).
sighandler_t signal(int sig, sighandler_t handler) {
  struct sigaction act {};
  struct sigaction old {};
  act.sa_handler = handler;
  sigemptyset(&act.sa_mask);
  sigaddset(&act.sa_mask, sig);
  act.sa_flags = SA_RESTART;
  if (sigaction(sig, &act, &old) != 0) return SIG_ERR;
  return old.sa_handler;
}

}  // extern "C"
