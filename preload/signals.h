// SA_RESTART for blocking utcp calls. A blocked utcp read/write/accept/connect sleeps
// in poll(), which the kernel never restarts; the kernel's own socket calls restart
// after a handler installed with SA_RESTART (unless the socket has a timeout: Linux's
// sock_intr_errno). To know which handler interrupted the sleep, the library installs
// the program's handlers behind a trampoline that notes the signal on the thread it
// runs on; sigaction() still reports the program's own handler and flags.
#pragma once

#include <cstdint>

namespace utcp::preload {

// What this thread's handlers did so far: taken before a wait.
struct SignalMark {
  std::uint64_t handled = 0;
  std::uint64_t without_restart = 0;
};
SignalMark signal_mark();
// After a wait ended in EINTR: true when a handler ran on this thread since `before`
// and every one that did was installed with SA_RESTART, so a call without a timeout
// goes on waiting (as the kernel restarts its own).
bool restart_after_signal(const SignalMark& before);

}  // namespace utcp::preload
