// The nasty cases: 100,000 alternating out-of-order bytes (bounded work and memory),
// ICMP (RFC 5927 §4.1: validation, frag-needed), a sink without buffers, and
// sequence numbers near 2^32.
#include <chrono>

#include "tests/stack/tcp/harness.h"

namespace utcp::stack::tcp::test {

namespace {
// "Well under a second" for the flood below; sanitizers slow everything ~10x.
#if defined(__SANITIZE_ADDRESS__)
constexpr auto kFloodBudget = std::chrono::seconds(10);
#else
constexpr auto kFloodBudget = std::chrono::seconds(1);
#endif
}  // namespace

// ===================== out-of-order flood =====================

TEST_CASE("100,000 alternating one-byte out-of-order segments stay bounded",
          "[tcp][ooo][robustness]") {
  Harness h;
  h.peer.sack = true;
  h.cfg.default_rcvbuf = 1024 * 1024;
  h.established();
  const auto start = std::chrono::steady_clock::now();
  const std::uint8_t byte = 0x55;
  wire::TcpRepr s = h.seg();
  for (std::uint32_t i = 0; i < 100000; ++i) {
    s.seq = h.remote_seq + 2 * (i % 30000) + 1;  // every other byte, never RCV.NXT
    h.inject(s, std::span<const std::uint8_t>(&byte, 1));
    h.drop_sent();
  }
  const auto elapsed = std::chrono::steady_clock::now() - start;
  CHECK(elapsed < kFloodBudget);
  CHECK(h.conn->info().ooo_ranges <= h.cfg.max_ooo_ranges);
  CHECK(h.counters.ooo_dropped > 0);
  CHECK(h.conn->readable_bytes() == 0);
  // Filling the first hole joins it to the first recorded byte; the next is a hole.
  h.peer_send(std::span<const std::uint8_t>(&byte, 1));
  CHECK(h.conn->readable_bytes() == 2);
}

// ===================== ICMP =====================

TEST_CASE("ICMP frag-needed lowers the MSS and resends at once", "[tcp][icmp]") {
  Harness h;
  h.established();
  h.app_send(pattern(1460));
  h.pop();
  h.conn->on_icmp_unreachable(h.local_seq, 4, 1280, h.now);
  CHECK(h.conn->info().snd_mss == 1240);
  const Sent r = h.pop();
  CHECK(r.repr.seq == h.local_seq);
  CHECK(r.payload.size() == 1240);
  const Sent rest = h.pop();  // already sent once, so no Nagle delay
  CHECK(rest.repr.seq == h.local_seq + 1240);
  CHECK(rest.payload.size() == 220);
  h.expect_nothing_sent();
  CHECK(h.counters.icmp_unreachable == 1);
}

TEST_CASE("ICMP with a quoted sequence number outside the window is ignored", "[tcp][icmp]") {
  Harness h;
  h.established();
  h.app_send(pattern(100));
  h.pop();
  h.conn->on_icmp_unreachable(h.local_seq + 5000, 4, 576, h.now);
  h.conn->on_icmp_unreachable(h.local_seq - 1, 3, 0, h.now);
  CHECK(h.conn->info().snd_mss == 1460);
  CHECK(h.state() == State::kEstablished);
  CHECK(h.counters.icmp_rejected == 2);
  h.expect_nothing_sent();
}

TEST_CASE("ICMP errors in ESTABLISHED are soft", "[tcp][icmp]") {
  Harness h;
  h.established();
  h.app_send(pattern(10));
  h.pop();
  h.conn->on_icmp_unreachable(h.local_seq, 3, 0, h.now);
  CHECK(h.state() == State::kEstablished);
  CHECK(h.conn->take_error() == 0);
}

// ===================== output failures =====================

TEST_CASE("a segment the sink cannot take is retransmitted like a loss", "[tcp][robustness]") {
  Harness h;
  h.established();
  h.sink.fail = true;
  h.app_send(bytes("lost"));
  CHECK(h.counters.emit_failures == 1);
  h.sink.fail = false;
  h.advance(1s);
  CHECK(h.pop().payload == bytes("lost"));
}

// ===================== sequence wrap =====================

TEST_CASE("an ISN just below 2^32: handshake, data, FIN across the wrap", "[tcp][wrap]") {
  Harness h;
  h.local_iss = SeqNum(0xffffffffu);
  h.remote_iss = SeqNum(0xfffffffeu);
  h.established_active();
  CHECK(h.local_seq == SeqNum(0));
  h.app_send(pattern(3000));
  CHECK(h.pop().repr.seq == SeqNum(0));
  CHECK(h.pop().repr.seq == SeqNum(1460));
  h.peer_ack(SeqNum(2920));
  CHECK(h.pop().repr.seq == SeqNum(2920));
  h.peer_ack(SeqNum(3000));
  h.peer_send(pattern(10), flags::kFin);
  CHECK(h.state() == State::kCloseWait);
  CHECK(h.pop().repr.ack == SeqNum(10));  // 0xffffffff + 10 bytes + FIN
}

}  // namespace utcp::stack::tcp::test
