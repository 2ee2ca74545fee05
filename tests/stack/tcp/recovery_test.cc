// Loss recovery: fast retransmit on DupThresh duplicate ACKs (RFC 5681 §3.2), NewReno
// partial ACKs (RFC 6582 §3.2), SACK-based recovery (RFC 6675 §5), SACK validation.
#include "tests/stack/tcp/harness.h"

namespace utcp::stack::tcp::test {

namespace {
constexpr std::uint32_t kMss = 1460;

// Sends n full segments from the application and drops what the connection emitted.
void send_segments(Harness& h, int n) {
  h.app_send(pattern(static_cast<std::size_t>(n) * kMss));
  for (int i = 0; i < n; ++i) {
    REQUIRE(h.pop().payload.size() == kMss);
  }
  h.expect_nothing_sent();
}

void dup_ack(Harness& h, std::initializer_list<wire::SackBlock> blocks = {}) {
  wire::TcpRepr a = h.seg();
  for (const auto& b : blocks) {
    a.options.sack[a.options.sack_count++] = b;
  }
  h.inject(a);
}

wire::SackBlock block(const Harness& h, int from_seg, int to_seg) {
  return {h.local_seq + from_seg * kMss, h.local_seq + to_seg * kMss};
}
}  // namespace

// ===================== NewReno (no SACK) =====================

TEST_CASE("three duplicate ACKs trigger a fast retransmit of SND.UNA", "[tcp][recovery][newreno]") {
  Harness h;
  h.established();
  send_segments(h, 6);
  dup_ack(h);
  dup_ack(h);
  h.expect_nothing_sent();
  dup_ack(h);
  const Sent r = h.pop();
  CHECK(r.repr.seq == h.local_seq);
  CHECK(r.payload.size() == kMss);
  h.expect_nothing_sent();
  CHECK(h.counters.fast_retransmits == 1);
  CHECK(h.counters.dup_acks_in == 3);
  CHECK(h.conn->info().ssthresh_bytes == 3 * kMss);  // FlightSize / 2
  CHECK(h.conn->info().cwnd_bytes == 6 * kMss);      // ssthresh + 3 SMSS
}

TEST_CASE("a duplicate ACK carrying data or a window change is not a dupack",
          "[tcp][recovery][newreno]") {
  Harness h;
  h.established();
  send_segments(h, 6);
  for (int i = 0; i < 3; ++i) {
    h.peer_send(bytes("x"));
  }
  h.peer_ack(h.local_seq, 60000);
  h.peer_ack(h.local_seq, 50000);
  h.drop_sent();
  CHECK(h.counters.fast_retransmits == 0);
}

TEST_CASE("NewReno: a partial ACK retransmits the next hole at once", "[tcp][recovery][newreno]") {
  Harness h;
  h.established();
  send_segments(h, 6);
  for (int i = 0; i < 3; ++i) dup_ack(h);
  h.pop();
  // Segments 0 and 3 were lost: the retransmission of 0 brings an ACK up to 3.
  h.peer_ack(h.local_seq + 3 * kMss);
  const Sent r = h.pop();
  CHECK(r.repr.seq == h.local_seq);
  CHECK(r.payload.size() == kMss);
  CHECK(h.counters.fast_retransmits == 1);  // still the same recovery
  // The full ACK ends recovery: cwnd = min(ssthresh, FlightSize + SMSS).
  h.drop_sent();
  h.peer_ack(h.local_seq + 3 * kMss);
  CHECK(h.conn->info().cwnd_bytes <= h.conn->info().ssthresh_bytes);
}

TEST_CASE("further duplicate ACKs inflate the window and release new data",
          "[tcp][recovery][newreno]") {
  Harness h;
  h.established();
  h.app_send(pattern(20 * kMss));
  for (int i = 0; i < 10; ++i) h.pop();
  for (int i = 0; i < 3; ++i) dup_ack(h);
  CHECK(h.pop().repr.seq == h.local_seq);  // the fast retransmit
  // cwnd = 5 + 3 = 8 SMSS < 10 in flight: nothing new yet.
  h.expect_nothing_sent();
  dup_ack(h);
  dup_ack(h);
  h.expect_nothing_sent();
  dup_ack(h);  // cwnd = 11 SMSS
  CHECK(h.pop().repr.seq == h.local_seq + 10 * kMss);
  h.expect_nothing_sent();
}

// ===================== SACK (RFC 6675) =====================

TEST_CASE("SACK recovery retransmits exactly the holes", "[tcp][recovery][sack]") {
  Harness h;
  h.peer.sack = true;
  h.established();
  send_segments(h, 10);
  // Segments 0 and 4 are lost; the peer SACKs everything else as it arrives.
  dup_ack(h, {block(h, 1, 2)});
  dup_ack(h, {block(h, 1, 3)});
  h.expect_nothing_sent();
  dup_ack(h, {block(h, 1, 4)});
  std::vector<std::uint32_t> resent;  // in segments from SND.UNA
  auto collect = [&] {
    while (h.sent_count() > 0) {
      const Sent s = h.pop();
      CHECK(s.payload.size() == kMss);
      resent.push_back(static_cast<std::uint32_t>(s.repr.seq - h.local_seq) / kMss);
    }
  };
  collect();
  CHECK(resent == std::vector<std::uint32_t>{0});
  for (int top = 6; top <= 10; ++top) {
    dup_ack(h, {block(h, 5, top), block(h, 1, 4)});
    collect();
  }
  CHECK(resent == std::vector<std::uint32_t>{0, 4});
  CHECK(h.counters.fast_retransmits == 1);
  CHECK(h.counters.retransmits == 2);
  // The ACK for everything ends recovery.
  h.peer_ack(h.local_seq + 10 * kMss);
  h.expect_nothing_sent();
  CHECK(h.conn->info().cwnd_bytes == h.conn->info().ssthresh_bytes);
}

TEST_CASE("SACK blocks outside [SND.UNA, SND.NXT] are ignored and counted", "[tcp][recovery][sack]") {
  Harness h;
  h.peer.sack = true;
  h.established();
  send_segments(h, 4);
  dup_ack(h, {{h.local_seq + 10 * kMss, h.local_seq + 11 * kMss}});
  dup_ack(h, {{h.local_seq + 3 * kMss, h.local_seq + 5 * kMss}, {h.local_seq - 100, h.local_seq - 50}});
  dup_ack(h, {{h.local_seq + 3 * kMss, h.local_seq + 5 * kMss}});
  // All four blocks are invalid (the last one ends past SND.NXT). A block below SND.UNA
  // counts here only in second place: in first place it would be a D-SACK.
  CHECK(h.counters.sack_blocks_ignored == 4);
  CHECK(h.counters.dsacks_in == 0);
  CHECK(h.counters.fast_retransmits == 0);
  h.expect_nothing_sent();
}

TEST_CASE("the receiver reports out-of-order data in SACK blocks, most recent first",
          "[tcp][sack][ooo]") {
  Harness h;
  h.peer.sack = true;
  h.established();
  wire::TcpRepr s = h.seg();
  s.seq = h.remote_seq + 100;
  h.inject(s, pattern(50));
  s.seq = h.remote_seq + 300;
  h.inject(s, pattern(50));
  h.pop();
  const Sent a = h.pop();
  REQUIRE(a.repr.options.sack_count == 2);
  CHECK(a.repr.options.sack[0] == wire::SackBlock{h.remote_seq + 300, h.remote_seq + 350});
  CHECK(a.repr.options.sack[1] == wire::SackBlock{h.remote_seq + 100, h.remote_seq + 150});
  CHECK(a.repr.ack == h.remote_seq);
  h.peer_send(pattern(100));  // fills the first hole
  const Sent b = h.pop();
  CHECK(b.repr.ack == h.remote_seq + 50);
  REQUIRE(b.repr.options.sack_count == 1);
  CHECK(b.repr.options.sack[0] == wire::SackBlock{h.remote_seq + 200, h.remote_seq + 250});
}

// ===================== D-SACK (RFC 2883) =====================

namespace {
// SACK negotiated, then 100 bytes received in order; returns their first sequence number.
SeqNum sack_and_100_in_order(Harness& h) {
  h.peer.sack = true;
  h.established();
  const SeqNum start = h.remote_seq;
  h.peer_send(pattern(100));
  h.drop_sent();
  return start;
}
}  // namespace

TEST_CASE("D-SACK: data received twice is reported once, in the first SACK block",
          "[tcp][sack][dsack]") {
  Harness h;
  const SeqNum start = sack_and_100_in_order(h);
  wire::TcpRepr again = h.seg();
  again.seq = start + 40;  // overlaps 60 bytes we hold, brings 20 new ones
  h.inject(again, pattern(80));
  h.advance(1s);  // whatever the delayed ACK does, one ACK carries the report
  const Sent a = h.pop();
  CHECK(a.repr.ack == start + 120);
  REQUIRE(a.repr.options.sack_count == 1);
  CHECK(a.repr.options.sack[0] == wire::SackBlock{start + 40, start + 100});  // the duplicate part
  CHECK(h.counters.dsacks_out == 1);
  h.remote_seq = start + 120;
  h.peer_send(pattern(10));
  h.advance(1s);
  CHECK(h.pop().repr.options.sack_count == 0);  // reported once
}

TEST_CASE("D-SACK: an old retransmission outside the window, and with out-of-order data",
          "[tcp][sack][dsack]") {
  Harness h;
  const SeqNum start = sack_and_100_in_order(h);
  wire::TcpRepr ooo = h.seg();
  ooo.seq = start + 300;
  h.inject(ooo, pattern(50));
  h.drop_sent();
  wire::TcpRepr old = h.seg();
  old.seq = start;  // wholly below RCV.NXT: unacceptable, answered at once
  h.inject(old, pattern(100));
  const Sent a = h.pop();
  REQUIRE(a.repr.options.sack_count == 2);
  CHECK(a.repr.options.sack[0] == wire::SackBlock{start, start + 100});
  CHECK(a.repr.options.sack[1] == wire::SackBlock{start + 300, start + 350});
  CHECK(h.counters.dsacks_out == 1);
}

TEST_CASE("D-SACK: a first block below the cumulative ACK is counted, not a hole map",
          "[tcp][sack][dsack]") {
  Harness h;
  h.peer.sack = true;
  h.established();
  send_segments(h, 4);
  h.peer_ack(h.local_seq + kMss);
  dup_ack(h, {{h.local_seq - kMss, h.local_seq}});  // "segment 0 came twice"
  CHECK(h.counters.dsacks_in == 1);
  CHECK(h.counters.sack_blocks_ignored == 0);
  dup_ack(h, {{h.local_seq - kMss, h.local_seq}, block(h, 1, 2)});  // and then a hole map
  CHECK(h.counters.dsacks_in == 2);
  CHECK(h.counters.sack_blocks_ignored == 0);
  h.expect_nothing_sent();
}

namespace {
// Six segments out; segments 1-3 SACKed (0, 4 and 5 missing), recovery entered and
// its retransmission of segment 0 dropped. The RTO floor is 1 s (the handshake
// measured an RTT of 0) to keep the backoff arithmetic readable.
void rto_during_sack_recovery(Harness& h) {
  h.peer.sack = true;
  h.cfg.min_rto = 1s;
  h.established();
  send_segments(h, 6);
  for (int i = 0; i < 3; ++i) dup_ack(h, {block(h, 1, 2 + i)});
  h.drop_sent();
}

std::uint32_t segment_of(const Harness& h, const Sent& s) {
  return static_cast<std::uint32_t>(s.repr.seq - h.local_seq) / kMss;
}
}  // namespace

TEST_CASE("an RTO during SACK recovery resends only what is not SACKed, in slow start",
          "[tcp][recovery][sack][rto]") {
  Harness h;
  rto_during_sack_recovery(h);
  h.advance(1s);
  CHECK(segment_of(h, h.pop()) == 0);  // cwnd = 1 SMSS: SND.UNA first
  h.expect_nothing_sent();
  CHECK(h.conn->info().cwnd_bytes == kMss);
  CHECK(h.counters.rto_timeouts == 1);
  // Segment 0 arrives; the SACK still covers 1-3. Slow start: two more segments,
  // and they are the remaining holes 4 and 5, not the SACKed 1-3 (no go-back-N).
  wire::TcpRepr a = h.seg();
  a.ack = h.local_seq + kMss;
  a.options.sack[a.options.sack_count++] = block(h, 1, 4);
  h.inject(a);
  std::vector<std::uint32_t> resent;
  while (h.sent_count() > 0) resent.push_back(segment_of(h, h.pop()));
  CHECK(resent == std::vector<std::uint32_t>{4, 5});
  // Everything acknowledged: the RTO recovery is over, nothing more goes out.
  h.peer_ack(h.local_seq + 6 * kMss);
  h.expect_nothing_sent();
  CHECK(h.conn->info().bytes_in_flight == 0);
}

TEST_CASE("a second RTO without progress drops the scoreboard and goes back N",
          "[tcp][recovery][sack][rto]") {
  // RFC 2018 §8: the receiver may renege on what it SACKed. If even SND.UNA's
  // retransmission brought no progress, stop trusting the SACK information.
  Harness h;
  rto_during_sack_recovery(h);
  h.advance(1s);
  CHECK(segment_of(h, h.pop()) == 0);
  h.advance(2s);  // backed off; no ACK came
  CHECK(segment_of(h, h.pop()) == 0);
  CHECK(h.counters.rto_timeouts == 2);
  // SND.UNA's segment arrives; the peer SACKs nothing any more. Go-back-N resends
  // from segment 1, which the scoreboard would have skipped.
  const SeqNum base = h.local_seq;  // peer_ack() moves local_seq
  h.peer_ack(base + kMss);
  const Sent next = h.pop();
  CHECK(next.repr.seq == base + kMss);  // segment 1, SACKed before the reneging
}

}  // namespace utcp::stack::tcp::test
