// utcp-memdemo: two utcp engines joined by the in-memory link move data both ways
// over several connections, on a clean and on an impaired wire, and print a table:
// throughput of the two stacks on one thread, retransmissions, and whether every
// byte arrived intact. It is the README's main job until utcpd exists (issue 3).
// Time is virtual (the engines only see `now`); throughput is wall-clock CPU work.
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <string>
#include <vector>

#include "stack/engine/engine.h"
#include "stack/io/fault_injector.h"
#include "stack/io/memory_link.h"

namespace {

using namespace utcp::stack;
using engine::Engine;
using engine::SocketId;

constexpr std::uint16_t kPort = 5001;
constexpr std::size_t kChunk = 64 * 1024;

// The byte at `offset` of stream `stream`: a keyed sequence, so the receiver checks
// every byte without keeping a copy of what was sent.
std::uint8_t stream_byte(std::uint64_t stream, std::uint64_t offset) {
  std::uint64_t z = stream * 0x9e3779b97f4a7c15ull + (offset >> 3) + 0x632be59bd9b4e019ull;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  z ^= z >> 31;
  return static_cast<std::uint8_t>(z >> (8 * (offset & 7)));
}

// One direction of one connection, seen from one end.
struct Stream {
  std::uint64_t id = 0;
  std::uint64_t sent = 0;
  std::uint64_t received = 0;
  bool write_shut = false;
  bool eof = false;
  bool corrupt = false;
};

struct Endpoint {
  SocketId sock{};
  Stream out;  // what this end sends
  Stream in;   // what this end receives (the peer's `out` stream)
  bool closed = false;
};

struct Scenario {
  const char* name;
  std::optional<io::FaultSpec> faults;
};

struct Totals {
  double wall_seconds = 0;
  double virtual_seconds = 0;
  std::uint64_t bytes = 0;
  std::uint64_t retransmits = 0;
  std::uint64_t segments = 0;
  bool intact = true;
  bool finished = false;
};

engine::EngineConfig engine_config(std::uint8_t host, std::uint8_t key) {
  engine::EngineConfig cfg;
  cfg.ip = wire::Ipv4Addr::from_octets(198, 18, 0, host);
  cfg.prefix_len = 24;
  cfg.secret.fill(key);
  return cfg;
}

// Sends what the stream still owes and shuts the write side when it is all out.
std::size_t pump_send(Engine& e, Endpoint& ep, std::uint64_t total, Instant now) {
  std::size_t work = 0;
  std::uint8_t buf[kChunk];
  while (ep.out.sent < total) {
    const std::size_t n = static_cast<std::size_t>(std::min<std::uint64_t>(kChunk, total - ep.out.sent));
    for (std::size_t i = 0; i < n; ++i) buf[i] = stream_byte(ep.out.id, ep.out.sent + i);
    auto r = e.send(ep.sock, {buf, n}, {}, now);
    if (!r.ok() || *r == 0) break;
    ep.out.sent += *r;
    ++work;
  }
  if (ep.out.sent == total && !ep.out.write_shut) {
    ep.out.write_shut = e.shutdown(ep.sock, engine::ShutdownHow::kWrite, now) == 0;
    ++work;
  }
  return work;
}

// Reads everything available and checks each byte against the stream's sequence.
std::size_t pump_recv(Engine& e, Endpoint& ep, Instant now) {
  std::size_t work = 0;
  std::uint8_t buf[kChunk];
  while (!ep.in.eof) {
    auto r = e.recv(ep.sock, buf, {}, now);
    if (!r.ok()) break;
    if (*r == 0) {
      ep.in.eof = true;
      break;
    }
    for (std::size_t i = 0; i < *r; ++i) {
      if (buf[i] != stream_byte(ep.in.id, ep.in.received + i)) ep.in.corrupt = true;
    }
    ep.in.received += *r;
    ++work;
  }
  return work;
}

Totals run(const Scenario& sc, int connections, std::uint64_t bytes_each_way) {
  io::MemoryLinkConfig link_cfg;
  link_cfg.pool_size = 16384;
  link_cfg.queue_limit = 8192;
  io::MemoryLink link(link_cfg);
  std::optional<io::FaultInjector> fa, fb;
  io::PacketIo* io_a = &link.a();
  io::PacketIo* io_b = &link.b();
  if (sc.faults) {
    io::FaultSpec tx_only = *sc.faults;
    tx_only.rx = {};  // impair each direction once: on the sender's transmit side
    fa.emplace(link.a(), tx_only);
    tx_only.seed += 1;
    fb.emplace(link.b(), tx_only);
    io_a = &*fa;
    io_b = &*fb;
  }

  Instant now = instant_from_us(1'000'000);
  Engine a(engine_config(1, 0x11), *io_a, now);
  Engine b(engine_config(2, 0x22), *io_b, now);

  const SocketId listener = *b.socket();
  b.bind(listener, {b.config().ip, kPort});
  b.listen(listener, 128);

  std::vector<Endpoint> clients(connections), servers;
  for (int i = 0; i < connections; ++i) {
    clients[i].sock = *a.socket();
    clients[i].out.id = 2 * i + 1;
    clients[i].in.id = 2 * i + 2;
    a.connect(clients[i].sock, {b.config().ip, kPort}, now);
  }

  const auto wall_start = std::chrono::steady_clock::now();
  const Instant give_up = now + std::chrono::hours(1);
  Totals t;
  while (now < give_up) {
    std::size_t work = a.poll(now) + b.poll(now);
    wire::Endpoint peer;
    for (auto s = b.accept(listener, &peer); s.ok(); s = b.accept(listener, &peer)) {
      // The client with this local port owns the streams: its `out` is our `in`.
      Endpoint ep;
      ep.sock = *s;
      for (auto& c : clients) {
        auto local = a.getsockname(c.sock);
        if (local.ok() && local->port == peer.port) {
          ep.in.id = c.out.id;
          ep.out.id = c.in.id;
        }
      }
      servers.push_back(ep);
      ++work;
    }
    for (auto& ep : clients) work += pump_send(a, ep, bytes_each_way, now) + pump_recv(a, ep, now);
    for (auto& ep : servers) {
      work += pump_recv(b, ep, now) + pump_send(b, ep, bytes_each_way, now);
    }
    bool all_done = servers.size() == clients.size();
    for (auto& ep : clients) all_done = all_done && ep.in.eof && ep.out.write_shut;
    for (auto& ep : servers) all_done = all_done && ep.in.eof && ep.out.write_shut;
    if (all_done) {
      t.finished = true;
      break;
    }
    if (work == 0) {
      const Instant next = std::min(a.next_deadline(), b.next_deadline());
      if (next == kNever) break;
      now = std::max(now + Duration(1), next);
    }
  }
  t.wall_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - wall_start).count();
  t.virtual_seconds = static_cast<double>(to_us(now) - 1'000'000) / 1e6;
  for (auto& ep : clients) {
    t.bytes += ep.in.received + ep.out.sent;
    t.intact = t.intact && !ep.in.corrupt && ep.in.received == bytes_each_way;
    a.close(ep.sock, now);
  }
  for (auto& ep : servers) {
    t.intact = t.intact && !ep.in.corrupt && ep.in.received == bytes_each_way;
    b.close(ep.sock, now);
  }
  t.retransmits = a.counters().tcp.retransmits + b.counters().tcp.retransmits;
  t.segments = a.counters().tcp.segs_out + b.counters().tcp.segs_out;
  return t;
}

}  // namespace

int main(int argc, char** argv) {
  int connections = 8;
  std::uint64_t mib = 16;  // per direction, over all connections
  for (int i = 1; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--connections") && i + 1 < argc) {
      connections = std::atoi(argv[++i]);
    } else if (!std::strcmp(argv[i], "--mib") && i + 1 < argc) {
      mib = std::strtoull(argv[++i], nullptr, 10);
    } else {
      std::fprintf(stderr, "usage: utcp-memdemo [--connections N] [--mib MIB_PER_DIRECTION]\n");
      return 2;
    }
  }
  if (connections < 1 || connections > 4096 || mib < 1) {
    std::fprintf(stderr, "utcp-memdemo: --connections must be 1..4096 and --mib >= 1\n");
    return 2;
  }
  const std::uint64_t each_way = mib * 1024 * 1024 / static_cast<std::uint64_t>(connections);

  std::string error;
  const std::vector<Scenario> scenarios = {
      {"clean wire", std::nullopt},
      {"1% loss, 25% reorder, 1% dup, 0.1% corrupt",
       io::parse_fault_spec("loss=1%,reorder=25%,dup=1%,corrupt=0.1%,seed=7", &error)},
      {"5% loss", io::parse_fault_spec("loss=5%,seed=11", &error)},
  };

  std::printf("utcp-memdemo: two utcp engines over the in-memory link, %d connections,\n"
              "%llu MiB each way (every byte checked), virtual time, one thread.\n\n",
              connections, static_cast<unsigned long long>(mib));
  std::printf("%-44s %9s %10s %10s %12s %8s\n", "wire", "wall s", "MB/s", "virtual s",
              "retransmits", "intact");
  bool ok = true;
  for (const auto& sc : scenarios) {
    const Totals t = run(sc, connections, each_way);
    const bool good = t.finished && t.intact;
    ok = ok && good;
    std::printf("%-44s %9.2f %10.1f %10.2f %12llu %8s\n", sc.name, t.wall_seconds,
                static_cast<double>(t.bytes) / 1e6 / t.wall_seconds, t.virtual_seconds,
                static_cast<unsigned long long>(t.retransmits), good ? "yes" : "NO");
  }
  std::printf("\nMB/s counts both directions and both stacks' work on one core.\n");
  return ok ? 0 : 1;
}
