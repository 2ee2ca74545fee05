// dlsym(RTLD_NEXT) for every interposed call (read real.h first).
#include "preload/real.h"

#include <dlfcn.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <mutex>

namespace utcp::preload {
namespace {

Real g_real;
std::once_flag g_once;

template <class Fn>
void resolve_one(Fn*& slot, const char* name) {
  void* p = ::dlsym(RTLD_NEXT, name);
  if (p == nullptr) {
    // No stdio here: it may not be initialised yet.
    static const char prefix[] = "libutcp: cannot resolve libc's ";
    [[maybe_unused]] ssize_t n = ::write(2, prefix, sizeof prefix - 1);
    n = ::write(2, name, std::strlen(name));
    n = ::write(2, "\n", 1);
    std::abort();
  }
  slot = reinterpret_cast<Fn*>(p);
}

void resolve() {
  Real& r = g_real;
#define UTCP_RESOLVE(name) resolve_one(r.name, #name)
  UTCP_RESOLVE(socket); UTCP_RESOLVE(bind); UTCP_RESOLVE(listen); UTCP_RESOLVE(accept);
  UTCP_RESOLVE(accept4); UTCP_RESOLVE(connect); UTCP_RESOLVE(getsockname);
  UTCP_RESOLVE(getpeername); UTCP_RESOLVE(setsockopt); UTCP_RESOLVE(getsockopt);
  UTCP_RESOLVE(shutdown); UTCP_RESOLVE(close); UTCP_RESOLVE(read); UTCP_RESOLVE(readv);
  UTCP_RESOLVE(write); UTCP_RESOLVE(writev); UTCP_RESOLVE(recv); UTCP_RESOLVE(recvfrom);
  UTCP_RESOLVE(recvmsg); UTCP_RESOLVE(send); UTCP_RESOLVE(sendto); UTCP_RESOLVE(sendmsg);
  UTCP_RESOLVE(sendfile); UTCP_RESOLVE(sendfile64); UTCP_RESOLVE(fcntl); UTCP_RESOLVE(ioctl);
  UTCP_RESOLVE(dup); UTCP_RESOLVE(dup2); UTCP_RESOLVE(dup3); UTCP_RESOLVE(epoll_create);
  UTCP_RESOLVE(epoll_create1); UTCP_RESOLVE(epoll_ctl); UTCP_RESOLVE(epoll_wait);
  UTCP_RESOLVE(epoll_pwait); UTCP_RESOLVE(poll); UTCP_RESOLVE(ppoll); UTCP_RESOLVE(select);
  UTCP_RESOLVE(pselect); UTCP_RESOLVE(fork); UTCP_RESOLVE(execve);
#undef UTCP_RESOLVE
}

__attribute__((constructor)) void resolve_early() { std::call_once(g_once, resolve); }

}  // namespace

const Real& real() {
  std::call_once(g_once, resolve);
  return g_real;
}

}  // namespace utcp::preload
