// Apps: the socket calls of the fuzz program and the checks an application can make.
// Readiness rules checked (Engine::level_readiness vs the calls, as epoll users rely
// on them): data or EOF from recv() only when kReadable was reported, and never
// EAGAIN when it was; send() succeeds only when kWritable was reported, and never
// says EAGAIN when it was.
#include "tests/fuzz/engine/apps.h"

#include <algorithm>
#include <cerrno>
#include <vector>

#include "tests/fuzz/support/check.h"

namespace utcp::fuzz {
namespace {

namespace ev = stack::tcp::events;
using stack::tcp::State;

std::uint64_t key(wire::Endpoint ep) { return (std::uint64_t{ep.addr.value} << 16) | ep.port; }

bool peer_fin_seen(State s) {
  return s == State::kCloseWait || s == State::kLastAck || s == State::kClosing ||
         s == State::kTimeWait;
}

constexpr std::uint32_t kBufferSizes[] = {0, 1024, 4096, 65536, 300000};
constexpr std::uint16_t kUserMss[] = {0, 88, 100, 536, 1000, 1460, 2000, 9000};

}  // namespace

std::uint8_t Stream::byte(std::uint64_t id, std::uint64_t offset) {
  // Position-dependent and not periodic over any small distance, so a byte delivered at
  // the wrong offset (reordering, a stale retransmission) shows.
  std::uint64_t x = (offset + 1) * 0x9e3779b97f4a7c15ull ^ (id * 0xbf58476d1ce4e5b9ull);
  x ^= x >> 29;
  x *= 0x94d049bb133111ebull;
  return static_cast<std::uint8_t>(x >> 56);
}

Apps::Apps(World& world) : world_(world) {
  const auto& t = world.engine(0).config().tcp;
  bounds_.sndbuf = std::min(t.default_sndbuf, t.max_buf);
  bounds_.rcvbuf = std::min(t.default_rcvbuf, t.max_buf);
  bounds_.mss_max = std::max<std::uint32_t>(std::min<std::uint32_t>(t.mtu, 1500) - 40, 88);
}

bool Apps::holds(int e, se::SocketId id) const {
  return std::any_of(slots_[e].begin(), slots_[e].end(),
                     [&](const std::optional<AppSocket>& s) { return s && s->id == id; });
}

std::size_t Apps::held(int e) const {
  return static_cast<std::size_t>(
      std::count_if(slots_[e].begin(), slots_[e].end(), [](const auto& s) { return s.has_value(); }));
}

std::optional<se::SocketId> Apps::live_or_stale(int e, int slot, bool* live) {
  *live = slots_[e][slot].has_value();
  if (*live) return slots_[e][slot]->id;
  if (stale_[e][slot].generation == 0) return std::nullopt;  // never used
  return stale_[e][slot];
}

std::shared_ptr<Stream> Apps::stream(wire::Endpoint src, wire::Endpoint dst, bool active) {
  const auto k = std::make_pair(key(src), key(dst));
  std::shared_ptr<Stream>& cur = streams_[k];
  // The passive side takes the stream its active side started, once.
  if (!active && cur && !cur->accepted) {
    cur->accepted = true;
    return cur;
  }
  auto s = std::make_shared<Stream>();
  s->id = next_stream_++;
  // Unpredictable: a tuple a crafted frame used, a passive side with no active side of
  // ours, or a second active side while the first one's passive side is still to come
  // (an accept could then take either incarnation).
  s->tainted = tainted_.count(k) != 0 || !active;
  if (active && cur && !cur->accepted) {
    cur->tainted = true;
    s->tainted = true;
  }
  s->accepted = !active;
  cur = s;
  return s;
}

void Apps::taint(wire::Endpoint src, wire::Endpoint dst) {
  for (const auto& k : {std::make_pair(key(src), key(dst)), std::make_pair(key(dst), key(src))}) {
    tainted_.insert(k);
    if (auto it = streams_.find(k); it != streams_.end() && it->second) it->second->tainted = true;
  }
}

// --- calls ---

void Apps::socket(int e, int slot) {
  if (slots_[e][slot]) return;
  const auto r = engine(e).socket();
  if (!r) {
    FUZZ_CHECK(r.err() == ENFILE, "socket(): errno %d\n", r.err());
    return;
  }
  FUZZ_CHECK(!holds(e, *r), "socket() returned an id the application holds\n");
  AppSocket s;
  s.id = *r;
  slots_[e][slot] = s;
}

void Apps::bind(int e, int slot, std::uint16_t port, std::uint8_t flags) {
  bool live = false;
  const auto id = live_or_stale(e, slot, &live);
  if (!id) return;
  if (live && (flags & 3) != 0) {
    auto opts = engine(e).options(*id);
    FUZZ_CHECK(opts.ok(), "options() of a live id: errno %d\n", opts.err());
    opts->reuse_addr = (flags & 1) != 0;
    opts->reuse_port = (flags & 2) != 0;
    (void)engine(e).set_options(*id, *opts, world_.now());
  }
  const wire::Ipv4Addr own = engine(e).config().ip, other = engine(1 - e).config().ip;
  const wire::Ipv4Addr addrs[] = {wire::Ipv4Addr{}, own, other, own};
  const stack::Errno err = engine(e).bind(*id, {addrs[(flags >> 2) & 3], port});
  FUZZ_CHECK(live == (err != EBADF), "bind(): errno %d for a %s id\n", err, live ? "live" : "stale");
}

void Apps::listen(int e, int slot, int backlog) {
  bool live = false;
  const auto id = live_or_stale(e, slot, &live);
  if (!id) return;
  const stack::Errno err = engine(e).listen(*id, backlog);
  FUZZ_CHECK(live == (err != EBADF), "listen(): errno %d\n", err);
}

void Apps::connect(int e, int slot, wire::Endpoint remote) {
  bool live = false;
  const auto id = live_or_stale(e, slot, &live);
  if (!id) return;
  const stack::Errno err = engine(e).connect(*id, remote, world_.now());
  FUZZ_CHECK(live == (err != EBADF), "connect(): errno %d\n", err);
  if (err != EINPROGRESS) return;
  AppSocket& s = *slots_[e][slot];
  const auto local = engine(e).getsockname(s.id);
  FUZZ_CHECK(local.ok() && local->port != 0 && local->addr == engine(e).config().ip,
             "getsockname() after connect()\n");
  s.connected = true;
  s.local = *local;
  s.remote = remote;
  s.out = stream(s.local, remote, true);
  s.in = stream(remote, s.local, true);
  s.sent = s.read = 0;
}

void Apps::accept(int e, int slot) {
  bool live = false;
  const auto id = live_or_stale(e, slot, &live);
  if (!id) return;
  wire::Endpoint peer;
  const auto r = engine(e).accept(*id, &peer);
  FUZZ_CHECK(live == (r.ok() || r.err() != EBADF), "accept(): errno %d\n", r.err());
  if (!r) return;
  FUZZ_CHECK(!holds(e, *r), "accept() returned an id the application holds\n");
  const auto local = engine(e).getsockname(*r);
  FUZZ_CHECK(local.ok() && local->addr == engine(e).config().ip, "getsockname() of accepted\n");
  const auto free_slot = std::find_if(slots_[e].begin(), slots_[e].end(),
                                      [](const auto& s) { return !s.has_value(); });
  if (free_slot == slots_[e].end()) {
    FUZZ_CHECK(engine(e).close(*r, world_.now()) == 0, "close() of an accepted id\n");
    return;
  }
  AppSocket s;
  s.id = *r;
  s.connected = true;
  s.local = *local;
  s.remote = peer;
  s.in = stream(peer, *local, false);
  s.out = stream(*local, peer, false);
  *free_slot = s;
}

void Apps::send(int e, int slot, std::size_t len, bool more) {
  bool live = false;
  const auto id = live_or_stale(e, slot, &live);
  if (!id) return;
  const auto ready = engine(e).readiness(*id);
  FUZZ_CHECK(live == ready.ok(), "readiness(): errno %d\n", ready.err());
  AppSocket* s = live ? &*slots_[e][slot] : nullptr;
  std::vector<std::uint8_t> data(len);
  const std::uint64_t base = s && s->out ? s->out->sent : 0;
  const std::uint64_t sid = s && s->out ? s->out->id : 0;
  for (std::size_t i = 0; i < len; ++i) data[i] = Stream::byte(sid, base + i);
  const auto r = engine(e).send(*id, data, {false, more}, world_.now());
  FUZZ_CHECK(live == (r.ok() || r.err() != EBADF), "send(): errno %d\n", r.err());
  if (!live) return;
  if (len > 0) {
    const bool writable = (*ready & ev::kWritable) != 0;
    FUZZ_CHECK(!writable || r.ok() || r.err() != EAGAIN, "EAGAIN from send() after kWritable\n");
    FUZZ_CHECK(writable || !r.ok(), "send() took %zu bytes without kWritable (readiness %#x)\n",
               r.ok() ? *r : 0, *ready);
  }
  if (!r) return;
  FUZZ_CHECK(*r <= len, "send() took %zu of %zu\n", *r, len);
  s->sent += *r;
  if (s->out) s->out->sent += *r;
}

void Apps::check_readable(int e, AppSocket& s, std::uint32_t ready,
                          const stack::Result<std::size_t>& r, std::span<const std::uint8_t> got,
                          std::size_t asked, bool peek) {
  // A zero-length read says nothing about readiness (Linux returns 0 at once).
  const bool readable = (ready & ev::kReadable) != 0;
  FUZZ_CHECK(asked == 0 || !readable || r.ok() || r.err() != EAGAIN,
             "EAGAIN from recv() after kReadable\n");
  FUZZ_CHECK(asked == 0 || readable || !r.ok(),
             "recv() returned %zu (asked %zu) without kReadable (%#x)\n", r.ok() ? *r : 0, asked,
             ready);
  if (!r) return;
  FUZZ_CHECK(*r <= asked, "recv() gave %zu of %zu\n", *r, asked);
  if (s.in && !s.in->tainted) {
    FUZZ_CHECK(s.in->read + *r <= s.in->sent, "received %llu bytes, peer sent %llu\n",
               static_cast<unsigned long long>(s.in->read + *r),
               static_cast<unsigned long long>(s.in->sent));
    for (std::size_t i = 0; i < *r; ++i) {
      FUZZ_CHECK(got[i] == Stream::byte(s.in->id, s.in->read + i),
                 "byte %llu of stream %llu is wrong\n",
                 static_cast<unsigned long long>(s.in->read + i),
                 static_cast<unsigned long long>(s.in->id));
    }
    if (*r == 0 && asked > 0) {
      // The peer's FIN follows every byte it accepted, and the receiver reads EOF only
      // once it has read all of them: nothing may be missing.
      const auto info = engine(e).info(s.id);
      if (info && peer_fin_seen(info->state)) {
        FUZZ_CHECK(s.in->read == s.in->sent, "EOF after %llu of %llu bytes\n",
                   static_cast<unsigned long long>(s.in->read),
                   static_cast<unsigned long long>(s.in->sent));
      }
    }
  }
  if (!peek) {
    s.read += *r;
    if (s.in) s.in->read += *r;
  }
}

void Apps::recv(int e, int slot, std::size_t len, bool peek) {
  bool live = false;
  const auto id = live_or_stale(e, slot, &live);
  if (!id) return;
  const auto ready = engine(e).readiness(*id);
  std::vector<std::uint8_t> buf(len);
  const auto r = engine(e).recv(*id, buf, {peek, false}, world_.now());
  FUZZ_CHECK(live == (r.ok() || r.err() != EBADF), "recv(): errno %d\n", r.err());
  if (!live) return;
  // Only a connection reports data or EOF; a fresh socket or a listener says ENOTCONN.
  AppSocket& s = *slots_[e][slot];
  if (!r && r.err() == ENOTCONN) return;
  check_readable(e, s, *ready, r, buf, len, peek);
}

void Apps::shutdown(int e, int slot, se::ShutdownHow how) {
  bool live = false;
  const auto id = live_or_stale(e, slot, &live);
  if (!id) return;
  const stack::Errno err = engine(e).shutdown(*id, how, world_.now());
  FUZZ_CHECK(live == (err != EBADF), "shutdown(): errno %d\n", err);
}

void Apps::close(int e, int slot, bool abort) {
  bool live = false;
  const auto id = live_or_stale(e, slot, &live);
  if (!id) return;
  const stack::Errno err =
      abort ? engine(e).abort(*id, world_.now()) : engine(e).close(*id, world_.now());
  FUZZ_CHECK(live == (err == 0) && (live || err == EBADF), "close(): errno %d\n", err);
  if (!live) return;
  stale_[e][slot] = *id;
  slots_[e][slot].reset();
  FUZZ_CHECK(engine(e).info(*id).err() == EBADF, "a closed id still works\n");
}

void Apps::set_option(int e, int slot, std::uint8_t which, std::uint8_t value) {
  bool live = false;
  const auto id = live_or_stale(e, slot, &live);
  if (!id) return;
  auto opts = engine(e).options(*id);
  FUZZ_CHECK(live == opts.ok(), "options(): errno %d\n", opts.err());
  if (!opts) return;
  auto& t = opts->tcp;
  const bool on = (value & 1) != 0;
  switch (which % 10) {
    case 0: t.nodelay = on; break;
    case 1: t.cork = on; break;
    case 2:
      t.keepalive = on;
      t.keepalive_idle = std::chrono::seconds(1 + (value >> 1) % 8);
      t.keepalive_interval = std::chrono::seconds(1 + (value >> 4) % 4);
      t.keepalive_count = 1 + (value >> 6);
      break;
    case 3:
      t.linger = on;
      t.linger_time = std::chrono::seconds((value >> 1) % 2);
      break;
    case 4: t.rcvbuf = kBufferSizes[value % std::size(kBufferSizes)]; break;
    case 5: t.sndbuf = kBufferSizes[value % std::size(kBufferSizes)]; break;
    case 6: t.user_mss = kUserMss[value % std::size(kUserMss)]; break;
    case 7: opts->reuse_addr = on; break;
    case 8: opts->reuse_port = on; break;
    default:
      t.nodelay = on;
      t.cork = (value & 2) != 0;
      opts->reuse_addr = (value & 4) != 0;
      break;
  }
  const auto& cfg = engine(e).config().tcp;
  if (t.sndbuf != 0) bounds_.sndbuf = std::max(bounds_.sndbuf, std::min(t.sndbuf, cfg.max_buf));
  if (t.rcvbuf != 0) bounds_.rcvbuf = std::max(bounds_.rcvbuf, std::min(t.rcvbuf, cfg.max_buf));
  const stack::Errno err = engine(e).set_options(*id, *opts, world_.now());
  FUZZ_CHECK(err != EBADF, "set_options() of a live id\n");
}

void Apps::query(int e, int slot) {
  bool live = false;
  const auto id = live_or_stale(e, slot, &live);
  if (!id) return;
  se::Engine& en = engine(e);
  const auto name = en.getsockname(*id);
  const auto peer = en.getpeername(*id);
  const auto info = en.info(*id);
  const auto opts = en.options(*id);
  const auto ready = en.readiness(*id);
  const auto err = en.take_error(*id);
  FUZZ_CHECK(live == name.ok() && live == info.ok() && live == opts.ok() && live == ready.ok() &&
                 live == err.ok() && (live || peer.err() == EBADF),
             "queries of a %s id\n", live ? "live" : "stale");
  if (!live) return;
  const AppSocket& s = *slots_[e][slot];
  if (s.connected) {
    FUZZ_CHECK(name->addr == s.local.addr && name->port == s.local.port,
               "getsockname() changed on a connection\n");
    if (peer) FUZZ_CHECK(*peer == s.remote, "getpeername() is not the peer\n");
  }
}

void Apps::drain_events(int e) {
  se::SocketEvent buf[8];
  std::vector<se::SocketId> seen;
  for (int round = 0; round < 4; ++round) {
    const std::size_t n = engine(e).drain_events(buf);
    for (std::size_t i = 0; i < n; ++i) {
      FUZZ_CHECK(holds(e, buf[i].id), "event for socket %u/%u the application does not hold\n",
                 buf[i].id.index, buf[i].id.generation);
      FUZZ_CHECK(std::find(seen.begin(), seen.end(), buf[i].id) == seen.end(),
                 "two events for one socket in one drain\n");
      seen.push_back(buf[i].id);
    }
    if (n < std::size(buf)) return;
  }
}

void Apps::close_all() {
  for (int e = 0; e < 2; ++e) {
    for (int s = 0; s < kSlots; ++s) {
      if (slots_[e][s]) close(e, s, false);
    }
  }
}

}  // namespace utcp::fuzz
