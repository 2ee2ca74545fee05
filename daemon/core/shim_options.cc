// setsockopt/getsockopt for the options the engine acts on (read shim_server.h
// first). The app side answers the ones that are only bookkeeping (SO_TYPE,
// SO_ACCEPTCONN, timeouts, ...); everything else is ENOPROTOOPT, as Linux says for an
// option it does not know, so no program is told "done" for something nobody does.
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <climits>

#include "daemon/core/shim_server.h"

namespace utcp::daemon {

std::uint8_t linux_tcp_state(stack::tcp::State s) {
  using stack::tcp::State;
  switch (s) {
    case State::kEstablished: return TCP_ESTABLISHED;
    case State::kSynSent: return TCP_SYN_SENT;
    case State::kSynReceived: return TCP_SYN_RECV;
    case State::kFinWait1: return TCP_FIN_WAIT1;
    case State::kFinWait2: return TCP_FIN_WAIT2;
    case State::kTimeWait: return TCP_TIME_WAIT;
    case State::kCloseWait: return TCP_CLOSE_WAIT;
    case State::kLastAck: return TCP_LAST_ACK;
    case State::kListen: return TCP_LISTEN;
    case State::kClosing: return TCP_CLOSING;
    case State::kClosed: break;
  }
  return TCP_CLOSE;
}

void ShimServer::set_option(RegionState&, Slot& slot, const shim::Command& cmd, shim::Reply& rep,
                            stack::Instant now) {
  auto opts = engine_.options(slot.id);
  if (!opts) {
    rep.result = -opts.err();
    return;
  }
  stack::engine::SocketOptions o = *opts;
  const std::int64_t v = cmd.value;
  const bool on = v != 0;
  // Linux's limits: keepalive times 1..32767 s, count 1..127 (tcp.c do_tcp_setsockopt).
  const bool keep_range = v >= 1 && v <= 32767;
  if (cmd.a == SOL_SOCKET) {
    switch (cmd.b) {
      case SO_REUSEADDR: o.reuse_addr = on; break;
      case SO_KEEPALIVE: o.tcp.keepalive = on; break;
      case SO_LINGER:
        // l_linger is an int; anything else in this app-written field would overflow
        // the conversion to microseconds.
        o.tcp.linger = on;
        o.tcp.linger_time = std::chrono::seconds(std::clamp<std::int64_t>(cmd.value2, 0, INT_MAX));
        break;
      case SO_RCVBUF: o.tcp.rcvbuf = static_cast<std::uint32_t>(v); break;
      case SO_SNDBUF: o.tcp.sndbuf = static_cast<std::uint32_t>(v); break;
      default: rep.result = -ENOPROTOOPT; return;
    }
  } else if (cmd.a == IPPROTO_TCP) {
    switch (cmd.b) {
      case TCP_NODELAY: o.tcp.nodelay = on; break;
      case TCP_CORK: o.tcp.cork = on; break;
      case TCP_KEEPIDLE:
        if (!keep_range) { rep.result = -EINVAL; return; }
        o.tcp.keepalive_idle = std::chrono::seconds(v);
        break;
      case TCP_KEEPINTVL:
        if (!keep_range) { rep.result = -EINVAL; return; }
        o.tcp.keepalive_interval = std::chrono::seconds(v);
        break;
      case TCP_KEEPCNT:
        if (v < 1 || v > 127) { rep.result = -EINVAL; return; }
        o.tcp.keepalive_count = static_cast<std::uint32_t>(v);
        break;
      case TCP_MAXSEG:
        if (v != 0 && (v < 88 || v > 65535)) { rep.result = -EINVAL; return; }
        o.tcp.user_mss = static_cast<std::uint16_t>(v);
        break;
      default: rep.result = -ENOPROTOOPT; return;
    }
  } else {
    rep.result = -ENOPROTOOPT;
    return;
  }
  rep.result = -engine_.set_options(slot.id, o, now);
}

void ShimServer::get_option(RegionState&, Slot& slot, const shim::Command& cmd, shim::Reply& rep) {
  if (cmd.a == SOL_SOCKET && cmd.b == SO_ERROR) {
    // The error the daemon noted first (it took it from the engine), else the engine's.
    int err = slot.so_error;
    slot.so_error = 0;
    if (err == 0) {
      auto e = engine_.take_error(slot.id);
      err = e ? *e : 0;
    }
    rep.value = err;
    return;
  }
  auto opts = engine_.options(slot.id);
  if (!opts) {
    rep.result = -opts.err();
    return;
  }
  const stack::tcp::SocketOptions& t = opts->tcp;
  if (cmd.a == SOL_SOCKET) {
    switch (cmd.b) {
      case SO_REUSEADDR: rep.value = opts->reuse_addr; return;
      case SO_KEEPALIVE: rep.value = t.keepalive; return;
      case SO_LINGER:
        rep.value = t.linger;
        rep.value2 = std::chrono::duration_cast<std::chrono::seconds>(t.linger_time).count();
        return;
      case SO_RCVBUF: rep.value = t.rcvbuf; return;
      case SO_SNDBUF: rep.value = t.sndbuf; return;
      default: break;
    }
  } else if (cmd.a == IPPROTO_TCP) {
    using std::chrono::duration_cast;
    using std::chrono::seconds;
    switch (cmd.b) {
      case TCP_NODELAY: rep.value = t.nodelay; return;
      case TCP_CORK: rep.value = t.cork; return;
      case TCP_KEEPIDLE: rep.value = duration_cast<seconds>(t.keepalive_idle).count(); return;
      case TCP_KEEPINTVL: rep.value = duration_cast<seconds>(t.keepalive_interval).count(); return;
      case TCP_KEEPCNT: rep.value = t.keepalive_count; return;
      case TCP_MAXSEG: rep.value = t.user_mss; return;
      default: break;
    }
  }
  rep.result = -ENOPROTOOPT;
}

}  // namespace utcp::daemon
