// The diagnostic services (daemon/core/services.h) served by engine B, driven by a
// client on engine A over a MemoryLink on virtual time: echo with half-close, discard,
// HTTP keep-alive and pipelining, and the RSTs of abort_all().
#include <catch2/catch.hpp>

#include <algorithm>
#include <memory>
#include <string>

#include "daemon/core/services.h"
#include "stack/engine/engine.h"
#include "stack/io/memory_link.h"

using namespace utcp;
using namespace utcp::daemon;
using stack::Instant;
using stack::engine::Engine;
using stack::engine::EngineConfig;
using stack::engine::SocketId;

namespace {

constexpr auto kIpA = stack::wire::Ipv4Addr::from_octets(198, 18, 0, 1);
constexpr auto kIpB = stack::wire::Ipv4Addr::from_octets(198, 18, 0, 2);

EngineConfig config(stack::wire::Ipv4Addr ip, std::uint8_t seed) {
  EngineConfig cfg;
  cfg.ip = ip;
  cfg.max_connections = 256;
  cfg.max_sockets = 512;
  for (std::size_t i = 0; i < cfg.secret.size(); ++i) cfg.secret[i] = static_cast<std::uint8_t>(seed + i);
  return cfg;
}

// A (client) and B (utcpd's engine with the services), polled in turn; when nothing
// happens, time jumps to the next deadline. Every run is bounded in steps.
class Rig {
 public:
  Rig()
      : link_(stack::io::MemoryLinkConfig{}), now_(stack::instant_from_us(1'000'000'000)),
        a_(config(kIpA, 1), link_.a(), now_), b_(config(kIpB, 2), link_.b(), now_) {
    std::string error;
    svc_ = std::make_unique<Services>(b_, ServiceConfig{7, 9, 80}, &error);
    REQUIRE(error.empty());
  }

  Engine& a() { return a_; }
  Services& svc() { return *svc_; }
  Instant now() const { return now_; }

  template <class Done>
  bool run_until(Done&& done, std::size_t max_steps = 2'000'000) {
    for (std::size_t i = 0; i < max_steps; ++i) {
      if (done()) return true;
      const std::size_t work = a_.poll(now_) + b_.poll(now_) + svc_->run(now_);
      if (work > 0) {
        now_ += std::chrono::microseconds(5);
        continue;
      }
      const Instant next = std::min(a_.next_deadline(), b_.next_deadline());
      if (next == stack::kNever) return done();
      now_ = std::max(next, now_ + std::chrono::microseconds(1));
    }
    return false;
  }

  SocketId connect(std::uint16_t port) {
    auto id = a_.socket();
    REQUIRE(id);
    CHECK(a_.connect(*id, {kIpB, port}, now_) == EINPROGRESS);
    REQUIRE(run_until([&] { return a_.getpeername(*id).ok() && (*a_.readiness(*id) & stack::tcp::events::kWritable); }));
    return *id;
  }

  // Sends all of `data` (as the window allows) while reading whatever comes back.
  std::string exchange(SocketId id, const std::string& data, bool half_close) {
    std::size_t sent = 0;
    std::string got;
    bool eof = false, shut = false;
    std::uint8_t buf[16384];
    run_until([&] {
      if (sent < data.size()) {
        auto r = a_.send(id, {reinterpret_cast<const std::uint8_t*>(data.data()) + sent, data.size() - sent}, {}, now_);
        if (r) sent += *r;
      } else if (half_close && !shut) {
        CHECK(a_.shutdown(id, stack::engine::ShutdownHow::kWrite, now_) == 0);
        shut = true;
      }
      for (;;) {
        auto r = a_.recv(id, buf, {}, now_);
        if (!r) break;
        if (*r == 0) {
          eof = true;
          break;
        }
        got.append(reinterpret_cast<const char*>(buf), *r);
      }
      return half_close ? eof : sent == data.size() && got.size() >= want_;
    });
    return got;
  }
  void want(std::size_t n) { want_ = n; }

 private:
  stack::io::MemoryLink link_;
  Instant now_;
  Engine a_, b_;
  std::unique_ptr<Services> svc_;
  std::size_t want_ = 0;
};

std::string pattern(std::size_t n) {
  std::string s(n, '\0');
  std::uint32_t x = 12345;
  for (char& c : s) {
    x = x * 1103515245 + 12345;
    c = static_cast<char>(x >> 24);
  }
  return s;
}

}  // namespace

TEST_CASE("echo returns every byte, then FINs after the peer's FIN") {
  Rig rig;
  const SocketId id = rig.connect(7);
  const std::string data = pattern(2 * 1024 * 1024);
  CHECK(rig.exchange(id, data, true) == data);
  CHECK(rig.svc().counters().echo_bytes == data.size());
  CHECK(rig.run_until([&] { return rig.svc().open_connections() == 0; }));
  CHECK(rig.svc().counters().closed == 1);
  CHECK(rig.svc().counters().errors == 0);
}

TEST_CASE("discard reads and drops, then closes after the peer's FIN") {
  Rig rig;
  const SocketId id = rig.connect(9);
  const std::string data = pattern(1024 * 1024);
  CHECK(rig.exchange(id, data, true).empty());
  CHECK(rig.svc().counters().discard_bytes == data.size());
}

TEST_CASE("HTTP answers pipelined keep-alive requests in order") {
  Rig rig;
  const SocketId id = rig.connect(80);
  std::string reqs;
  for (int i = 0; i < 50; ++i) reqs += "GET / HTTP/1.1\r\nHost: utcp\r\n\r\n";
  const std::string one = http_response({});
  rig.want(50 * one.size());
  const std::string got = rig.exchange(id, reqs, false);
  CHECK(got.size() == 50 * one.size());
  CHECK(got.substr(0, one.size()) == one);
  CHECK(rig.svc().counters().http_requests == 50);
  CHECK(rig.svc().open_connections() == 1);  // keep-alive: still open
}

TEST_CASE("HTTP/1.0 and Connection: close end the connection after the answer") {
  Rig rig;
  const SocketId id = rig.connect(80);
  const std::string got = rig.exchange(id, "GET / HTTP/1.0\r\n\r\n", true);
  CHECK(got.starts_with("HTTP/1.0 200 OK\r\n"));
  CHECK(got.ends_with("utcp\n"));
  CHECK(rig.run_until([&] { return rig.svc().open_connections() == 0; }));
}

TEST_CASE("a bad request is answered with an error and closed") {
  Rig rig;
  const SocketId id = rig.connect(80);
  const std::string got = rig.exchange(id, "DELETE / HTTP/1.1\r\n\r\n", true);
  CHECK(got.starts_with("HTTP/1.1 405 "));
  CHECK(rig.svc().counters().http_bad_requests == 1);
}

TEST_CASE("abort_all resets open connections and closes the listeners") {
  Rig rig;
  const SocketId id = rig.connect(7);
  REQUIRE(rig.run_until([&] { return rig.svc().open_connections() == 1; }));
  rig.svc().abort_all(rig.now());
  CHECK(rig.svc().counters().aborted == 1);
  int err = 0;
  REQUIRE(rig.run_until([&] {
    std::uint8_t byte = 0;
    auto r = rig.a().recv(id, {&byte, 1}, {}, rig.now());
    err = r ? 0 : r.err();
    return err != 0 && err != EAGAIN;
  }));
  CHECK(err == ECONNRESET);
  // The listener is gone: a new SYN is answered with a RST.
  auto again = rig.a().socket();
  REQUIRE(again);
  CHECK(rig.a().connect(*again, {kIpB, 7}, rig.now()) == EINPROGRESS);
  int refused = 0;
  CHECK(rig.run_until([&] {
    auto e = rig.a().take_error(*again);
    refused = e ? *e : 0;
    return refused != 0;
  }));
  CHECK(refused == ECONNREFUSED);
}
