// The rig of the ShimServer tests (shim_server_test.cc): engine A, a plain client, and
// engine B, utcpd's engine with a ShimServer serving one Region, over a MemoryLink on
// virtual time; App plays the app side of shim/protocol.h straight on the region, as
// preload/ does minus threads. The control thread's mail is posted by the test.
#pragma once

#include <catch2/catch.hpp>
#include <fcntl.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "daemon/core/mailbox.h"
#include "daemon/core/region.h"
#include "daemon/core/shim_server.h"
#include "shim/protocol.h"
#include "stack/engine/engine.h"
#include "stack/io/memory_link.h"

namespace utcp::daemon::test {

using stack::Instant;
using stack::engine::Engine;
using stack::engine::EngineConfig;
using stack::engine::SocketId;

constexpr auto kIpA = stack::wire::Ipv4Addr::from_octets(198, 18, 0, 1);
constexpr auto kIpB = stack::wire::Ipv4Addr::from_octets(198, 18, 0, 2);

inline EngineConfig config(stack::wire::Ipv4Addr ip, std::uint8_t seed) {
  EngineConfig cfg;
  cfg.ip = ip;
  cfg.max_connections = 256;
  cfg.max_sockets = 512;
  for (std::size_t i = 0; i < cfg.secret.size(); ++i) cfg.secret[i] = static_cast<std::uint8_t>(seed + i);
  return cfg;
}

// Small streams, so that a few KiB already need flow control.
inline shim::Geometry small_geometry() {
  shim::Geometry g;
  g.engines = 1;
  g.channels = 4;
  g.sockets = 8;
  g.command_capacity = 16;
  g.reply_capacity = 16;
  g.event_capacity = 64;
  g.stream_capacity = 4096;
  return g;
}

struct Sock {
  std::uint32_t slot = 0;
  std::uint32_t generation = 0;
};

// The app side of one channel on engine 0: pushes commands, pops replies and events,
// writes tx and reads rx of its sockets, kicks like preload/ops.cc.
class App {
 public:
  App(const Region& region, std::uint32_t channel)
      : view_(region.view()), g_(region.geometry()), c_(channel),
        commands_(view_.command_ring(channel, 0), g_.command_capacity),
        replies_(view_.reply_ring(channel, 0), g_.reply_capacity),
        events_(view_.event_ring(channel, 0), g_.event_capacity) {}

  std::uint32_t channel() const { return c_; }
  shim::SocketBlock& block(Sock s) const { return view_.socket(s.slot); }

  void post(const shim::Command& cmd) {
    REQUIRE(commands_.push(cmd));
    if (shim::needs_wakeup(view_.engine_flag(0))) ++doorbells_;
  }
  std::optional<shim::Reply> reply(std::uint32_t tag) {
    while (auto r = replies_.pop()) got_.push_back(*r);
    const auto it = std::find_if(got_.begin(), got_.end(), [&](const shim::Reply& r) { return r.tag == tag; });
    if (it == got_.end()) return std::nullopt;
    const shim::Reply r = *it;
    got_.erase(it);
    return r;
  }
  std::size_t replies_waiting() {
    while (auto r = replies_.pop()) got_.push_back(*r);
    return got_.size();
  }
  std::vector<shim::Event> events() {
    std::vector<shim::Event> out;
    while (auto e = events_.pop()) out.push_back(*e);
    return out;
  }

  // preload/ops.cc's kick(): one kKick in flight per socket.
  void kick(Sock s) {
    if (block(s).kick.exchange(1, std::memory_order_seq_cst) != 0) return;
    shim::Command cmd;
    cmd.op = shim::Op::kKick;
    cmd.slot = s.slot;
    cmd.generation = s.generation;
    post(cmd);
  }
  // send(): as much as fits in tx, then a kick. Returns the bytes taken.
  std::size_t write(Sock s, std::string_view data, bool kick_after = true) {
    const std::size_t n = streams(s).tx.write(std::as_bytes(std::span(data.data(), data.size())));
    if (n > 0 && kick_after) kick(s);
    return n;
  }
  // recv(): up to `max` bytes appended to *out, then preload's after_read().
  std::size_t read(Sock s, std::string* out, std::size_t max = 1024) {
    std::string buf(max, '\0');
    const std::size_t n = streams(s).rx.read(std::as_writable_bytes(std::span(buf.data(), buf.size())));
    out->append(buf.data(), n);
    std::atomic_thread_fence(std::memory_order_seq_cst);
    shim::SocketBlock& b = block(s);
    if (b.rx_blocked.load(std::memory_order_relaxed) != 0 &&
        b.rx_blocked.exchange(0, std::memory_order_seq_cst) != 0) {
      ++rx_blocked_seen_;
      kick(s);
    }
    return n;
  }
  std::uint32_t readable(Sock s) { return streams(s).rx.readable(); }
  std::size_t rx_blocked_seen() const { return rx_blocked_seen_; }
  std::size_t doorbells() const { return doorbells_; }

 private:
  struct Streams {
    shim::ByteStream tx;  // we write
    shim::ByteStream rx;  // we read
  };
  // Views made once per slot, after the daemon laid the streams out (its reply).
  Streams& streams(Sock s) {
    auto it = streams_.find(s.slot);
    if (it == streams_.end()) {
      it = streams_
               .emplace(s.slot, Streams{shim::ByteStream(view_.tx_stream(s.slot), g_.stream_capacity),
                                        shim::ByteStream(view_.rx_stream(s.slot), g_.stream_capacity)})
               .first;
    }
    return it->second;
  }

  const shim::RegionView& view_;
  shim::Geometry g_;
  std::uint32_t c_;
  shim::CommandRing commands_;
  shim::ReplyRing replies_;
  shim::EventRing events_;
  std::deque<shim::Reply> got_;
  std::map<std::uint32_t, Streams> streams_;
  std::size_t rx_blocked_seen_ = 0;
  std::size_t doorbells_ = 0;
};

// A (client) and B (utcpd's engine with the ShimServer), polled in turn; when nothing
// happens, time jumps to the next deadline. Every run is bounded in steps.
class Rig {
 public:
  explicit Rig(const shim::Geometry& g = small_geometry())
      : link_(stack::io::MemoryLinkConfig{}), now_(stack::instant_from_us(1'000'000'000)),
        a_(config(kIpA, 1), link_.a(), now_), b_(config(kIpB, 2), link_.b(), now_),
        shim_(b_, 0, nullptr) {
    std::string error;
    region_ = Region::create(g, 1, &error);
    REQUIRE(region_);
  }

  Engine& a() { return a_; }
  Engine& b() { return b_; }  // utcpd's engine, under the ShimServer
  ShimServer& shim() { return shim_; }
  Region& region() { return *region_; }
  const shim::RegionView& view() { return region_->view(); }
  Instant now() const { return now_; }

  void mail(EngineMsg::Kind kind, std::uint32_t channel, Sock s = {}) {
    mail_.post({kind, region_, channel, s.slot, s.generation});
  }
  // kChannelUp as the control thread posts it, delivered by one round.
  // The channel's process is this one (its credentials read from /proc/self).
  void channel_up(std::uint32_t c) {
    region_->set_proc_fd(c, ::open("/proc/self", O_PATH | O_DIRECTORY | O_CLOEXEC));
    mail(EngineMsg::Kind::kChannelUp, c);
    round();
  }

  std::size_t round() { return a_.poll(now_) + b_.poll(now_) + shim_.run(now_, mail_); }

  template <class Done>
  bool run_until(Done&& done, std::size_t max_steps = 200'000) {
    for (std::size_t i = 0; i < max_steps; ++i) {
      if (done()) return true;
      if (round() > 0) {
        now_ += std::chrono::microseconds(5);
        continue;
      }
      const Instant next = std::min(a_.next_deadline(), b_.next_deadline());
      if (next == stack::kNever) return done();
      now_ = std::max(next, now_ + std::chrono::microseconds(1));
    }
    return false;
  }
  // A few rounds with time moving: whatever would happen, happens.
  void settle(std::size_t rounds = 50) {
    for (std::size_t i = 0; i < rounds; ++i) {
      round();
      now_ += std::chrono::milliseconds(1);
    }
  }

  // One request and its reply, as preload's Client::call.
  shim::Reply call(App& app, shim::Command cmd) {
    cmd.tag = next_tag_++;
    app.post(cmd);
    std::optional<shim::Reply> rep;
    REQUIRE(run_until([&] { return (rep = app.reply(cmd.tag)).has_value(); }, 10'000));
    return *rep;
  }
  Sock socket(App& app) {
    shim::Command cmd;
    cmd.op = shim::Op::kSocket;
    const shim::Reply r = call(app, cmd);
    REQUIRE(r.result == 0);
    return {r.slot, r.generation};
  }
  Sock listener(App& app, std::uint16_t port) {
    const Sock s = socket(app);
    CHECK(call(app, command(shim::Op::kBind, s, port)).result == 0);
    shim::Command listen = command(shim::Op::kListen, s);
    listen.value = 16;
    CHECK(call(app, listen).result == 0);
    return s;
  }
  static shim::Command command(shim::Op op, Sock s, std::uint16_t port = 0,
                               stack::wire::Ipv4Addr ip = {}) {
    shim::Command cmd;
    cmd.op = op;
    cmd.slot = s.slot;
    cmd.generation = s.generation;
    cmd.ip = ip.value;
    cmd.port = port;
    return cmd;
  }
  SocketId connect_from_a(std::uint16_t port) {
    auto id = a_.socket();
    REQUIRE(id);
    CHECK(a_.connect(*id, {kIpB, port}, now_) == EINPROGRESS);
    return *id;
  }
  // A connection from A, accepted by the app through `listener`.
  Sock accept(App& app, Sock listener, SocketId client) {
    REQUIRE(run_until([&] {
      return (app.block(listener).acceptable.load() & 1) != 0 && a_.getpeername(client).ok();
    }));
    const shim::Reply r = call(app, command(shim::Op::kAccept, listener));
    REQUIRE(r.result == 0);
    return {static_cast<std::uint32_t>(r.value), static_cast<std::uint32_t>(r.value2)};
  }
  // Everything A can read now; false on an error (its errno in *err) or EOF (*eof).
  void drain_a(SocketId id, std::string* out, bool* eof, int* err) {
    std::uint8_t buf[16384];
    for (;;) {
      auto r = a_.recv(id, buf, {}, now_);
      if (!r) {
        if (r.err() != EAGAIN) *err = r.err();
        return;
      }
      if (*r == 0) {
        *eof = true;
        return;
      }
      out->append(reinterpret_cast<const char*>(buf), *r);
    }
  }

 private:
  stack::io::MemoryLink link_;
  Instant now_;
  Engine a_, b_;
  ShimServer shim_;
  std::shared_ptr<Region> region_;
  Mailbox mail_;
  std::uint32_t next_tag_ = 1;
};

inline std::string pattern(std::size_t n, std::uint32_t seed) {
  std::string s(n, '\0');
  std::uint32_t x = seed;
  for (char& c : s) {
    x = x * 1103515245 + 12345;
    c = static_cast<char>(x >> 24);
  }
  return s;
}

// An accepted connection: the app's slot on B and A's socket.
struct Connection {
  Sock listener;
  Sock child;
  SocketId client;
};
inline Connection establish(Rig& rig, App& app, std::uint16_t port) {
  Connection c;
  c.listener = rig.listener(app, port);
  c.client = rig.connect_from_a(port);
  c.child = rig.accept(app, c.listener, c.client);
  return c;
}

}  // namespace utcp::daemon::test
