// Timers: retransmission (RFC 6298 §5, Karn §3), delayed ACK (RFC 5681 §4.2),
// zero-window probing (RFC 9293 §3.8.6.1), keepalive (RFC 1122 §4.2.3.6).
#include "tests/stack/tcp/harness.h"

namespace utcp::stack::tcp::test {

// ===================== retransmission timeout =====================

TEST_CASE("RTO retransmits the first segment and backs off", "[tcp][rto]") {
  Harness h;
  // The handshake measured an RTT of 0, so the RTO sits at its floor; a 1 s floor
  // keeps the backoff arithmetic below readable.
  h.cfg.min_rto = 1s;
  h.established();
  h.app_send(bytes("abc"));
  const Sent first = h.pop();
  h.advance(1s - 1us);
  h.expect_nothing_sent();
  h.advance(1us);
  h.expect_sent(first.repr, first.payload);
  h.advance(2s - 1us);
  h.expect_nothing_sent();
  h.advance(1us);
  h.expect_sent(first.repr, first.payload);
  CHECK(h.counters.rto_timeouts == 2);
  CHECK(h.conn->info().retransmits_current == 2);
  h.peer_ack(h.local_seq + 3);
  CHECK(h.conn->next_deadline() == kNever);
  CHECK(h.conn->info().retransmits_current == 0);
}

TEST_CASE("RTO resends from SND.UNA under a one-segment window", "[tcp][rto]") {
  Harness h;
  // The handshake measured an RTT of 0, so the RTO sits at its floor; a 1 s floor
  // keeps the backoff arithmetic below readable.
  h.cfg.min_rto = 1s;
  h.established();
  h.app_send(pattern(4 * 1460));
  for (int i = 0; i < 4; ++i) h.pop();
  h.advance(1s);
  const Sent r = h.pop();
  CHECK(r.repr.seq == h.local_seq);
  CHECK(r.payload.size() == 1460);
  h.expect_nothing_sent();  // cwnd = 1 SMSS (RFC 5681 §3.1)
  h.peer_ack(h.local_seq + 1460);
  CHECK(h.pop().repr.seq == h.local_seq);  // cwnd grew to 2 SMSS
  CHECK(h.pop().repr.seq == h.local_seq + 1460);
  h.expect_nothing_sent();
}

TEST_CASE("the connection gives up after max_retransmits with ETIMEDOUT", "[tcp][rto]") {
  Harness h;
  h.cfg.max_retransmits = 4;
  // The handshake measured an RTT of 0, so the RTO sits at its floor; a 1 s floor
  // keeps the backoff arithmetic below readable.
  h.cfg.min_rto = 1s;
  h.established();
  h.app_send(bytes("abc"));
  h.pop();
  h.advance(1s + 2s + 4s + 8s);
  CHECK(h.sent_count() == 4);
  h.drop_sent();
  CHECK(h.state() == State::kEstablished);
  h.advance(16s);
  CHECK(h.state() == State::kClosed);
  CHECK(h.pop().repr.flags == (flags::kRst | flags::kAck));
  CHECK(h.conn->take_error() == ETIMEDOUT);
  CHECK(h.counters.timeouts == 1);
}

TEST_CASE("Karn: a retransmitted segment gives no RTT sample", "[tcp][rto][karn]") {
  Harness h;
  // The handshake measured an RTT of 0, so the RTO sits at its floor; a 1 s floor
  // keeps the backoff arithmetic below readable.
  h.cfg.min_rto = 1s;
  h.established();
  h.app_send(bytes("abc"));
  h.pop();
  h.advance(1s);
  h.pop();
  h.advance(50ms);
  h.peer_ack(h.local_seq + 3);
  CHECK_FALSE(h.conn->info().srtt > Duration::zero());
  // The next segment is timed again.
  h.app_send(bytes("d"));
  h.pop();
  h.advance(40ms);
  h.peer_ack(h.local_seq + 1);
  CHECK(h.conn->info().srtt == 5ms);  // 7/8 * 0 (handshake) + 1/8 * 40 ms, RFC 6298 §2.3
  CHECK(h.conn->info().rto == h.cfg.min_rto);
}

TEST_CASE("the RTO follows the measured RTT", "[tcp][rto]") {
  Harness h;
  h.handshake_rtt = 300ms;
  h.established();
  CHECK(h.conn->info().rto == 300ms + 4 * 150ms);  // SRTT + 4 * RTTVAR (RFC 6298 §2.2)
  h.app_send(bytes("b"));
  h.pop();
  h.advance(899ms);
  h.expect_nothing_sent();
  h.advance(1ms);
  CHECK(h.pop().payload == bytes("b"));
}

// ===================== delayed ACK =====================

TEST_CASE("every second full-sized segment is acknowledged at once", "[tcp][delack]") {
  Harness h;
  h.established();
  h.peer_send(pattern(1460));
  h.expect_nothing_sent();
  h.peer_send(pattern(1460));
  wire::TcpRepr a = h.out();
  a.window = 65535 - 2920;
  h.expect_sent(a);
  h.expect_nothing_sent();
  CHECK(h.conn->next_deadline() == kNever);
}

TEST_CASE("a lone segment is acknowledged when the delayed-ACK timer fires", "[tcp][delack]") {
  Harness h;
  h.cfg.delayed_ack = 100ms;
  h.established();
  h.peer_send(bytes("x"));
  CHECK(h.conn->next_deadline() == h.now + 100ms);
  h.advance(99ms);
  h.expect_nothing_sent();
  h.advance(1ms);
  CHECK(h.pop().repr.ack == h.remote_seq);
  CHECK(h.counters.delayed_acks == 1);
}

TEST_CASE("out-of-order data is acknowledged at once, and so is the segment filling the hole",
          "[tcp][delack][ooo]") {
  Harness h;
  h.established();
  wire::TcpRepr s = h.seg();
  s.seq = h.remote_seq + 10;
  h.inject(s, pattern(10));
  wire::TcpRepr dup = h.out();
  dup.window = 65535;
  h.expect_sent(dup);
  h.peer_send(pattern(10));
  h.remote_seq += 10;
  wire::TcpRepr a = h.out();
  a.window = 65535 - 20;
  h.expect_sent(a);
  h.expect_nothing_sent();
  CHECK(h.conn->readable_bytes() == 20);
}

// ===================== zero window / persist =====================

TEST_CASE("a zero window held for 10 minutes: probes back off to persist_max, the connection "
          "survives and resumes",
          "[tcp][persist]") {
  Harness h;
  // The handshake measured an RTT of 0, so the RTO sits at its floor; a 1 s floor
  // keeps the backoff arithmetic below readable.
  h.cfg.min_rto = 1s;
  h.established();
  h.peer_ack(h.local_seq, 0);
  h.app_send(pattern(100));
  h.expect_nothing_sent();
  std::vector<Instant> probes;
  const Instant end = h.now + std::chrono::minutes(10);
  while (h.now < end) {
    h.advance(100ms);
    while (h.sent_count() > 0) {
      const Sent p = h.pop();
      CHECK(p.repr.seq == h.local_seq - 1);  // probes carry SND.UNA - 1 and no data
      CHECK(p.payload.empty());
      probes.push_back(h.now);
      h.peer_ack(h.local_seq, 0);  // the peer answers: still zero
    }
  }
  REQUIRE(probes.size() >= 10);
  CHECK(probes[1] - probes[0] == 2s);  // 1 s (the RTO), then doubling
  CHECK(probes.back() - probes[probes.size() - 2] == h.cfg.persist_max);
  CHECK(h.state() == State::kEstablished);
  CHECK(h.counters.zero_window_probes == probes.size());
  h.peer_ack(h.local_seq, 1000);
  const Sent d = h.pop();
  CHECK(d.payload == pattern(100));
  h.expect_nothing_sent();
}

TEST_CASE("unanswered zero-window probes eventually time out", "[tcp][persist]") {
  Harness h;
  h.cfg.max_retransmits = 3;
  h.established();
  h.peer_ack(h.local_seq, 0);
  h.app_send(pattern(10));
  h.advance(std::chrono::minutes(10));
  CHECK(h.state() == State::kClosed);
  CHECK(h.conn->take_error() == ETIMEDOUT);
}

// ===================== keepalive =====================

TEST_CASE("keepalive probes after the idle time and stops when answered", "[tcp][keepalive]") {
  Harness h;
  h.opts.keepalive = true;
  h.opts.keepalive_idle = 60s;
  h.opts.keepalive_interval = 10s;
  h.established();
  h.advance(60s - 1us);
  h.expect_nothing_sent();
  h.advance(1us);
  wire::TcpRepr probe = h.out();
  probe.seq = h.local_seq - 1;
  h.expect_sent(probe);
  h.expect_nothing_sent();
  h.inject(h.seg());
  h.advance(60s - 1us);
  h.expect_nothing_sent();
  h.advance(1us);
  h.expect_sent(probe);
  CHECK(h.counters.keepalive_probes == 2);
}

TEST_CASE("keepalive times out after keepalive_count unanswered probes", "[tcp][keepalive]") {
  Harness h;
  h.opts.keepalive = true;
  h.opts.keepalive_idle = 60s;
  h.opts.keepalive_interval = 10s;
  h.opts.keepalive_count = 3;
  h.established();
  h.advance(60s + 2 * 10s);
  CHECK(h.sent_count() == 3);
  h.drop_sent();
  h.advance(10s);
  CHECK(h.state() == State::kClosed);
  CHECK(h.pop().repr.flags == (flags::kRst | flags::kAck));
  CHECK(h.conn->take_error() == ETIMEDOUT);
}

TEST_CASE("keepalive is off by default", "[tcp][keepalive]") {
  Harness h;
  h.established();
  CHECK(h.conn->next_deadline() == kNever);
}

TEST_CASE("setting SO_KEEPALIVE later arms the timer", "[tcp][keepalive]") {
  Harness h;
  h.established();
  SocketOptions o = h.conn->options();
  o.keepalive = true;
  o.keepalive_idle = 5s;
  REQUIRE(h.conn->set_options(o, h.now) == 0);
  h.advance(5s);
  CHECK(h.pop().repr.seq == h.local_seq - 1);
}

}  // namespace utcp::stack::tcp::test
