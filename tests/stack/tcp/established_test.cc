// ESTABLISHED (RFC 9293 §3.8, §3.10.7.4): data both ways, ACK and window processing,
// duplicate and out-of-window segments, application calls.
#include "tests/stack/tcp/harness.h"

namespace utcp::stack::tcp::test {

// ===================== receiving =====================

TEST_CASE("in-order data is readable and acknowledged after the delayed-ACK timer",
          "[tcp][established]") {
  Harness h;
  h.established();
  h.peer_send(bytes("abcdef"));
  CHECK((h.conn->take_events() & events::kReadable) != 0);
  CHECK(h.conn->readable_bytes() == 6);
  h.expect_nothing_sent();
  h.advance(h.cfg.delayed_ack - 1us);
  h.expect_nothing_sent();
  h.advance(1us);
  wire::TcpRepr ack = h.out();
  ack.window = 65535 - 6;
  h.expect_sent(ack);
  h.expect_nothing_sent();
  CHECK(h.counters.delayed_acks == 1);
  CHECK(h.app_recv_all() == "abcdef");
  CHECK(h.counters.bytes_in == 6);
}

TEST_CASE("a duplicate segment is acknowledged at once and not delivered twice",
          "[tcp][established]") {
  Harness h;
  h.established();
  h.peer_send(bytes("abc"));
  h.advance(h.cfg.delayed_ack);
  h.drop_sent();
  wire::TcpRepr dup = h.seg();
  dup.seq = h.remote_seq - 3;
  h.inject(dup, bytes("abc"));
  wire::TcpRepr ack = h.out();
  ack.window = 65535 - 3;
  h.expect_sent(ack);
  h.expect_nothing_sent();
  CHECK(h.app_recv_all() == "abc");
  // Acceptable by Linux's test (it ends at the last ACK sent): its ACK field counts.
  CHECK(h.counters.out_of_window == 0);
}

TEST_CASE("a retransmission of unacknowledged data still delivers its new ACK",
          "[tcp][established]") {
  Harness h;
  h.established();
  h.peer_send(bytes("abc"));  // our ACK for it is delayed
  h.app_send(bytes("xyz"));
  h.drop_sent();
  wire::TcpRepr dup = h.seg();
  dup.seq = h.remote_seq - 3;
  dup.ack = h.local_seq + 3;
  h.inject(dup, bytes("abc"));
  CHECK(h.conn->info().bytes_in_flight == 0);
  CHECK(h.app_recv_all() == "abc");
  CHECK(h.sent_count() == 1);  // acknowledged at once: the peer missed our ACK
}

TEST_CASE("a pure ACK at exactly the right edge is processed, one beyond it is not",
          "[tcp][established]") {
  const std::uint32_t beyond = GENERATE(0u, 1u);
  Harness h;
  h.established();
  h.app_send(bytes("xyz"));
  h.drop_sent();
  wire::TcpRepr ack = h.seg();
  // At the edge: the peer filled our window and this ACK overtook the data.
  ack.seq = h.remote_seq + h.full_window + beyond;
  ack.ack = h.local_seq + 3;
  h.inject(ack);
  CHECK(h.counters.out_of_window == beyond);
  CHECK(h.conn->info().bytes_in_flight == (beyond == 0 ? 0u : 3u));
}

TEST_CASE("a segment overlapping RCV.NXT delivers only its new part", "[tcp][established]") {
  Harness h;
  h.established();
  h.peer_send(bytes("abc"));
  wire::TcpRepr s = h.seg();
  s.seq = h.remote_seq - 2;
  h.inject(s, bytes("bcde"));
  h.remote_seq += 2;
  CHECK(h.app_recv_all() == "abcde");
}

TEST_CASE("data beyond the advertised window is trimmed and the peer told",
          "[tcp][established]") {
  Harness h;
  h.cfg.default_rcvbuf = 1000;
  h.full_window = 1000;
  h.established();
  h.peer_send(pattern(1200));
  h.remote_seq -= 200;
  CHECK(h.conn->readable_bytes() == 1000);
  wire::TcpRepr ack = h.out();
  ack.window = 0;
  h.expect_sent(ack);
  h.expect_nothing_sent();
}

TEST_CASE("segments entirely outside the window get an ACK and are dropped",
          "[tcp][established]") {
  Harness h;
  h.established();
  wire::TcpRepr s = h.seg();
  s.seq = h.remote_seq + 70000;
  h.inject(s, bytes("zzz"));
  h.expect_sent(h.out());
  h.expect_nothing_sent();
  CHECK(h.conn->readable_bytes() == 0);
  CHECK(h.counters.out_of_window == 1);
}

TEST_CASE("a segment without ACK is dropped in a synchronized state", "[tcp][established]") {
  Harness h;
  h.established();
  wire::TcpRepr s = h.seg();
  s.flags = 0;
  h.inject(s, bytes("abc"));
  h.expect_nothing_sent();
  CHECK(h.conn->readable_bytes() == 0);
}

TEST_CASE("the urgent pointer is ignored and urgent data delivered inline",
          "[tcp][established]") {
  Harness h;
  h.established();
  wire::TcpRepr s = h.seg();
  s.flags |= flags::kUrg;
  s.urgent = 1;
  h.inject(s, bytes("!x"));
  h.remote_seq += 2;
  CHECK(h.app_recv_all() == "!x");
}

// ===================== sending =====================

TEST_CASE("send() transmits at once and the ACK frees the buffer", "[tcp][established]") {
  Harness h;
  h.established();
  CHECK(h.app_send(bytes("hello")) == 5);
  wire::TcpRepr d = h.out();
  d.flags |= flags::kPsh;
  h.expect_sent(d, bytes("hello"));
  h.expect_nothing_sent();
  CHECK(h.conn->send_space() == 64 * 1024 - 5);
  h.peer_ack(h.local_seq + 5);
  h.expect_nothing_sent();
  CHECK(h.conn->send_space() == 64 * 1024);
  CHECK((h.conn->take_events() & events::kWritable) != 0);
  CHECK(h.conn->next_deadline() == kNever);
}

TEST_CASE("large sends are cut into MSS segments within the initial window",
          "[tcp][established]") {
  Harness h;
  h.established();
  const auto data = pattern(20 * 1460);
  CHECK(h.app_send(data) == 20 * 1460);
  for (int i = 0; i < 10; ++i) {
    const Sent s = h.pop();
    CHECK(s.repr.seq == h.local_seq + static_cast<std::uint32_t>(i * 1460));
    CHECK(s.payload == std::vector<std::uint8_t>(data.begin() + i * 1460, data.begin() + (i + 1) * 1460));
  }
  h.expect_nothing_sent();  // IW = 10 segments (RFC 6928)
  h.peer_ack(h.local_seq + 2 * 1460);
  CHECK(h.sent_count() >= 2);
}

TEST_CASE("sending respects the peer's window", "[tcp][established]") {
  Harness h;
  h.established();
  h.peer_ack(h.local_seq, 3000);
  h.app_send(pattern(5000));
  CHECK(h.pop().payload.size() == 1460);
  CHECK(h.pop().payload.size() == 1460);
  h.expect_nothing_sent();  // 80 bytes of window left: sender SWS avoidance waits
  h.peer_ack(h.local_seq + 2920, 3000);
  CHECK(h.pop().payload.size() == 1460);
  h.expect_nothing_sent();  // the 620-byte tail waits for the ACK (Nagle)
  h.peer_ack(h.local_seq + 1460, 3000);
  CHECK(h.pop().payload.size() == 620);
  h.expect_nothing_sent();
}

TEST_CASE("sender SWS: a small window is used only after the override timeout",
          "[tcp][established][sws]") {
  Harness h;
  // The handshake measured an RTT of 0, so the RTO sits at its floor; a 1 s floor
  // keeps the backoff arithmetic below readable.
  h.cfg.min_rto = 1s;
  h.established();
  h.peer_ack(h.local_seq, 1000);  // far below half the largest window seen
  h.app_send(pattern(3000));
  h.expect_nothing_sent();
  h.advance(h.cfg.persist_min);
  h.advance(1s);  // persist timer: first interval is the RTO (1 s)
  CHECK(h.pop().payload.size() == 1000);
  h.expect_nothing_sent();
}

TEST_CASE("an old window update (SND.WL1/WL2 rule) is ignored", "[tcp][established]") {
  Harness h;
  h.established();
  h.peer_send(bytes("ab"));
  h.peer_send(bytes("cd"));
  wire::TcpRepr old = h.seg();
  old.seq = h.remote_seq - 4;  // older than the segment that set the window (SND.WL1)
  old.window = 10;
  h.inject(old);
  CHECK(h.conn->info().snd_wnd == 65535);
}

TEST_CASE("send() returns EAGAIN when the buffer is full", "[tcp][established][errno]") {
  Harness h;
  h.cfg.default_sndbuf = 100;
  h.established();
  h.peer_ack(h.local_seq, 0);
  CHECK(h.app_send(pattern(150)) == 100);
  auto r = h.conn->send(bytes("x"), false, h.now);
  CHECK(r.err() == EAGAIN);
  CHECK(h.conn->send_space() == 0);
}

TEST_CASE("recv() returns EAGAIN without data and peeks without consuming",
          "[tcp][established][errno]") {
  Harness h;
  h.established();
  std::uint8_t buf[8];
  CHECK(h.conn->recv(buf, false, h.now).err() == EAGAIN);
  h.peer_send(bytes("xyz"));
  auto p = h.conn->recv(buf, true, h.now);
  REQUIRE(p.ok());
  CHECK(*p == 3);
  CHECK(h.conn->readable_bytes() == 3);
  CHECK(h.app_recv_all() == "xyz");
}

TEST_CASE("data flows both ways and ACKs ride on data", "[tcp][established]") {
  Harness h;
  h.established();
  h.peer_send(bytes("ping"));
  h.app_send(bytes("pong"));
  wire::TcpRepr d = h.out();
  d.flags |= flags::kPsh;
  d.window = 65535 - 4;
  h.expect_sent(d, bytes("pong"));
  h.advance(1s);
  h.expect_sent([&] {  // the RTO: our data was never acknowledged
    wire::TcpRepr r = d;
    return r;
  }(), bytes("pong"));
}

TEST_CASE("transfer across the sequence-number wrap works both ways", "[tcp][established][wrap]") {
  Harness h;
  h.local_iss = SeqNum(0xffffff00u);
  h.remote_iss = SeqNum(0xfffffff0u);
  h.established();
  std::string got;
  for (int i = 0; i < 4; ++i) {
    h.peer_send(pattern(100, i));
    got += h.app_recv_all();
  }
  CHECK(got.size() == 400);
  CHECK(h.remote_seq.raw() < 0x1000u);
  const auto data = pattern(1000);
  h.app_send(data);
  const Sent s = h.pop();
  CHECK(s.payload == data);
  h.peer_ack(h.local_seq + 1000);
  CHECK(h.local_seq.raw() < 0x1000u);
  CHECK(h.conn->info().bytes_acked == 1000);
  CHECK(s.repr.ack == h.remote_seq);  // the data carried the ACK of all 400 bytes
}

}  // namespace utcp::stack::tcp::test
