// Many connections at once, connection churn, and a SYN flood: the engine keeps
// every stream intact, stays within its bounds, and gives back every connection,
// timer, socket id and packet buffer at the end.
#include <catch2/catch.hpp>
#include <algorithm>

#include "stack/engine/support/frames.h"
#include "stack/engine/support/sim.h"
#include "stack/engine/support/stream_app.h"

namespace utcp::stack::engine::test {
namespace {

void check_pairs(const StreamApp& client, const StreamApp& server) {
  REQUIRE(client.results().size() == server.results().size());
  for (const auto& [port, c] : client.results()) {
    const auto it = server.results().find(port);
    REQUIRE(it != server.results().end());
    CHECK(c.sent_digest == it->second.received_digest);
    CHECK(c.received_digest == it->second.sent_digest);
  }
}

// Runs until nothing is left but listeners, then checks that nothing leaked.
void check_drained(Sim& sim, std::size_t listeners_b) {
  REQUIRE(sim.run_until([&] {
    return sim.a().counters().connections == 0 && sim.b().counters().connections == 0;
  }));
  sim.run_for(std::chrono::seconds(5));
  for (Engine* e : {&sim.a(), &sim.b()}) {
    const EngineCounters& c = e->counters();
    CHECK(c.timers_armed == 0);
    CHECK(c.buffers_held == 0);
    for (std::size_t s = 0; s < kStateCount; ++s) CHECK(c.connections_by_state[s] == 0);
  }
  CHECK(sim.a().counters().sockets == 0);
  CHECK(sim.b().counters().sockets == listeners_b);
  CHECK(sim.link().buffers_in_use() == 0);
}

}  // namespace

TEST_CASE("scale: 500 concurrent connections each move data both ways", "[engine][scale]") {
  constexpr std::size_t kConns = 500;
  const std::uint64_t bytes = scaled(32 * 1024, 4 * 1024);
  SimOptions o;
  o.fault.delay = std::chrono::microseconds(100);
  o.fault.loss = 0.01;
  Sim sim(o);
  StreamApp client(sim.a(), 21);
  StreamApp server(sim.b(), 22);
  server.listen(5001, 1024, bytes);
  for (std::size_t i = 0; i < kConns; ++i) client.connect({kIpB, 5001}, bytes, sim.now());
  std::uint64_t peak = 0;
  REQUIRE(sim.run_until([&] {
    client.service(sim.now());
    server.service(sim.now());
    peak = std::max(peak, sim.b().counters().connections);
    return client.finished() + client.failures() == kConns &&
           server.finished() + server.failures() == kConns;
  }));
  CHECK(client.failures() == 0);
  CHECK(server.failures() == 0);
  CHECK(peak > kConns / 2);  // they really were open at the same time
  CHECK(client.bytes_sent() == kConns * bytes);
  CHECK(server.bytes_received() == kConns * bytes);
  check_pairs(client, server);
  CHECK(client.max_events_per_socket_per_drain() == 1);
  CHECK(server.max_events_per_socket_per_drain() == 1);
  check_drained(sim, 1);
}

TEST_CASE("scale: 3000 connections opened, used and closed leave nothing behind",
          "[engine][scale][churn]") {
  const std::size_t total = scaled(3000, 600);
  constexpr std::size_t kParallel = 50;
  SimOptions o;
  o.fault.delay = std::chrono::microseconds(100);
  Sim sim(o);
  StreamApp client(sim.a(), 31);
  StreamApp server(sim.b(), 32);
  server.listen(5001, 128, 1000);
  REQUIRE(sim.run_until([&] {
    while (client.started() < total && client.open_streams() < kParallel) {
      client.connect({kIpB, 5001}, 2000, sim.now());
    }
    client.service(sim.now());
    server.service(sim.now());
    return client.finished() + client.failures() == total &&
           server.finished() + server.failures() == total;
  }));
  CHECK(client.failures() == 0);
  CHECK(server.failures() == 0);
  CHECK(client.bytes_sent() == total * 2000);
  CHECK(server.bytes_received() == total * 2000);
  CHECK(client.bytes_received() == total * 1000);
  check_pairs(client, server);
  CHECK(sim.a().counters().tcp.active_opens == total);
  CHECK(sim.b().counters().tcp.passive_opens == total);
  check_drained(sim, 1);
  server.close_listener(sim.now());
  CHECK(sim.b().counters().sockets == 0);
  CHECK(sim.b().counters().listeners == 0);
}

TEST_CASE("scale: under a SYN flood, cookies let real clients in and state stays bounded",
          "[engine][scale][synflood]") {
  SimOptions o;
  o.fault.delay = std::chrono::microseconds(100);
  o.b.syn_queue_limit = 32;
  Sim sim(o);
  StreamApp client(sim.a(), 41);
  StreamApp server(sim.b(), 42);
  server.listen(80, 64, 3000);
  constexpr std::size_t kLegit = 40;
  const std::size_t flood = scaled(4000, 1000);

  io::Prng prng(7);
  const wire::MacAddr spoof_mac{{0x02, 0x66, 0, 0, 0, 1}};
  std::size_t flooded = 0;
  std::uint64_t peak = 0;
  auto inject = [&] {
    for (int i = 0; i < 16 && flooded < flood; ++i, ++flooded) {
      wire::TcpRepr syn;
      syn.src_port = static_cast<std::uint16_t>(1024 + prng.below(60000));
      syn.dst_port = 80;
      syn.seq = SeqNum(static_cast<std::uint32_t>(prng.next()));
      syn.flags = wire::tcp_flags::kSyn;
      syn.window = 65535;
      syn.options.mss = 1460;
      const auto host = static_cast<std::uint8_t>(100 + prng.below(100));
      const auto src = wire::Ipv4Addr::from_octets(198, 18, 0, host);
      const Frame f = tcp_frame(sim.link().b().capabilities().mac, spoof_mac, src, kIpB, syn);
      io::PacketBuf* buf = sim.link().a().alloc();
      REQUIRE(buf != nullptr);
      std::copy(f.begin(), f.end(), buf->data);
      buf->len = static_cast<std::uint32_t>(f.size());
      io::PacketBuf* const one[] = {buf};
      REQUIRE(sim.link().a().tx_burst(one, sim.now()) == 1);
    }
  };
  REQUIRE(sim.run_until([&] {
    inject();
    // Real clients arrive once the flood has filled the SYN queue.
    if (flooded >= 200 && client.started() < kLegit) client.connect({kIpB, 80}, 5000, sim.now());
    client.service(sim.now());
    server.service(sim.now());
    peak = std::max(peak, sim.b().counters().connections);
    return flooded == flood && client.finished() + client.failures() == kLegit &&
           server.finished() + server.failures() == kLegit;
  }));
  CHECK(client.failures() == 0);
  CHECK(server.failures() == 0);
  check_pairs(client, server);
  const EngineCounters& b = sim.b().counters();
  CHECK(b.syn_cookies_sent > 0);
  CHECK(b.syn_cookies_ok > 0);
  // SYN queue + accept queue + the real clients: nothing grows with the flood.
  CHECK(peak <= 32 + 65 + kLegit);
  check_drained(sim, 1);
}

}  // namespace utcp::stack::engine::test
