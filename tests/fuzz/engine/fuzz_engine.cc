// fuzz_engine: two engines on virtual time (World over tests/stack/engine/support/sim.h),
// driven by a program decoded from the input (format: program.h): socket calls on
// either engine, time steps small and large, crafted and mutated segments, ARP, ICMP,
// raw frames, and loss, duplication, reordering and bit flips on the link. After every
// operation the invariants of invariants.h and apps.h are checked; at the end every
// socket is closed, time runs past TIME-WAIT and the retransmission limits, and nothing
// may be left: no socket, connection, held frame or link buffer.
// Bounded per input: kMaxOps operations, 64 rounds per step, 12 h of virtual time, and
// a last phase of at most kFinalRounds rounds.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>

#include "tests/fuzz/engine/apps.h"
#include "tests/fuzz/engine/craft.h"
#include "tests/fuzz/engine/invariants.h"
#include "tests/fuzz/engine/program.h"
#include "tests/fuzz/engine/world.h"
#include "tests/fuzz/support/byte_reader.h"
#include "tests/fuzz/support/catch2/catch.hpp"

namespace utcp::fuzz {
namespace {

namespace prog = engine_program;
using namespace std::chrono_literals;

constexpr Duration kJumps[] = {1ms, 5ms, 40ms, 200ms, 500ms, 1s, 2s, 5s, 15s, 61s, 130s, 3600s};
constexpr Duration kMaxVirtualTime = 12h;
constexpr std::size_t kFinalRounds = 50'000;
constexpr Duration kFinalTime = 4h;  // beyond every retransmission, persist and TIME-WAIT limit
constexpr std::size_t kLengths[] = {1, 2, 7, 100, 536, 1000, 1460, 1461, 2920, 4000, 8192, 16384, 0, 3, 300, 65536};

se::test::SimOptions options(std::uint8_t cfg) {
  namespace c = prog::config;
  se::test::SimOptions o;
  o.link.pool_size = 1024;
  o.link.queue_limit = 1024;
  if (cfg & c::kSmallMtu) o.link.mtu = 576;
  if (cfg & c::kOffloads) {
    auto& caps = o.link.caps_template;
    caps.rx_ip_checksum = caps.rx_l4_checksum = caps.tx_ip_checksum = caps.tx_l4_checksum = true;
    caps.tso = true;
    caps.tso_max_bytes = 65535;
  }
  for (se::EngineConfig* e : {&o.a, &o.b}) {
    // Small tables, so that the limits (flow table, backlog, SYN queue) are reachable.
    e->max_connections = 24;
    e->max_sockets = 40;
    e->somaxconn = 8;
    e->syn_queue_limit = 4;
    e->arp.max_entries = 16;
    e->arp.max_pending_total = 64;
    e->timer_slots = 512;  // a 0.5 s fine wheel: long timers cascade from the coarse one
    e->tx_hold = 256;
    e->syn_cookies = (cfg & c::kNoSynCookies) == 0;
    e->tcp.timestamps = (cfg & c::kNoTimestamps) == 0;
    e->tcp.sack = (cfg & c::kNoSack) == 0;
    e->tcp.window_scaling = (cfg & c::kNoWindowScale) == 0;
    e->tcp.cc = (cfg & c::kNewReno) ? stack::cc::Algorithm::kNewReno : stack::cc::Algorithm::kCubic;
    const std::uint32_t buf = (cfg & c::kSmallBuffers) ? 4096 : 65536;
    e->tcp.default_rcvbuf = e->tcp.default_sndbuf = buf;
    e->tcp.max_buf = 1 << 20;
  }
  return o;
}

wire::Endpoint destination(World& world, int e, std::uint8_t addr, std::uint8_t port) {
  const wire::Ipv4Addr dests[] = {world.engine(1 - e).config().ip,
                                  world.engine(1 - e).config().ip,
                                  world.engine(e).config().ip,
                                  wire::Ipv4Addr::from_octets(198, 18, 0, 3),
                                  wire::Ipv4Addr::from_octets(10, 1, 2, 3),
                                  wire::Ipv4Addr::from_octets(198, 18, 0, 255),
                                  wire::Ipv4Addr{},
                                  wire::Ipv4Addr::from_octets(224, 0, 0, 1)};
  return {dests[addr % std::size(dests)], prog::kPorts[port % std::size(prog::kPorts)]};
}

void execute(World& world, Apps& apps, prog::Op op, ByteReader& in) {
  const auto es = [&] { return in.u8(); };
  const auto eng = [](std::uint8_t b) { return b & 1; };
  const auto slot = [](std::uint8_t b) { return (b >> 1) % Apps::kSlots; };
  switch (op) {
    case prog::Op::kSocket: { const auto b = es(); apps.socket(eng(b), slot(b)); return; }
    case prog::Op::kBind: {
      const auto b = es(), port = in.u8(), flags = in.u8();
      apps.bind(eng(b), slot(b), prog::kPorts[port % std::size(prog::kPorts)], flags);
      return;
    }
    case prog::Op::kListen: {
      const auto b = es();
      apps.listen(eng(b), slot(b), static_cast<std::int8_t>(in.u8()));
      return;
    }
    case prog::Op::kConnect: {
      const auto b = es(), addr = in.u8(), port = in.u8();
      apps.connect(eng(b), slot(b), destination(world, eng(b), addr, port));
      return;
    }
    case prog::Op::kAccept: { const auto b = es(); apps.accept(eng(b), slot(b)); return; }
    case prog::Op::kSend: {
      const auto b = es(), len = in.u8(), fl = in.u8();
      apps.send(eng(b), slot(b), kLengths[len % std::size(kLengths)], (fl & 1) != 0);
      return;
    }
    case prog::Op::kRecv: {
      const auto b = es(), len = in.u8(), fl = in.u8();
      apps.recv(eng(b), slot(b), kLengths[len % std::size(kLengths)], (fl & 1) != 0);
      return;
    }
    case prog::Op::kShutdown: {
      const auto b = es(), how = in.u8();
      static constexpr se::ShutdownHow kHow[] = {se::ShutdownHow::kRead, se::ShutdownHow::kWrite,
                                                 se::ShutdownHow::kBoth};
      apps.shutdown(eng(b), slot(b), kHow[how % 3]);
      return;
    }
    case prog::Op::kClose: { const auto b = es(); apps.close(eng(b), slot(b), false); return; }
    case prog::Op::kAbort: { const auto b = es(); apps.close(eng(b), slot(b), true); return; }
    case prog::Op::kSetOpt: {
      const auto b = es(), which = in.u8(), value = in.u8();
      apps.set_option(eng(b), slot(b), which, value);
      return;
    }
    case prog::Op::kStep: world.step(1 + in.u8() % 64, 250ms); return;
    case prog::Op::kJump:
      world.advance(kJumps[in.u8() % std::size(kJumps)]);
      world.step(16, 250ms);
      return;
    case prog::Op::kCraftTcp: craft_tcp(world, apps, in); return;
    case prog::Op::kCraftOther: craft_other(world, apps, in); return;
    case prog::Op::kMutate: mutate_recent(world, apps, in); return;
    case prog::Op::kFault: {
      const int to = in.u8() & 1;
      const auto kind = static_cast<FaultKind>(in.u8() % 4);
      const int count = 1 + in.u8() % 8;
      const std::uint16_t bit = in.u16();
      for (int i = 0; i < count; ++i) world.add_fault(to, Fault{kind, static_cast<std::uint16_t>(bit + 13 * i)});
      return;
    }
    case prog::Op::kEvents: apps.drain_events(in.u8() & 1); return;
    case prog::Op::kQuery: { const auto b = es(); apps.query(eng(b), slot(b)); return; }
    case prog::Op::kPing: {
      const int e = in.u8() & 1;
      const std::uint8_t addr = in.u8();
      (void)world.engine(e).ping(destination(world, e, addr, 0).addr, addr, e, world.now());
      return;
    }
    case prog::Op::kRaw: raw_frame(world, apps, in); return;
    case prog::Op::kCount: return;
  }
}

// UTCP_FUZZ_TRACE=1 prints the decoded program as it runs (docs/fuzzing.md: reading an
// artifact).
bool tracing() {
  static const bool on = std::getenv("UTCP_FUZZ_TRACE") != nullptr;
  return on;
}

void trace_op(std::size_t n, prog::Op op) {
  static constexpr const char* kNames[] = {
      "socket", "bind", "listen", "connect", "accept", "send", "recv", "shutdown", "close", "abort",
      "setopt", "step", "jump", "craft_tcp", "craft_other", "mutate", "fault", "events", "query",
      "ping", "raw"};
  std::fprintf(stderr, "%4zu %-11s", n, kNames[static_cast<std::size_t>(op)]);
}

void trace_state(World& world, Instant start) {
  std::fprintf(stderr, " t=%9.3f ms", static_cast<double>((world.now() - start).count()) / 1000.0);
  for (int e = 0; e < 2; ++e) {
    const se::EngineCounters& c = world.engine(e).counters();
    std::fprintf(stderr, " | %c: sockets %llu conns %llu est %llu in %llu B out %llu B rtx %llu", "ab"[e],
                 static_cast<unsigned long long>(c.sockets),
                 static_cast<unsigned long long>(c.connections),
                 static_cast<unsigned long long>(c.tcp.established),
                 static_cast<unsigned long long>(c.tcp.bytes_in),
                 static_cast<unsigned long long>(c.tcp.bytes_out),
                 static_cast<unsigned long long>(c.tcp.retransmits));
  }
  std::fputc('\n', stderr);
}

void check_both(World& world, const Apps& apps) {
  check_engine(world, apps, 0);
  check_engine(world, apps, 1);
}

bool all_released(World& world) {
  for (int e = 0; e < 2; ++e) {
    const se::EngineCounters& c = world.engine(e).counters();
    if (c.sockets != 0 || c.buffers_held != 0) return false;
  }
  return world.link().buffers_in_use() == 0;
}

// A round with traffic costs one round trip of this wire. (Two ends a crafted segment
// desynchronized once ACKed each other's ACKs at this rate for ever; ACKs for
// unacceptable segments are rate-limited now, tcp_config.h invalid_ack_interval.)
constexpr Duration kRoundTrip = 5us;

// Everything closed, then time runs from deadline to deadline until nothing is left.
void finish(World& world, Apps& apps) {
  world.release_held();
  apps.close_all();
  check_both(world, apps);
  const Instant start = world.now(), end = start + kFinalTime;
  const char* stop = "round limit";
  std::size_t i = 0;
  for (; i < kFinalRounds; ++i) {
    const std::size_t work = world.round();
    if (i % 16 == 0) check_both(world, apps);
    if (work > 0) {
      world.advance(kRoundTrip);
      if (world.now() > end) {
        stop = "time limit, still busy";
        break;
      }
      continue;
    }
    if (all_released(world)) {
      stop = "all released";
      break;
    }
    const Instant next = world.next_deadline();
    if (next == stack::kNever || next > end) {
      stop = next == stack::kNever ? "no timer armed" : "time limit";
      break;
    }
    world.advance(std::max<Duration>(next - world.now(), 1us));
  }
  if (tracing()) {
    std::fprintf(stderr, "last phase: %zu rounds, %.3f s, stopped: %s\n", i,
                 static_cast<double>((world.now() - start).count()) / 1e6, stop);
  }
  check_both(world, apps);
  check_all_released(world);
}

}  // namespace
}  // namespace utcp::fuzz

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace utcp::fuzz;
  ByteReader in({data, size});
  World world(options(in.u8()));
  world.trace_frames(tracing() && std::getenv("UTCP_FUZZ_TRACE")[0] == '2');
  Apps apps(world);
  const Instant start = world.now();
  for (std::size_t n = 0; n < prog::kMaxOps && !in.done(); ++n) {
    const auto op = static_cast<prog::Op>(in.u8() % static_cast<std::uint8_t>(prog::Op::kCount));
    if (tracing()) trace_op(n, op);
    try {
      execute(world, apps, op, in);
    } catch (const RigGaveUp&) {
      // A frame builder refused (too big): the operation did nothing.
    }
    check_both(world, apps);
    if (tracing()) trace_state(world, start);
    if (world.now() - start > kMaxVirtualTime) break;
  }
  finish(world, apps);
  return 0;
}
