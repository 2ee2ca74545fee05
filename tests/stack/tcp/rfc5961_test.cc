// Blind-attack defences, RFC 5961: RST by exact sequence match (§3.2), SYN in a
// synchronized state (§4.2), ACK validity (§5.2), challenge-ACK rate limit (§7);
// PAWS (RFC 7323 §5.3) and TS.Recent.
#include "tests/stack/tcp/harness.h"

namespace utcp::stack::tcp::test {

// ===================== RST =====================

TEST_CASE("RST at exactly RCV.NXT resets the connection", "[tcp][rfc5961][rst]") {
  Harness h;
  h.established();
  wire::TcpRepr rst = h.seg();
  rst.flags = flags::kRst;
  h.inject(rst);
  CHECK(h.state() == State::kClosed);
  h.expect_nothing_sent();
  const std::uint32_t ev = h.conn->take_events();
  CHECK((ev & (events::kError | events::kHangup | events::kClosed)) ==
        (events::kError | events::kHangup | events::kClosed));
  CHECK(h.conn->take_error() == ECONNRESET);
  CHECK(h.counters.resets_in == 1);
}

TEST_CASE("RST in the window but not at RCV.NXT gets a challenge ACK", "[tcp][rfc5961][rst]") {
  Harness h;
  h.established();
  wire::TcpRepr rst = h.seg();
  rst.flags = flags::kRst;
  rst.seq = h.remote_seq + 100;
  h.inject(rst);
  CHECK(h.state() == State::kEstablished);
  h.expect_sent(h.out());
  h.expect_nothing_sent();
  CHECK(h.counters.challenge_acks == 1);
}

TEST_CASE("RST outside the window is dropped silently", "[tcp][rfc5961][rst]") {
  Harness h;
  h.established();
  wire::TcpRepr rst = h.seg();
  rst.flags = flags::kRst;
  rst.seq = h.remote_seq + 100000;
  h.inject(rst);
  CHECK(h.state() == State::kEstablished);
  h.expect_nothing_sent();
}

TEST_CASE("RST in LAST-ACK and TIME-WAIT closes without an error", "[tcp][rfc5961][rst]") {
  Harness h;
  h.time_wait();
  wire::TcpRepr rst = h.seg();
  rst.flags = flags::kRst;
  h.inject(rst);
  CHECK(h.state() == State::kClosed);
  CHECK(h.conn->take_error() == 0);
}

// ===================== SYN =====================

TEST_CASE("SYN in ESTABLISHED gets a challenge ACK, in window or not", "[tcp][rfc5961][syn]") {
  Harness h;
  h.established();
  wire::TcpRepr syn = h.seg();
  syn.flags = flags::kSyn;
  syn.seq = h.remote_seq + 10;
  h.inject(syn);
  h.expect_sent(h.out());
  h.expect_nothing_sent();
  CHECK(h.state() == State::kEstablished);
  syn.seq = h.remote_seq + 1000000;  // out of window: the plain "unacceptable" ACK
  h.inject(syn);
  h.expect_sent(h.out());
  h.expect_nothing_sent();
  CHECK(h.state() == State::kEstablished);
}

// ===================== ACK =====================

TEST_CASE("ACK of unsent data gets a challenge ACK and is dropped", "[tcp][rfc5961][ack]") {
  Harness h;
  h.established();
  h.app_send(bytes("abc"));
  h.pop();
  wire::TcpRepr a = h.seg();
  a.ack = h.local_seq + 100;
  h.inject(a, bytes("data"));
  wire::TcpRepr ch = h.out();
  ch.seq = h.local_seq + 3;
  h.expect_sent(ch);
  h.expect_nothing_sent();
  CHECK(h.conn->readable_bytes() == 0);  // the segment was dropped, text and all
  CHECK(h.conn->info().bytes_acked == 0);
  CHECK(h.counters.challenge_acks == 1);
}

TEST_CASE("ACK below SND.UNA - MAX.SND.WND gets a challenge ACK", "[tcp][rfc5961][ack]") {
  Harness h;
  h.established();
  wire::TcpRepr a = h.seg();
  a.ack = h.local_seq - 70000;
  h.inject(a, bytes("data"));
  h.expect_sent(h.out());
  CHECK(h.conn->readable_bytes() == 0);
  a.ack = h.local_seq - 1000;  // old but plausible: accepted, text processed
  h.inject(a, bytes("data"));
  CHECK(h.conn->readable_bytes() == 4);
}

// ===================== rate limit =====================

TEST_CASE("challenge ACKs are limited per connection per second", "[tcp][rfc5961][ratelimit]") {
  Harness h;
  h.cfg.challenge_ack_per_second = 3;
  h.established();
  wire::TcpRepr rst = h.seg();
  rst.flags = flags::kRst;
  rst.seq = h.remote_seq + 5;
  for (int i = 0; i < 10; ++i) {
    h.inject(rst);
  }
  CHECK(h.sent_count() == 3);
  CHECK(h.counters.challenge_acks == 3);
  CHECK(h.counters.challenge_acks_suppressed == 7);
  h.drop_sent();
  h.advance(1s);
  h.inject(rst);
  CHECK(h.sent_count() == 1);
}

// Linux tcp_invalid_ratelimit: a bare segment outside the window gets at most one ACK
// per 500 ms; data outside it (a retransmission whose ACK was lost) always gets one.
TEST_CASE("ACKs for unacceptable segments without data are limited to one per 500 ms",
          "[tcp][rfc5961][ratelimit]") {
  Harness h;
  h.established();
  wire::TcpRepr stale = h.seg();
  stale.seq = h.remote_seq - 5000;  // below the window: unacceptable
  for (int i = 0; i < 10; ++i) {
    h.inject(stale);
  }
  CHECK(h.sent_count() == 1);
  CHECK(h.counters.out_of_window == 10);
  CHECK(h.counters.invalid_acks_suppressed == 9);
  h.drop_sent();
  for (int i = 0; i < 3; ++i) {
    h.inject(stale, bytes("retransmitted"));  // data: always answered
  }
  CHECK(h.sent_count() == 3);
  h.drop_sent();
  h.advance(499ms);
  h.inject(stale);
  CHECK(h.sent_count() == 0);
  h.advance(1ms);
  h.inject(stale);
  CHECK(h.sent_count() == 1);
}

// ===================== PAWS =====================

TEST_CASE("PAWS drops a segment with an old TSval and sends an ACK", "[tcp][paws]") {
  Harness h;
  h.peer.timestamps = true;
  h.established();
  h.peer_tsval -= 10;
  h.inject(h.seg(), bytes("old"));
  wire::TcpRepr a = h.out();
  a.options.timestamps->tsecr = h.peer_tsval + 10;  // TS.Recent did not move back
  h.expect_sent(a);
  h.expect_nothing_sent();
  CHECK(h.conn->readable_bytes() == 0);
  CHECK(h.counters.paws_rejected == 1);
}

TEST_CASE("PAWS does not apply to RST", "[tcp][paws]") {
  Harness h;
  h.peer.timestamps = true;
  h.established();
  h.peer_tsval -= 10;
  wire::TcpRepr rst = h.seg();
  rst.flags = flags::kRst;
  h.inject(rst);
  CHECK(h.state() == State::kClosed);
}

TEST_CASE("TS.Recent follows in-order segments and is echoed", "[tcp][paws]") {
  Harness h;
  h.peer.timestamps = true;
  h.established();
  h.peer_tsval += 100;
  h.peer_send(bytes("a"));
  h.advance(h.cfg.delayed_ack);
  wire::TcpRepr a = h.out();
  a.window = 65534;
  h.expect_sent(a);
  CHECK(a.options.timestamps->tsecr == h.peer_tsval);
}

TEST_CASE("timestamps are sent on every segment once negotiated", "[tcp][paws]") {
  Harness h;
  h.peer.timestamps = true;
  h.established();
  h.app_send(bytes("x"));
  const Sent s = h.pop();
  REQUIRE(s.repr.options.timestamps);
  CHECK(s.repr.options.timestamps->tsval == h.our_tsval());
  h.conn->abort(h.now);
  CHECK_FALSE(h.pop().repr.options.timestamps);  // RST carries none
}

TEST_CASE("RTT is measured from TSecr (RFC 7323 §4)", "[tcp][paws][rtt]") {
  Harness h;
  h.peer.timestamps = true;
  h.established();
  h.app_send(bytes("x"));
  h.pop();
  h.advance(30ms);
  h.peer_ack(h.local_seq + 1);
  CHECK(h.conn->info().srtt == 3750us);  // 7/8 * 0 (handshake) + 1/8 * 30 ms
}

TEST_CASE("PAWS lets a TSval one tick behind TS.Recent through, as Linux does",
          "[tcp][paws]") {
  Harness h;
  h.peer.timestamps = true;
  h.established();
  h.peer_tsval += 1;
  h.peer_send(bytes("a"));  // TS.Recent = peer_tsval
  wire::TcpRepr late = h.seg();
  late.options.timestamps->tsval = h.peer_tsval - 1;  // sent earlier, overtaken
  h.inject(late, bytes("b"));
  CHECK(h.counters.paws_rejected == 0);
  CHECK(h.app_recv_all() == "ab");
}

TEST_CASE("PAWS passes a reordered duplicate ACK but not reordered data", "[tcp][paws]") {
  Harness h;
  h.peer.timestamps = true;
  h.established();
  h.app_send(bytes("xyz"));
  h.drop_sent();
  wire::TcpRepr dup = h.seg();  // seq = RCV.NXT, ack = SND.UNA, same window
  dup.options.timestamps->tsval = h.peer_tsval - 5;
  h.inject(dup);
  CHECK(h.counters.paws_rejected == 0);
  CHECK(h.counters.dup_acks_in == 1);
  h.drop_sent();
  h.inject(dup, bytes("data"));
  CHECK(h.counters.paws_rejected == 1);
  CHECK(h.conn->readable_bytes() == 0);
}

TEST_CASE("an ACK echoing a TSval from before our retransmission is no RTT sample",
          "[tcp][paws][rtt]") {
  Harness h;
  h.peer.timestamps = true;
  h.established();
  h.app_send(bytes("x"));
  const std::uint32_t original = h.pop().repr.options.timestamps->tsval;
  const Duration srtt_before = h.conn->info().srtt;
  h.fire_next_timer();  // RTO: the retransmission carries a newer TSval
  REQUIRE(h.pop().repr.seq == h.local_seq);
  h.advance(3s);
  // A peer answering the duplicate echoes TS.Recent from the original: 3+ s old.
  wire::TcpRepr ack = h.seg();
  ack.ack = h.local_seq + 1;
  ack.options.timestamps->tsecr = original;
  h.inject(ack);
  CHECK(h.conn->info().bytes_in_flight == 0);
  CHECK(h.conn->info().srtt == srtt_before);
  // Echoes from after the retransmission are samples again.
  h.local_seq += 1;
  h.app_send(bytes("y"));
  const std::uint32_t fresh = h.pop().repr.options.timestamps->tsval;
  h.advance(8ms);
  ack = h.seg();
  ack.ack = h.local_seq + 1;
  ack.options.timestamps->tsecr = fresh;
  h.inject(ack);
  CHECK(h.conn->info().srtt != srtt_before);
}

}  // namespace utcp::stack::tcp::test
