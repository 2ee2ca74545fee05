// setsockopt/getsockopt for the options the engine acts on (read shim_server.h
// first), one small function per level with Linux's range checks. The app side answers
// the ones that are only bookkeeping (SO_TYPE, SO_ACCEPTCONN, timeouts, lowats, ...);
// everything else is ENOPROTOOPT, as Linux says for an option it does not know, so no
// program is told "done" for something nobody does.
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

namespace {

using stack::tcp::State;

constexpr std::int64_t kNotHere = -1;  // "not an option of this level": ENOPROTOOPT
constexpr std::uint8_t kEcnMask = 3;    // RFC 3168: TCP leaves the ECN bits to the stack
constexpr std::uint32_t kDefaultMss = 536;  // RFC 9293 §3.7.1, Linux's TCP_MSS_DEFAULT

constexpr std::int64_t kMinRcvbuf = 2304 / 2;
constexpr std::int64_t kMinSndbuf = 4608 / 2;

std::uint32_t buffer_size(std::int64_t asked, std::int64_t floor) {
  const std::int64_t v = asked < 0 ? INT_MAX : asked;
  return static_cast<std::uint32_t>(std::clamp<std::int64_t>(v, floor, INT_MAX));
}

// Applies one SOL_SOCKET option; 0, an errno, or kNotHere.
std::int64_t set_socket_level(const shim::Command& cmd, stack::engine::SocketOptions& o) {
  const std::int64_t v = cmd.value;
  switch (cmd.b) {
    case SO_REUSEADDR: o.reuse_addr = v != 0; return 0;
    case SO_KEEPALIVE: o.tcp.keepalive = v != 0; return 0;
    case SO_LINGER:
      // l_linger is an int; anything else in this app-written field would overflow
      // the conversion to microseconds.
      o.tcp.linger = v != 0;
      o.tcp.linger_time = std::chrono::seconds(std::clamp<std::int64_t>(cmd.value2, 0, INT_MAX));
      return 0;
    // Linux keeps at least SOCK_MIN_RCVBUF / SOCK_MIN_SNDBUF (2304 / 4608 bytes, half
    // of it for data); a negative request counts as huge (min_t(u32, ...)).
    case SO_RCVBUF: o.tcp.rcvbuf = buffer_size(v, kMinRcvbuf); return 0;
    case SO_SNDBUF: o.tcp.sndbuf = buffer_size(v, kMinSndbuf); return 0;
    default: return kNotHere;
  }
}

// Applies one IPPROTO_TCP option, with Linux's checks (tcp.c do_tcp_setsockopt).
std::int64_t set_tcp_level(const shim::Command& cmd, stack::tcp::SocketOptions& t) {
  const std::int64_t v = cmd.value;
  // Linux's limits: keepalive times 1..32767 s, count 1..127.
  const bool keep_range = v >= 1 && v <= 32767;
  switch (cmd.b) {
    case TCP_NODELAY: t.nodelay = v != 0; return 0;
    case TCP_CORK: t.cork = v != 0; return 0;
    case TCP_KEEPIDLE:
      if (!keep_range) return EINVAL;
      t.keepalive_idle = std::chrono::seconds(v);
      return 0;
    case TCP_KEEPINTVL:
      if (!keep_range) return EINVAL;
      t.keepalive_interval = std::chrono::seconds(v);
      return 0;
    case TCP_KEEPCNT:
      if (v < 1 || v > 127) return EINVAL;
      t.keepalive_count = static_cast<std::uint32_t>(v);
      return 0;
    case TCP_MAXSEG:
      if (v != 0 && (v < 88 || v > 65535)) return EINVAL;
      t.user_mss = static_cast<std::uint16_t>(v);
      return 0;
    case TCP_USER_TIMEOUT:
      if (v < 0 || v > INT_MAX) return EINVAL;
      t.user_timeout = std::chrono::milliseconds(v);
      return 0;
    case TCP_CONGESTION:
      if (v != shim::kCongestionReno && v != shim::kCongestionCubic) return ENOENT;
      t.congestion = v == shim::kCongestionReno ? stack::cc::Algorithm::kNewReno
                                                : stack::cc::Algorithm::kCubic;
      return 0;
    case TCP_QUICKACK: t.quickack = v != 0; return 0;
    case TCP_DEFER_ACCEPT:  // seconds, already rounded by the library as Linux rounds them
      t.defer_accept = std::chrono::seconds(std::clamp<std::int64_t>(v, 0, INT_MAX));
      return 0;
    default: return kNotHere;
  }
}

// IP_TOS and IP_TTL, as do_ip_setsockopt checks them.
std::int64_t set_ip_level(const shim::Command& cmd, stack::tcp::SocketOptions& t) {
  const std::int64_t v = cmd.value;
  switch (cmd.b) {
    case IP_TOS:
      t.tos = static_cast<std::uint8_t>((v & ~std::int64_t{kEcnMask}) | (t.tos & kEcnMask));
      return 0;
    case IP_TTL:
      if (v != -1 && (v < 1 || v > 255)) return EINVAL;
      t.ttl = static_cast<std::uint8_t>(v == -1 ? 64 : v);  // -1: Linux's ip_default_ttl
      return 0;
    default: return kNotHere;
  }
}

bool synchronized_or_opening(State s) {
  return s != State::kClosed && s != State::kListen;
}

}  // namespace

void ShimServer::set_option(RegionState&, Slot& slot, const shim::Command& cmd, shim::Reply& rep,
                            stack::Instant now) {
  auto opts = engine_.options(slot.id);
  if (!opts) {
    rep.result = -opts.err();
    return;
  }
  stack::engine::SocketOptions o = *opts;
  std::int64_t err = kNotHere;
  if (cmd.a == SOL_SOCKET) {
    err = set_socket_level(cmd, o);
  } else if (cmd.a == IPPROTO_TCP) {
    err = set_tcp_level(cmd, o.tcp);
  } else if (cmd.a == IPPROTO_IP) {
    err = set_ip_level(cmd, o.tcp);
  }
  if (err != 0) {
    rep.result = err == kNotHere ? -ENOPROTOOPT : -static_cast<int>(err);
    return;
  }
  rep.result = -engine_.set_options(slot.id, o, now);
  // Setting these to 1 acts at once, even when they were 1 already (Linux).
  if (rep.result == 0 && cmd.a == IPPROTO_TCP && cmd.value != 0 &&
      (cmd.b == TCP_QUICKACK || cmd.b == TCP_NODELAY)) {
    const auto what = cmd.b == TCP_QUICKACK ? stack::tcp::Push::kAck : stack::tcp::Push::kData;
    rep.result = -engine_.push(slot.id, what, now);
  }
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
      case TCP_MAXSEG: {
        // Linux: the MSS in use (mss_cache: after the peer's clamp, less the timestamp
        // option) once a connection exists; before, TCP_MAXSEG's value or 536.
        auto info = engine_.info(slot.id);
        const bool live = info && synchronized_or_opening(info->state);
        rep.value = live ? info->snd_mss : t.user_mss != 0 ? t.user_mss : kDefaultMss;
        return;
      }
      case TCP_USER_TIMEOUT:
        rep.value = std::chrono::duration_cast<std::chrono::milliseconds>(t.user_timeout).count();
        return;
      case TCP_CONGESTION:
        rep.value = t.congestion.value_or(engine_.config().tcp.cc) == stack::cc::Algorithm::kNewReno
                        ? shim::kCongestionReno
                        : shim::kCongestionCubic;
        return;
      case TCP_QUICKACK: rep.value = t.quickack; return;
      default: break;
    }
  } else if (cmd.a == IPPROTO_IP) {
    switch (cmd.b) {
      case IP_TOS: rep.value = t.tos; return;
      case IP_TTL: rep.value = t.ttl; return;
      default: break;
    }
  }
  rep.result = -ENOPROTOOPT;
}

}  // namespace utcp::daemon
