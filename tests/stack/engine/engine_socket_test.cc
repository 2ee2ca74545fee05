// The socket calls across two engines: handshake and accept, refusal, the errno
// Linux gives for each misuse, event aggregation (one event per socket per drain),
// and TIME-WAIT takeover by a new SYN (RFC 6191).
#include <catch2/catch.hpp>
#include <cerrno>
#include <vector>

#include "stack/engine/support/sim.h"

namespace utcp::stack::engine::test {
namespace {

namespace ev = tcp::events;

SocketId must(Result<SocketId> r) {
  REQUIRE(r.ok());
  return *r;
}

SocketId listen_on(Engine& e, std::uint16_t port, int backlog = 128) {
  const SocketId l = must(e.socket());
  REQUIRE(e.bind(l, {wire::Ipv4Addr{}, port}) == 0);
  REQUIRE(e.listen(l, backlog) == 0);
  return l;
}

// Collects every event an engine reports until the predicate holds.
struct EventLog {
  std::vector<SocketEvent> all;
  void drain(Engine& e) {
    SocketEvent buf[64];
    for (std::size_t n; (n = e.drain_events(buf)) > 0;) all.insert(all.end(), buf, buf + n);
  }
  std::uint32_t mask_of(SocketId id) const {
    std::uint32_t m = 0;
    for (const SocketEvent& x : all) {
      if (x.id == id) m |= x.mask;
    }
    return m;
  }
};

struct Connected {
  SocketId client;
  SocketId server;
  SocketId listener;
};

Connected connect_pair(Sim& sim, std::uint16_t port = 5001) {
  Connected c;
  c.listener = listen_on(sim.b(), port);
  c.client = must(sim.a().socket());
  REQUIRE(sim.a().connect(c.client, {kIpB, port}, sim.now()) == EINPROGRESS);
  EventLog log_a;
  REQUIRE(sim.run_until([&] {
    log_a.drain(sim.a());
    return (log_a.mask_of(c.client) & ev::kConnected) != 0;
  }));
  REQUIRE(sim.run_until([&] {
    Result<SocketId> s = sim.b().accept(c.listener, nullptr);
    if (s.ok()) c.server = *s;
    return s.ok();
  }));
  return c;
}

}  // namespace

TEST_CASE("sockets: handshake, accept, names and TCP_INFO", "[engine][socket]") {
  Sim sim;
  const SocketId l = listen_on(sim.b(), 80);
  const SocketId c = must(sim.a().socket());
  REQUIRE(sim.a().connect(c, {kIpB, 80}, sim.now()) == EINPROGRESS);
  CHECK(sim.a().connect(c, {kIpB, 80}, sim.now()) == EALREADY);

  EventLog log_a, log_b;
  REQUIRE(sim.run_until([&] {
    log_a.drain(sim.a());
    log_b.drain(sim.b());
    return (log_a.mask_of(c) & ev::kConnected) != 0 && (log_b.mask_of(l) & ev::kReadable) != 0;
  }));
  CHECK(sim.b().readiness(l).value() == ev::kReadable);
  wire::Endpoint peer;
  const SocketId s = must(sim.b().accept(l, &peer));
  CHECK(sim.b().accept(l, nullptr).err() == EAGAIN);
  CHECK(sim.b().readiness(l).value() == 0u);

  const wire::Endpoint client_name = sim.a().getsockname(c).value();
  CHECK(client_name.addr == kIpA);
  CHECK(client_name.port >= 32768);
  CHECK(client_name.port <= 60999);
  CHECK(peer == client_name);
  CHECK(sim.b().getpeername(s).value() == client_name);
  CHECK(sim.a().getpeername(c).value() == wire::Endpoint{kIpB, 80});
  CHECK(sim.b().getsockname(s).value() == wire::Endpoint{kIpB, 80});
  CHECK(sim.a().info(c).value().state == tcp::State::kEstablished);
  CHECK(sim.b().info(s).value().state == tcp::State::kEstablished);
  CHECK(sim.b().info(l).value().state == tcp::State::kListen);

  // The first connect() after completion reports success, later ones EISCONN.
  CHECK(sim.a().connect(c, {kIpB, 80}, sim.now()) == 0);
  CHECK(sim.a().connect(c, {kIpB, 80}, sim.now()) == EISCONN);
  CHECK(sim.b().connect(s, {kIpA, 1}, sim.now()) == EISCONN);
  CHECK(sim.a().counters().in_state(tcp::State::kEstablished) == 1);
  CHECK(sim.b().counters().tcp.passive_opens == 1);
}

TEST_CASE("sockets: connect to a closed port fails with ECONNREFUSED", "[engine][socket]") {
  Sim sim;
  const SocketId c = must(sim.a().socket());
  REQUIRE(sim.a().connect(c, {kIpB, 9}, sim.now()) == EINPROGRESS);
  EventLog log;
  REQUIRE(sim.run_until([&] {
    log.drain(sim.a());
    return (log.mask_of(c) & ev::kError) != 0;
  }));
  CHECK(sim.b().counters().rst_sent_no_socket == 1);
  // Linux: the pending error first (from connect() or SO_ERROR), then ECONNABORTED.
  CHECK(sim.a().connect(c, {kIpB, 9}, sim.now()) == ECONNREFUSED);
  CHECK(sim.a().take_error(c).value() == 0);
  CHECK(sim.a().connect(c, {kIpB, 9}, sim.now()) == ECONNABORTED);
  CHECK(sim.a().close(c, sim.now()) == 0);
  CHECK(sim.a().counters().connections == 0);
  CHECK(sim.a().counters().sockets == 0);
}

TEST_CASE("sockets: errno values match Linux", "[engine][socket][errno]") {
  Sim sim;
  Engine& e = sim.a();
  const Instant now = sim.now();
  const SocketId fresh = must(e.socket());
  std::uint8_t byte = 0;

  SECTION("unconnected socket") {
    CHECK(e.send(fresh, {&byte, 1}, {}, now).err() == EPIPE);
    CHECK(e.recv(fresh, {&byte, 1}, {}, now).err() == ENOTCONN);
    CHECK(e.shutdown(fresh, ShutdownHow::kWrite, now) == ENOTCONN);
    CHECK(e.getpeername(fresh).err() == ENOTCONN);
    CHECK(e.getsockname(fresh).value() == wire::Endpoint{});
    CHECK(e.accept(fresh, nullptr).err() == EINVAL);
  }
  SECTION("bind") {
    CHECK(e.bind(fresh, {wire::Ipv4Addr::from_octets(198, 18, 0, 99), 80}) == EADDRNOTAVAIL);
    CHECK(e.bind(fresh, {kIpA, 80}) == 0);
    CHECK(e.bind(fresh, {kIpA, 81}) == EINVAL);
    const SocketId other = must(e.socket());
    CHECK(e.bind(other, {wire::Ipv4Addr{}, 80}) == EADDRINUSE);
    CHECK(e.bind(other, {wire::Ipv4Addr{}, 0}) == 0);
    CHECK(e.getsockname(other).value().port >= 32768);
  }
  SECTION("listen") {
    const SocketId l = listen_on(e, 80);
    CHECK(e.listen(l, 5) == 0);  // again: only the backlog changes
    CHECK(e.connect(l, {kIpB, 80}, now) == EISCONN);
    CHECK(e.send(l, {&byte, 1}, {}, now).err() == EPIPE);
    CHECK(e.recv(l, {&byte, 1}, {}, now).err() == ENOTCONN);
    CHECK(e.accept(l, nullptr).err() == EAGAIN);
    // listen() without bind picks an ephemeral port.
    CHECK(e.listen(fresh, 5) == 0);
    CHECK(e.getsockname(fresh).value().port >= 32768);
    CHECK(e.counters().listeners == 2);
  }
  SECTION("connect: routes and addresses") {
    CHECK(e.connect(fresh, {wire::Ipv4Addr::from_octets(10, 0, 0, 1), 80}, now) == ENETUNREACH);
    CHECK(e.connect(fresh, {wire::Ipv4Addr::from_octets(198, 18, 0, 255), 80}, now) == ENETUNREACH);
    CHECK(e.connect(fresh, {wire::Ipv4Addr::from_octets(224, 0, 0, 1), 80}, now) == ENETUNREACH);
    CHECK(e.connect(fresh, {wire::Ipv4Addr{}, 80}, now) == ENETUNREACH);
    CHECK(e.counters().connections == 0);
  }
  SECTION("stale ids") {
    CHECK(e.close(fresh, now) == 0);
    CHECK(e.close(fresh, now) == EBADF);
    CHECK(e.bind(fresh, {kIpA, 80}) == EBADF);
    CHECK(e.send(fresh, {&byte, 1}, {}, now).err() == EBADF);
    CHECK(e.info(fresh).err() == EBADF);
    const SocketId reused = must(e.socket());
    CHECK(reused.index == fresh.index);  // the slot comes back with a new generation ...
    CHECK(e.getsockname(fresh).err() == EBADF);  // ... so the old id stays dead
    CHECK(e.take_error(SocketId{}).err() == EBADF);
  }
}

TEST_CASE("sockets: a gateway routes off-subnet destinations", "[engine][socket]") {
  SimOptions o;
  o.a.gateway = kIpB;
  Sim sim(o);
  const SocketId c = must(sim.a().socket());
  CHECK(sim.a().connect(c, {wire::Ipv4Addr::from_octets(10, 1, 2, 3), 80}, sim.now()) ==
        EINPROGRESS);
  // B is the gateway's MAC but not the destination: it drops the datagram as not its own.
  REQUIRE(sim.run_until([&] { return sim.b().counters().drop_ip_not_for_us > 0; }));
}

TEST_CASE("sockets: a burst of segments for one socket yields one event", "[engine][events]") {
  Sim sim;
  const Connected p = connect_pair(sim);
  EventLog drain_all;
  sim.run_for(std::chrono::milliseconds(100));
  drain_all.drain(sim.a());

  // Ten full segments (the initial window) in one burst.
  const std::size_t mss = sim.b().info(p.server).value().snd_mss;
  std::vector<std::uint8_t> data(10 * mss, 0x5a);
  REQUIRE(sim.b().send(p.server, data, {}, sim.now()).value() == data.size());
  const std::uint64_t frames_before = sim.a().counters().frames_in;
  sim.b().poll(sim.now());  // flushes the burst onto the wire
  sim.a().poll(sim.now());  // receives all of it in one poll
  CHECK(sim.a().counters().frames_in - frames_before == 10);
  SocketEvent out[16];
  const std::size_t n = sim.a().drain_events(out);
  REQUIRE(n == 1);
  CHECK(out[0].id == p.client);
  CHECK((out[0].mask & ev::kReadable) != 0);
  CHECK(sim.a().drain_events(out) == 0);
}

TEST_CASE("sockets: close with both directions done reaps everything after TIME-WAIT",
          "[engine][socket]") {
  Sim sim;
  const Connected p = connect_pair(sim);
  REQUIRE(sim.a().close(p.client, sim.now()) == 0);
  REQUIRE(sim.b().close(p.server, sim.now()) == 0);
  REQUIRE(sim.b().close(p.listener, sim.now()) == 0);
  REQUIRE(sim.run_until([&] {
    return sim.a().counters().connections == 0 && sim.b().counters().connections == 0;
  }));
  for (Engine* e : {&sim.a(), &sim.b()}) {
    const EngineCounters& c = e->counters();
    CHECK(c.sockets == 0);
    CHECK(c.timers_armed == 0);
    CHECK(c.listeners == 0);
    for (std::size_t s = 0; s < kStateCount; ++s) CHECK(c.connections_by_state[s] == 0);
  }
  CHECK(sim.link().buffers_in_use() == 0);
}

namespace {

// The server closes first, so the TIME-WAIT is on the listening side; then the client
// connects again from the same port. Returns how long the new handshake took.
Duration reconnect_through_time_wait(Sim& sim, Connected& p) {
  const wire::Endpoint client_name = sim.a().getsockname(p.client).value();
  REQUIRE(sim.b().close(p.server, sim.now()) == 0);
  REQUIRE(sim.run_until([&] {
    std::uint8_t buf[16];
    const Result<std::size_t> r = sim.a().recv(p.client, buf, {}, sim.now());
    return r.ok() && *r == 0;
  }));
  REQUIRE(sim.a().close(p.client, sim.now()) == 0);
  REQUIRE(sim.run_until([&] {
    return sim.b().counters().in_state(tcp::State::kTimeWait) == 1 &&
           sim.a().counters().connections == 0;
  }));

  const Instant start = sim.now();
  p.client = must(sim.a().socket());
  REQUIRE(sim.a().bind(p.client, client_name) == 0);
  REQUIRE(sim.a().connect(p.client, {kIpB, 5001}, sim.now()) == EINPROGRESS);
  EventLog log;
  REQUIRE(sim.run_until([&] {
    log.drain(sim.a());
    return (log.mask_of(p.client) & (ev::kConnected | ev::kError)) != 0;
  }));
  REQUIRE((log.mask_of(p.client) & ev::kConnected) != 0);
  const Duration took = sim.now() - start;
  REQUIRE(sim.run_until([&] {
    const Result<SocketId> s = sim.b().accept(p.listener, nullptr);
    if (s.ok()) p.server = *s;
    return s.ok();
  }));
  return took;
}

}  // namespace

TEST_CASE("sockets: a new SYN takes over a TIME-WAIT tuple (RFC 6191)", "[engine][socket]") {
  Sim sim;
  Connected p = connect_pair(sim);
  reconnect_through_time_wait(sim, p);
  CHECK(sim.b().counters().time_wait_reused == 1);
}

// Both ends are utcp, so the client's TSvals on one tuple must keep growing from one
// connection to the next (one offset per pair of hosts): with a per-connection offset
// about half the SYNs failed PAWS at the server and waited for a 1 s retransmission.
TEST_CASE("sockets: one client port reconnects through TIME-WAIT 20 times without a stall",
          "[engine][socket]") {
  Sim sim;
  Connected p = connect_pair(sim);
  for (int i = 1; i <= 20; ++i) {
    INFO("reconnection " << i);
    sim.run_for(std::chrono::milliseconds(3));  // a few timestamp ticks between connections
    CHECK(reconnect_through_time_wait(sim, p) < std::chrono::milliseconds(100));
    CHECK(sim.b().counters().time_wait_reused == static_cast<std::uint64_t>(i));
  }
  CHECK(sim.a().counters().tcp.retransmits == 0);
  CHECK(sim.b().counters().tcp.paws_rejected == 0);
}

// Like Linux's tcp_max_tw_buckets: past the bound a connection that would enter
// TIME-WAIT closes at once, so a close-heavy server cannot fill its flow table.
TEST_CASE("sockets: past max_time_wait a closing connection skips TIME-WAIT",
          "[engine][socket]") {
  SimOptions opts;
  opts.b.max_time_wait = 3;
  Sim sim(opts);
  const SocketId l = listen_on(sim.b(), 5002);
  for (int i = 0; i < 6; ++i) {
    const SocketId c = must(sim.a().socket());
    REQUIRE(sim.a().connect(c, {kIpB, 5002}, sim.now()) == EINPROGRESS);
    SocketId server{};
    REQUIRE(sim.run_until([&] {
      const Result<SocketId> r = sim.b().accept(l, nullptr);
      if (r.ok()) server = *r;
      return r.ok();
    }));
    REQUIRE(sim.b().close(server, sim.now()) == 0);  // the server's side gets TIME-WAIT
    REQUIRE(sim.run_until([&] {
      std::uint8_t buf[16];
      const Result<std::size_t> r = sim.a().recv(c, buf, {}, sim.now());
      return r.ok() && *r == 0;
    }));
    REQUIRE(sim.a().close(c, sim.now()) == 0);
    REQUIRE(sim.run_until([&] { return sim.a().counters().connections == 0; }));
  }
  const EngineCounters& b = sim.b().counters();
  CHECK(b.in_state(tcp::State::kTimeWait) == 3);
  CHECK(b.time_wait_overflow == 3);
  CHECK(b.connections == 3);  // the three in TIME-WAIT; the others were reaped
  CHECK(b.sockets == 4);      // those and the listener
}

TEST_CASE("ping: an echo request to another engine resolves ARP and is answered",
          "[engine][icmp]") {
  Sim sim;
  for (std::uint16_t seq = 1; seq <= 3; ++seq) {
    REQUIRE(sim.a().ping(kIpB, 0x7507, seq, sim.now()) == 0);
    sim.run_for(std::chrono::milliseconds(10));
  }
  CHECK(sim.a().counters().icmp_echo_requests_out == 3);
  CHECK(sim.a().counters().arp_requests_out == 1);  // the first one waited for ARP
  CHECK(sim.b().counters().icmp_echo_in == 3);
  CHECK(sim.b().counters().icmp_echo_out == 3);
  CHECK(sim.a().counters().icmp_echo_replies_in == 3);
  CHECK(sim.a().counters().drop_icmp_unhandled == 0);
}

TEST_CASE("ping: an address with no route is refused", "[engine][icmp]") {
  Sim sim;
  CHECK(sim.a().ping(wire::Ipv4Addr::from_octets(203, 0, 113, 1), 1, 1, sim.now()) ==
        ENETUNREACH);
  CHECK(sim.a().counters().icmp_echo_requests_out == 0);
}

}  // namespace utcp::stack::engine::test
