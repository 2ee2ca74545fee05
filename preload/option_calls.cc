// getsockname, getpeername, setsockopt, getsockopt. An undecided socket is still the
// kernel's: the kernel answers and the options are recorded, to be replayed on the
// engine once the socket turns utcp. A utcp socket's engine-level options go to its
// engine(s); bookkeeping ones are answered here; anything else is ENOPROTOOPT rather
// than a "success" that changes nothing (docs/supported.md lists them).
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/time.h>

#include <cstring>

#include "preload/ops.h"
#include "preload/option_values.h"
#include "preload/real.h"

using namespace utcp::preload;

namespace {

bool is_flag_option(int level, int name) {
  return (level == IPPROTO_TCP && (name == TCP_NODELAY || name == TCP_CORK || name == TCP_QUICKACK)) ||
         (level == SOL_SOCKET && name == SO_KEEPALIVE);
}

// The kernel answers these on the placeholder (a unix socket, where the generic socket
// code runs), with the caller's real credentials: SO_PRIORITY (above 6 needs
// CAP_NET_ADMIN), SO_MARK (CAP_NET_ADMIN or CAP_NET_RAW: EPERM) and SO_DEBUG
// (CAP_NET_ADMIN: EACCES), which utcp does not act on, so the kernel's check and
// reading are all there is to them (docs/security.md); SO_BINDTODEVICE, which reads ""
// (length 0) for a socket bound to no device, as sshd expects.
bool placeholder_option(int level, int name) {
  return level == SOL_SOCKET && (name == SO_PRIORITY || name == SO_BINDTODEVICE ||
                                 name == SO_MARK || name == SO_DEBUG);
}

// IP_TRANSPARENT (CAP_NET_ADMIN or CAP_NET_RAW, else EPERM) is an IP-level option the
// placeholder cannot take: a throwaway kernel TCP socket judges it, as the caller.
// utcp does not act on it (it binds only its own address); the value is kept for
// getsockopt.
int judge_on_kernel_socket(int level, int name, const void* val, socklen_t len) {
  const Real& r = real();
  const int k = r.socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (k < 0) return -1;
  const int rc = r.setsockopt(k, level, name, val, len);
  const int err = errno;
  r.close(k);
  errno = err;
  return rc;
}

// Keeps the latest value of each option, in the order they were last set (replay order
// matters: IP_TOS and SO_PRIORITY both set the priority). A program that toggles
// TCP_CORK around every response keeps one entry, not one per response.
void record(USocket& s, const RecordedOption& o) {
  std::erase_if(s.options, [&](const RecordedOption& r) { return r.level == o.level && r.name == o.name; });
  s.options.push_back(o);
}

// Options the library keeps itself: 0 when `o` was one of them (stored in s).
bool library_option(USocket& s, const RecordedOption& o) {
  const int v = static_cast<int>(o.value);
  if (o.level == SOL_SOCKET && o.name == SO_REUSEPORT) {
    s.reuse_port = v != 0;
  } else if (o.level == SOL_SOCKET && o.name == SO_RCVLOWAT) {
    s.rcvlowat = rcvlowat_value(v, s);
  } else if (o.level == IPPROTO_TCP && o.name == TCP_NOTSENT_LOWAT) {
    s.notsent_lowat = v;
  } else if (o.level == IPPROTO_IP && o.name == IP_BIND_ADDRESS_NO_PORT) {
    s.bind_no_port = v != 0;
  } else {
    return false;
  }
  return true;
}

long timeval_ms(const timeval& tv) {
  if (tv.tv_sec == 0 && tv.tv_usec == 0) return -1;  // 0: no timeout
  return static_cast<long>(tv.tv_sec) * 1000 + (tv.tv_usec + 999) / 1000;
}

int name_of(int fd, sockaddr* addr, socklen_t* len, bool peer) {
  USocketPtr s = fd_table::get(fd);
  const Real& r = real();
  if (!s) return peer ? r.getpeername(fd, addr, len) : r.getsockname(fd, addr, len);
  std::lock_guard<std::mutex> lock(s->mu);
  if (s->mode != USocket::Mode::kUtcp) {
    return peer ? r.getpeername(fd, addr, len) : r.getsockname(fd, addr, len);
  }
  if (addr == nullptr || len == nullptr) return fail(EFAULT);
  if (static_cast<int>(*len) < 0) return fail(EINVAL);
  if (!peer && s->port_deferred) {
    // IP_BIND_ADDRESS_NO_PORT: bound to an address, port 0 until connect() picks one.
    fill_addr(addr, len, ntohl(s->local.sin_addr.s_addr), 0);
    return 0;
  }
  Client* c = Client::get();
  if (c == nullptr) return fail(ENETDOWN);
  utcp::shim::Command cmd;
  cmd.op = peer ? utcp::shim::Op::kGetPeer : utcp::shim::Op::kGetName;
  const utcp::shim::Reply rep = call_owner(*c, *s, cmd);
  if (rep.result < 0) return fail(-rep.result);
  // A 0.0.0.0 listener reports 0.0.0.0, as on the kernel.
  const std::uint32_t ip = !peer && s->listening ? ntohl(s->local.sin_addr.s_addr) : rep.ip;
  fill_addr(addr, len, ip, rep.port);
  return 0;
}

void fill_tcp_info(const utcp::shim::InfoPayload& p, tcp_info* ti) {
  std::memset(ti, 0, sizeof *ti);
  ti->tcpi_state = p.state;
  ti->tcpi_options = p.options;
  ti->tcpi_snd_wscale = p.snd_wscale & 0xf;
  ti->tcpi_rcv_wscale = p.rcv_wscale & 0xf;
  ti->tcpi_retransmits = static_cast<std::uint8_t>(p.retransmits);
  ti->tcpi_rto = p.rto_us;
  ti->tcpi_snd_mss = p.snd_mss;
  ti->tcpi_rcv_mss = p.rcv_mss;
  ti->tcpi_unacked = p.unacked;
  ti->tcpi_rtt = p.rtt_us;
  ti->tcpi_rttvar = p.rttvar_us;
  ti->tcpi_snd_ssthresh = p.snd_ssthresh;
  ti->tcpi_snd_cwnd = p.snd_cwnd;
  ti->tcpi_advmss = p.advmss;
  ti->tcpi_rcv_space = p.rcv_space;
  ti->tcpi_total_retrans = p.total_retrans;
}

}  // namespace

extern "C" {

int getsockname(int fd, sockaddr* addr, socklen_t* len) { return name_of(fd, addr, len, false); }
int getpeername(int fd, sockaddr* addr, socklen_t* len) { return name_of(fd, addr, len, true); }

int setsockopt(int fd, int level, int name, const void* val, socklen_t len) {
  USocketPtr s = fd_table::get(fd);
  const Real& r = real();
  if (!s) return r.setsockopt(fd, level, name, val, len);
  std::lock_guard<std::mutex> lock(s->mu);
  RecordedOption o{level, name, 0, 0};
  const bool is_timeout = level == SOL_SOCKET && (name == SO_RCVTIMEO || name == SO_SNDTIMEO);
  const bool kernel_checked = s->mode == USocket::Mode::kUndecided || s->kernel_half >= 0;
  if (kernel_checked) {
    // The kernel checks the arguments (and keeps the option for a kernel future).
    const int target = s->mode == USocket::Mode::kUndecided ? fd : s->kernel_half;
    if (r.setsockopt(target, level, name, val, len) != 0) return -1;
  }
  if (placeholder_option(level, name) && s->mode == USocket::Mode::kUtcp) {
    if (r.setsockopt(fd, level, name, val, len) != 0) return -1;
    // Accepted children inherit the mark and the debug flag, as Linux clones them.
    if ((name == SO_MARK || name == SO_DEBUG) && parse_option(level, name, val, len, &o) == 0) {
      record(*s, o);
    }
    return 0;
  }
  const bool transparent = level == IPPROTO_IP && name == IP_TRANSPARENT;
  if (transparent && !kernel_checked && judge_on_kernel_socket(level, name, val, len) != 0) {
    return -1;
  }
  if (is_timeout) {
    if (!kernel_checked && len < sizeof(timeval)) return fail(EINVAL);
    if (val == nullptr) return fail(EFAULT);
    timeval tv;
    std::memcpy(&tv, val, sizeof tv);
    (name == SO_RCVTIMEO ? s->rcvtimeo_ms : s->sndtimeo_ms) = timeval_ms(tv);
    return 0;
  }
  if (int err = parse_option(level, name, val, len, &o); err != 0) {
    // An undecided socket took it on the kernel (e.g. a congestion control utcp does
    // not have): it stays the kernel's; a utcp socket refuses it as Linux would.
    if (s->mode == USocket::Mode::kUndecided) return 0;
    return fail(err);
  }
  if (level == IPPROTO_TCP && name == TCP_DEFER_ACCEPT) {
    o.value = s->defer_accept = defer_accept_seconds(static_cast<int>(o.value));
  }
  if (library_option(*s, o)) return 0;
  if (transparent) {
    record(*s, o);
    return 0;
  }
  if (s->mode == USocket::Mode::kUndecided) {
    record(*s, o);  // replayed on the engine, or on the placeholder
    return 0;
  }
  if (!engine_option(level, name)) return fail(ENOPROTOOPT);
  Client* c = Client::get();
  if (c == nullptr) return fail(ENETDOWN);
  utcp::shim::Command cmd;
  cmd.op = utcp::shim::Op::kSetOption;
  cmd.a = level;
  cmd.b = name;
  cmd.value = o.value;
  cmd.value2 = o.value2;
  if (!s->listening && is_flag_option(level, name)) {
    // Cannot fail on the engine (a boolean of an existing socket): posted without a
    // round trip, in order with the data around it. nginx toggles TCP_CORK around
    // every response.
    cmd.flags = utcp::shim::kNoReply;
    cmd.slot = s->slot;
    cmd.generation = s->generation;
    c->post(s->owner, cmd);
    record(*s, o);
    return 0;
  }
  utcp::shim::Reply rep = call_owner(*c, *s, cmd);
  if (rep.result == 0 && s->listening) {
    for (std::uint32_t e = 0; e < c->geometry().engines; ++e) {
      if (e == s->owner) continue;
      cmd.slot = s->slot;
      cmd.generation = s->generation;
      (void)c->call(e, cmd);
    }
  }
  if (rep.result < 0) return fail(-rep.result);
  if (level == IPPROTO_IP && name == IP_TOS) {
    const int prio = tos_priority(static_cast<int>(o.value));  // as the kernel does
    (void)r.setsockopt(fd, SOL_SOCKET, SO_PRIORITY, &prio, sizeof prio);
  } else if (level == SOL_SOCKET && (name == SO_RCVBUF || name == SO_SNDBUF)) {
    (void)r.setsockopt(fd, level, name, val, len);  // for getsockopt's answer, see there
  }
  record(*s, o);
  return 0;
}

int getsockopt(int fd, int level, int name, void* val, socklen_t* len) {
  USocketPtr s = fd_table::get(fd);
  const Real& r = real();
  if (!s) return r.getsockopt(fd, level, name, val, len);
  std::lock_guard<std::mutex> lock(s->mu);
  if (s->mode == USocket::Mode::kUndecided) return r.getsockopt(fd, level, name, val, len);
  if (val == nullptr || len == nullptr) return fail(EFAULT);
  if (static_cast<int>(*len) < 0) return fail(EINVAL);
  if (level == SOL_SOCKET) {
    switch (name) {
      case SO_TYPE: return put_int(val, len, SOCK_STREAM);
      case SO_DOMAIN: return put_int(val, len, AF_INET);
      case SO_PROTOCOL: return put_int(val, len, IPPROTO_TCP);
      case SO_ACCEPTCONN: return put_int(val, len, s->listening ? 1 : 0);
      case SO_REUSEPORT: return put_int(val, len, s->reuse_port ? 1 : 0);
      case SO_RCVLOWAT: return put_int(val, len, s->rcvlowat);
      case SO_PRIORITY:
      case SO_MARK:
      case SO_DEBUG:
      case SO_BINDTODEVICE: return r.getsockopt(fd, level, name, val, len);
      case SO_RCVTIMEO:
      case SO_SNDTIMEO: {
        const long ms = name == SO_RCVTIMEO ? s->rcvtimeo_ms : s->sndtimeo_ms;
        timeval tv{};
        if (ms > 0) {
          tv.tv_sec = ms / 1000;
          tv.tv_usec = (ms % 1000) * 1000;
        }
        const socklen_t n = std::min<socklen_t>(*len, sizeof tv);
        std::memcpy(val, &tv, n);
        *len = n;
        return 0;
      }
      default: break;
    }
  }
  if (level == IPPROTO_TCP && name == TCP_DEFER_ACCEPT) return put_int(val, len, s->defer_accept);
  if (level == IPPROTO_TCP && name == TCP_NOTSENT_LOWAT) return put_int(val, len, s->notsent_lowat);
  if (level == IPPROTO_IP && name == IP_BIND_ADDRESS_NO_PORT) {
    return put_ip_int(val, len, s->bind_no_port ? 1 : 0);
  }
  if (level == IPPROTO_IP && name == IP_TRANSPARENT) {
    int v = 0;
    for (const RecordedOption& o : s->options) {
      if (o.level == level && o.name == name) v = static_cast<int>(o.value) != 0;
    }
    return put_ip_int(val, len, v);
  }
  Client* c = Client::get();
  if (c == nullptr) return fail(ENETDOWN);
  if (level == IPPROTO_TCP && name == TCP_INFO) {
    utcp::shim::Command cmd;
    cmd.op = utcp::shim::Op::kTcpInfo;
    const utcp::shim::Reply rep = call_owner(*c, *s, cmd);
    tcp_info ti;
    if (rep.result < 0) {
      std::memset(&ti, 0, sizeof ti);
      ti.tcpi_state = s->listening ? TCP_LISTEN : TCP_CLOSE;
    } else {
      fill_tcp_info(rep.info, &ti);
    }
    const socklen_t n = std::min<socklen_t>(*len, sizeof ti);
    std::memcpy(val, &ti, n);
    *len = n;
    return 0;
  }
  if (!engine_option(level, name) && !(level == SOL_SOCKET && name == SO_ERROR)) {
    return fail(ENOPROTOOPT);
  }
  utcp::shim::Command cmd;
  cmd.op = utcp::shim::Op::kGetOption;
  cmd.a = level;
  cmd.b = name;
  const utcp::shim::Reply rep = call_owner(*c, *s, cmd);
  if (rep.result < 0) return fail(-rep.result);
  if (level == SOL_SOCKET && name == SO_ERROR) {
    // SO_ERROR consumes the connection's error: reads return EOF afterwards.
    // Reading the error anywhere (read, write, SO_ERROR) reports it once, as the
    // kernel's sock_error() clears sk_err.
    int err = static_cast<int>(rep.value);  // utcpd's pending SO_ERROR, now consumed
    if (s->block(*c).state.load() & utcp::shim::state::kError) {
      if (s->error_reported.exchange(true)) {
        err = 0;
      } else if (err == 0) {
        err = s->block(*c).error.load();
      }
    }
    return put_int(val, len, err);
  }
  if (level == SOL_SOCKET && name == SO_LINGER) {
    linger l{static_cast<int>(rep.value), static_cast<int>(rep.value2)};
    const socklen_t n = std::min<socklen_t>(*len, sizeof l);
    std::memcpy(val, &l, n);
    *len = n;
    return 0;
  }
  long v = rep.value;
  if (level == SOL_SOCKET && (name == SO_RCVBUF || name == SO_SNDBUF)) {
    // A socket nobody sized reports the stream it really has. A sized one reports what
    // the kernel made of the request (twice it, within net.core.[rw]mem_max and the
    // minimum), which the placeholder holds: the same generic socket code sized it.
    if (v != 0) return r.getsockopt(fd, level, name, val, len);
    v = static_cast<long>(c->geometry().stream_capacity);
  }
  if (level == IPPROTO_TCP && name == TCP_CONGESTION) return put_congestion_name(val, len, v);
  if (level == IPPROTO_IP) return put_ip_int(val, len, static_cast<int>(v));
  return put_int(val, len, static_cast<int>(v));
}

}  // extern "C"
