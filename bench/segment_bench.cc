// Micro-benchmarks of the stack's per-segment cost (Google Benchmark), the baseline
// for later speed work (issue 5). Run: make -f Makefile.bench micro.
// - wire: parsing a TCP data frame, building one (with software checksums);
// - engine: a bulk transfer between two engines over the in-memory link, with the
//   time spent in the sending engine and in the receiving engine reported per data
//   segment ("send path": ACK in, data out; "receive path": data in, ACK out).
#include <benchmark/benchmark.h>

#include <array>
#include <chrono>
#include <cstdint>
#include <vector>

#include "stack/engine/engine.h"
#include "stack/io/memory_link.h"
#include "stack/wire/ethernet.h"
#include "stack/wire/frame.h"
#include "stack/wire/ipv4.h"
#include "stack/wire/tcp.h"

namespace {

using namespace utcp::stack;

constexpr std::size_t kPayload = 1448;

struct DataFrame {
  std::array<std::uint8_t, 2048> bytes{};
  std::size_t len = 0;
};

DataFrame make_data_frame() {
  DataFrame f;
  wire::Ipv4Repr ip;
  ip.src = wire::Ipv4Addr::from_octets(198, 18, 0, 1);
  ip.dst = wire::Ipv4Addr::from_octets(198, 18, 0, 2);
  ip.protocol = 6;
  wire::TcpRepr tcp;
  tcp.src_port = 40000;
  tcp.dst_port = 80;
  tcp.seq = SeqNum(1000);
  tcp.ack = SeqNum(2000);
  tcp.flags = wire::tcp_flags::kAck | wire::tcp_flags::kPsh;
  tcp.window = 65535;
  tcp.options.timestamps = wire::TcpTimestamps{1, 2};
  std::vector<std::uint8_t> payload(kPayload, 0x5a);
  f.len = wire::emit_tcp_frame(f.bytes, wire::MacAddr{{2, 0, 0, 0, 0, 1}},
                               wire::MacAddr{{2, 0, 0, 0, 0, 2}}, ip, tcp, payload, {}, {});
  return f;
}

void BM_ParseTcpDataFrame(benchmark::State& state) {
  const DataFrame f = make_data_frame();
  const std::span<const std::uint8_t> frame(f.bytes.data(), f.len);
  for (auto _ : state) {
    auto eth = wire::EthernetView::check(frame);
    auto ipv = wire::Ipv4View::check(eth->payload());
    auto ip = wire::Ipv4Repr::parse(*ipv, true, nullptr);
    auto tcpv = wire::TcpView::check(ipv->payload());
    const bool ok = tcpv->checksum_ok(ip->src, ip->dst);
    auto tcp = wire::parse_tcp(*tcpv);
    benchmark::DoNotOptimize(ok);
    benchmark::DoNotOptimize(tcp);
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * f.len));
}
BENCHMARK(BM_ParseTcpDataFrame);

void BM_EmitTcpDataFrame(benchmark::State& state) {
  DataFrame f = make_data_frame();
  wire::Ipv4Repr ip;
  ip.src = wire::Ipv4Addr::from_octets(198, 18, 0, 1);
  ip.dst = wire::Ipv4Addr::from_octets(198, 18, 0, 2);
  ip.protocol = 6;
  wire::TcpRepr tcp;
  tcp.flags = wire::tcp_flags::kAck;
  tcp.options.timestamps = wire::TcpTimestamps{1, 2};
  std::vector<std::uint8_t> payload(kPayload, 0xa5);
  const std::span<const std::uint8_t> half1(payload.data(), kPayload / 2);
  const std::span<const std::uint8_t> half2(payload.data() + kPayload / 2, kPayload / 2);
  for (auto _ : state) {
    tcp.seq += kPayload;
    benchmark::DoNotOptimize(wire::emit_tcp_frame(f.bytes, wire::MacAddr{{2, 0, 0, 0, 0, 1}},
                                                  wire::MacAddr{{2, 0, 0, 0, 0, 2}}, ip, tcp,
                                                  half1, half2, {}));
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * kPayload));
}
BENCHMARK(BM_EmitTcpDataFrame);

// Times one engine's poll() calls.
struct TimedEngine {
  engine::Engine& e;
  std::chrono::nanoseconds spent{0};
  std::size_t poll(Instant now) {
    const auto t0 = std::chrono::steady_clock::now();
    const std::size_t work = e.poll(now);
    spent += std::chrono::steady_clock::now() - t0;
    return work;
  }
};

engine::EngineConfig bench_config(std::uint8_t host) {
  engine::EngineConfig cfg;
  cfg.ip = wire::Ipv4Addr::from_octets(198, 18, 0, host);
  cfg.secret.fill(host);
  return cfg;
}

void BM_EngineBulkTransfer(benchmark::State& state) {
  const std::size_t total = static_cast<std::size_t>(state.range(0)) << 20;
  std::vector<std::uint8_t> chunk(64 * 1024, 0x42);
  std::vector<std::uint8_t> sink(64 * 1024);
  std::chrono::nanoseconds send_ns{0}, recv_ns{0};
  std::uint64_t segments = 0;
  for (auto _ : state) {
    io::MemoryLinkConfig link_cfg;
    link_cfg.pool_size = 8192;
    io::MemoryLink link(link_cfg);
    Instant now = instant_from_us(1'000'000);
    engine::Engine a(bench_config(1), link.a(), now), b(bench_config(2), link.b(), now);
    TimedEngine ta{a}, tb{b};
    const auto listener = *b.socket();
    (void)b.bind(listener, {b.config().ip, 5001});
    (void)b.listen(listener, 16);
    const auto client = *a.socket();
    (void)a.connect(client, {b.config().ip, 5001}, now);
    std::optional<engine::SocketId> server;
    std::size_t sent = 0, received = 0;
    const std::uint64_t segs_before = a.counters().tcp.segs_out;
    for (int guard = 0; received < total && guard < 10'000'000; ++guard) {
      std::size_t work = ta.poll(now) + tb.poll(now);
      if (!server) {
        wire::Endpoint peer;
        if (auto s = b.accept(listener, &peer); s.ok()) server = *s;
      }
      if (sent < total) {
        auto r = a.send(client, {chunk.data(), std::min(chunk.size(), total - sent)}, {}, now);
        if (r.ok()) sent += *r, work += *r;
      }
      if (server) {
        for (auto r = b.recv(*server, sink, {}, now); r.ok() && *r > 0; r = b.recv(*server, sink, {}, now)) {
          received += *r;
          work += *r;
        }
      }
      if (work == 0) now = std::max(now + Duration(1), std::min(a.next_deadline(), b.next_deadline()));
    }
    segments += a.counters().tcp.segs_out - segs_before;
    send_ns += ta.spent;
    recv_ns += tb.spent;
    if (received < total) state.SkipWithError("transfer did not complete");
  }
  const double segs = static_cast<double>(segments);
  state.counters["send_path_ns_per_seg"] = static_cast<double>(send_ns.count()) / segs;
  state.counters["recv_path_ns_per_seg"] = static_cast<double>(recv_ns.count()) / segs;
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * total));
}
BENCHMARK(BM_EngineBulkTransfer)->Arg(16)->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
