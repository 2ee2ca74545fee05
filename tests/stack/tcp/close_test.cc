// Closing (RFC 9293 §3.6, §3.10.4, §3.10.7.4 eighth step): FIN-WAIT-1/2, CLOSE-WAIT,
// CLOSING, LAST-ACK, TIME-WAIT (2*MSL, RFC 6191 SYN reuse), CLOSED; half-close,
// simultaneous close, abortive close (RFC 2525 §2.17), errno per state.
#include "tests/stack/tcp/harness.h"

namespace utcp::stack::tcp::test {

namespace {
wire::TcpRepr fin_from(const Harness& h) {
  wire::TcpRepr f = h.out();
  f.flags |= flags::kFin;
  return f;
}
}  // namespace

// ===================== FIN-WAIT-1 =====================

TEST_CASE("shutdown(SHUT_WR) sends FIN after queued data", "[tcp][fin-wait-1]") {
  Harness h;
  h.established();
  h.app_send(bytes("bye"));
  h.pop();
  REQUIRE(h.conn->shutdown(false, true, h.now) == 0);
  CHECK(h.state() == State::kFinWait1);
  // Nagle holds nothing back once the FIN is queued, so the FIN goes out alone.
  wire::TcpRepr f = fin_from(h);
  f.seq = h.local_seq + 3;
  h.expect_sent(f);
  h.expect_nothing_sent();
}

TEST_CASE("FIN rides on the last data segment when both are queued", "[tcp][fin-wait-1]") {
  Harness h;
  h.established();
  h.peer_ack(h.local_seq, 0);
  h.app_send(bytes("bye"));
  REQUIRE(h.conn->shutdown(false, true, h.now) == 0);
  h.expect_nothing_sent();
  h.peer_ack(h.local_seq, 1000);
  wire::TcpRepr f = fin_from(h);
  f.flags |= flags::kPsh;
  h.expect_sent(f, bytes("bye"));
  h.expect_nothing_sent();
}

// A FIN takes a sequence number: where the last data byte fills the peer's window, the
// FIN waits for room (Linux's tcp_snd_wnd_test), and a zero window is probed meanwhile.
// Found by fuzz_engine: the FIN landed one byte past the window.
TEST_CASE("a FIN is not sent beyond the peer's window", "[tcp][fin-wait-1][window]") {
  Harness h;
  h.cfg.min_rto = 1s;
  h.established();
  h.peer_ack(h.local_seq, 3);  // room for exactly "bye"
  h.app_send(bytes("bye"));
  REQUIRE(h.conn->shutdown(false, true, h.now) == 0);
  wire::TcpRepr d = h.out();
  d.flags |= flags::kPsh;
  h.expect_sent(d, bytes("bye"));  // the data, without the FIN
  h.expect_nothing_sent();
  h.peer_ack(h.local_seq + 3, 0);  // all acknowledged (local_seq follows), the window zero
  h.expect_nothing_sent();
  h.advance(1s);  // the persist timer: a probe, not the FIN
  const Sent probe = h.pop();
  CHECK(probe.repr.seq == h.local_seq - 1);
  CHECK(!probe.repr.has(flags::kFin));
  h.expect_nothing_sent();
  h.peer_ack(h.local_seq, 1000);  // the window opens: the FIN goes
  h.expect_sent(fin_from(h));
  h.expect_nothing_sent();
  CHECK(h.state() == State::kFinWait1);
}

TEST_CASE("ACK of our FIN moves FIN-WAIT-1 to FIN-WAIT-2", "[tcp][fin-wait-1]") {
  Harness h;
  h.fin_wait_1();
  h.peer_ack(h.local_seq);
  CHECK(h.state() == State::kFinWait2);
  h.expect_nothing_sent();
  CHECK(h.conn->next_deadline() == kNever);  // not orphaned: waits for the peer's FIN
}

TEST_CASE("FIN together with the ACK of ours goes straight to TIME-WAIT", "[tcp][fin-wait-1]") {
  Harness h;
  h.fin_wait_1();
  h.peer_send({}, flags::kFin);
  CHECK(h.state() == State::kTimeWait);
  h.full_window -= 1;  // the FIN took a sequence number; the right edge does not move
  h.expect_sent(h.out());
  h.expect_nothing_sent();
}

TEST_CASE("data still arrives in FIN-WAIT-1 after a half-close", "[tcp][fin-wait-1][half-close]") {
  Harness h;
  h.fin_wait_1();
  h.peer_send(bytes("more"));
  CHECK(h.app_recv_all() == "more");
}

TEST_CASE("the FIN is retransmitted by the RTO", "[tcp][fin-wait-1][rto]") {
  Harness h;
  // The handshake measured an RTT of 0, so the RTO sits at its floor; a 1 s floor
  // keeps the backoff arithmetic below readable.
  h.cfg.min_rto = 1s;
  h.fin_wait_1();
  h.advance(1s);
  wire::TcpRepr f = fin_from(h);
  f.seq = h.local_seq - 1;
  h.expect_sent(f);
  h.expect_nothing_sent();
}

// ===================== FIN-WAIT-2 =====================

TEST_CASE("FIN in FIN-WAIT-2 is acknowledged and enters TIME-WAIT", "[tcp][fin-wait-2]") {
  Harness h;
  h.fin_wait_2();
  h.peer_send(bytes("tail"), flags::kFin);
  CHECK(h.state() == State::kTimeWait);
  h.expect_sent([&] { wire::TcpRepr a = h.out(); a.window = 65535 - 5; return a; }());
  h.expect_nothing_sent();
  CHECK(h.app_recv_all() == "tail");
  std::uint8_t b[4];
  CHECK(*h.conn->recv(b, false, h.now) == 0);
}

TEST_CASE("an orphaned FIN-WAIT-2 times out after 60 s", "[tcp][fin-wait-2]") {
  Harness h;
  h.established();
  h.conn->close(h.now);
  h.pop();
  h.local_seq += 1;
  h.peer_ack(h.local_seq);
  CHECK(h.state() == State::kFinWait2);
  h.advance(59s);
  CHECK(h.state() == State::kFinWait2);
  h.advance(1s);
  CHECK(h.state() == State::kClosed);
  h.expect_nothing_sent();
}

TEST_CASE("new data for a closed reader is answered with RST", "[tcp][fin-wait-2]") {
  Harness h;
  h.established();
  h.conn->close(h.now);
  h.pop();
  h.local_seq += 1;
  h.peer_ack(h.local_seq);
  h.peer_send(bytes("late"));
  wire::TcpRepr rst = h.out();
  rst.flags = flags::kRst | flags::kAck;
  rst.ack = h.remote_seq - 4;
  rst.window = 0;
  h.expect_sent(rst);
  CHECK(h.state() == State::kClosed);
}

// ===================== CLOSE-WAIT / LAST-ACK =====================

TEST_CASE("FIN in ESTABLISHED is acknowledged at once: CLOSE-WAIT, EOF", "[tcp][close-wait]") {
  Harness h;
  h.established();
  h.peer_send(bytes("last"), flags::kFin);
  CHECK(h.state() == State::kCloseWait);
  wire::TcpRepr a = h.out();
  a.window = 65535 - 5;
  h.expect_sent(a);
  h.expect_nothing_sent();
  const std::uint32_t ev = h.conn->take_events();
  CHECK((ev & events::kReadHangup) != 0);
  CHECK((ev & events::kHangup) == 0);
  CHECK(h.app_recv_all() == "last");
  std::uint8_t b[4];
  CHECK(*h.conn->recv(b, false, h.now) == 0);
}

TEST_CASE("send() still works in CLOSE-WAIT (half-close by the peer)", "[tcp][close-wait][half-close]") {
  Harness h;
  h.close_wait();
  h.app_send(bytes("reply"));
  wire::TcpRepr d = h.out();
  d.flags |= flags::kPsh;
  h.expect_sent(d, bytes("reply"));
}

TEST_CASE("close() in CLOSE-WAIT sends FIN: LAST-ACK, then CLOSED on its ACK",
          "[tcp][close-wait][last-ack]") {
  Harness h;
  h.last_ack();
  h.peer_ack(h.local_seq);
  CHECK(h.state() == State::kClosed);
  h.expect_nothing_sent();
  CHECK((h.conn->take_events() & events::kClosed) != 0);
  CHECK(h.conn->take_error() == 0);
}

TEST_CASE("LAST-ACK retransmits its FIN", "[tcp][last-ack][rto]") {
  Harness h;
  h.last_ack();
  h.advance(1s);
  wire::TcpRepr f = fin_from(h);
  f.seq = h.local_seq - 1;
  h.expect_sent(f);
}

// ===================== CLOSING (simultaneous close) =====================

TEST_CASE("simultaneous close: CLOSING, then TIME-WAIT on the ACK of our FIN",
          "[tcp][closing][simultaneous]") {
  Harness h;
  h.closing();
  h.peer_ack(h.local_seq);
  CHECK(h.state() == State::kTimeWait);
  h.expect_nothing_sent();
}

// ===================== TIME-WAIT =====================

TEST_CASE("TIME-WAIT lasts 2*MSL, then CLOSED", "[tcp][time-wait]") {
  Harness h;
  h.time_wait();
  h.advance(2 * h.cfg.msl - 1us);
  CHECK(h.state() == State::kTimeWait);
  h.advance(1us);
  CHECK(h.state() == State::kClosed);
  CHECK((h.conn->take_events() & events::kClosed) != 0);
  h.expect_nothing_sent();
}

TEST_CASE("a retransmitted FIN in TIME-WAIT is acknowledged and restarts 2*MSL",
          "[tcp][time-wait]") {
  Harness h;
  h.time_wait();
  h.advance(h.cfg.msl);
  wire::TcpRepr fin = h.seg();
  fin.seq = h.remote_seq - 1;
  fin.flags |= flags::kFin;
  h.inject(fin);
  h.expect_sent(h.out());
  h.advance(2 * h.cfg.msl - 1us);
  CHECK(h.state() == State::kTimeWait);
  h.advance(1us);
  CHECK(h.state() == State::kClosed);
}

TEST_CASE("TIME-WAIT accepts a SYN with a higher sequence number (RFC 1122)",
          "[tcp][time-wait]") {
  Harness h;
  h.time_wait();
  wire::TcpRepr syn = h.seg();
  syn.flags = flags::kSyn;
  syn.seq = h.remote_seq + 100000;
  CHECK(h.conn->time_wait_accepts_syn(syn));
  syn.seq = h.remote_seq - 10;
  CHECK_FALSE(h.conn->time_wait_accepts_syn(syn));
  CHECK(h.conn->snd_nxt() == h.local_seq);
}

TEST_CASE("TIME-WAIT with timestamps accepts a SYN by TSval (RFC 6191)", "[tcp][time-wait]") {
  Harness h;
  h.peer.timestamps = true;
  h.time_wait();
  wire::TcpRepr syn = h.seg();
  syn.flags = flags::kSyn;
  syn.seq = h.remote_seq - 10;  // a lower ISN is fine when the TSval is newer
  syn.options.timestamps = wire::TcpTimestamps{h.peer_tsval + 1, 0};
  CHECK(h.conn->time_wait_accepts_syn(syn));
  syn.options.timestamps = wire::TcpTimestamps{h.peer_tsval, 0};
  CHECK_FALSE(h.conn->time_wait_accepts_syn(syn));
  syn.options.timestamps = wire::TcpTimestamps{h.peer_tsval - 1, 0};
  CHECK_FALSE(h.conn->time_wait_accepts_syn(syn));
}

TEST_CASE("TIME-WAIT: a SYN within the same timestamp tick needs a higher sequence number",
          "[tcp][time-wait]") {
  Harness h;
  h.peer.timestamps = true;
  h.time_wait();
  wire::TcpRepr syn = h.seg();
  syn.flags = flags::kSyn;
  syn.options.timestamps = wire::TcpTimestamps{h.peer_tsval, 0};
  syn.seq = h.remote_seq + 100000;
  CHECK(h.conn->time_wait_accepts_syn(syn));
  syn.seq = h.remote_seq - 10;
  CHECK_FALSE(h.conn->time_wait_accepts_syn(syn));
  // An older TSval fails PAWS (RFC 7323 §5.3) whatever the sequence number.
  syn.seq = h.remote_seq + 100000;
  syn.options.timestamps = wire::TcpTimestamps{h.peer_tsval - 1, 0};
  CHECK_FALSE(h.conn->time_wait_accepts_syn(syn));
}

TEST_CASE("a connection not in TIME-WAIT never accepts a SYN for its tuple", "[tcp][time-wait]") {
  Harness h;
  h.established();
  wire::TcpRepr syn = h.seg();
  syn.flags = flags::kSyn;
  syn.seq = h.remote_seq + 100000;
  CHECK_FALSE(h.conn->time_wait_accepts_syn(syn));
}

// ===================== abortive close =====================

TEST_CASE("close() with unread data sends RST instead of FIN", "[tcp][close][rst]") {
  Harness h;
  h.established();
  h.peer_send(bytes("unread"));
  h.conn->close(h.now);
  wire::TcpRepr rst = h.out();
  rst.flags = flags::kRst | flags::kAck;
  rst.window = 0;
  h.expect_sent(rst);
  h.expect_nothing_sent();
  CHECK(h.state() == State::kClosed);
  CHECK(h.counters.resets_out == 1);
}

TEST_CASE("close() with SO_LINGER 0 sends RST", "[tcp][close][rst]") {
  Harness h;
  h.opts.linger = true;
  h.established();
  h.conn->close(h.now);
  CHECK(h.pop().repr.flags == (flags::kRst | flags::kAck));
  CHECK(h.state() == State::kClosed);
}

TEST_CASE("close() without unread data sends FIN", "[tcp][close]") {
  Harness h;
  h.established();
  h.conn->close(h.now);
  h.expect_sent(fin_from(h));
  CHECK(h.state() == State::kFinWait1);
}

TEST_CASE("close() in SYN-SENT closes silently", "[tcp][close]") {
  Harness h;
  h.syn_sent();
  h.conn->close(h.now);
  CHECK(h.state() == State::kClosed);
  h.expect_nothing_sent();
}

TEST_CASE("abort() sends RST and closes", "[tcp][close][rst]") {
  Harness h;
  h.established();
  h.conn->abort(h.now);
  CHECK(h.pop().repr.flags == (flags::kRst | flags::kAck));
  CHECK(h.state() == State::kClosed);
  CHECK(h.conn->next_deadline() == kNever);
}

// ===================== errno per state =====================

TEST_CASE("send() errno: EAGAIN connecting, EPIPE after shutdown", "[tcp][errno]") {
  Harness h;
  h.syn_sent();
  CHECK(h.conn->send(bytes("x"), false, h.now).err() == EAGAIN);
  std::uint8_t b[4];
  CHECK(h.conn->recv(b, false, h.now).err() == EAGAIN);
  Harness g;
  g.fin_wait_1();
  CHECK(g.conn->send(bytes("x"), false, g.now).err() == EPIPE);
}

TEST_CASE("send()/recv() after a reset: ECONNRESET once, then EPIPE and EOF",
          "[tcp][errno][rst]") {
  Harness h;
  h.established();
  wire::TcpRepr rst = h.seg();
  rst.flags = flags::kRst;
  h.inject(rst);
  CHECK(h.state() == State::kClosed);
  std::uint8_t b[4];
  CHECK(h.conn->recv(b, false, h.now).err() == ECONNRESET);
  CHECK(*h.conn->recv(b, false, h.now) == 0);
  CHECK(h.conn->send(bytes("x"), false, h.now).err() == EPIPE);
  Harness g;
  g.established();
  g.inject(rst);
  CHECK(g.conn->send(bytes("x"), false, g.now).err() == ECONNRESET);
  CHECK(g.conn->send(bytes("x"), false, g.now).err() == EPIPE);
}

TEST_CASE("a reset in CLOSE-WAIT reports EPIPE to send() (Linux)", "[tcp][errno][rst]") {
  Harness h;
  h.close_wait();
  wire::TcpRepr rst = h.seg();
  rst.flags = flags::kRst;
  h.inject(rst);
  std::uint8_t b[4];
  CHECK(*h.conn->recv(b, false, h.now) == 0);  // EOF was seen before the reset
  CHECK(h.conn->send(bytes("x"), false, h.now).err() == EPIPE);
  CHECK(h.conn->take_error() == 0);
}

TEST_CASE("shutdown() on a closed connection is ENOTCONN", "[tcp][errno]") {
  Harness h;
  h.established();
  h.conn->abort(h.now);
  CHECK(h.conn->shutdown(true, true, h.now) == ENOTCONN);
}

TEST_CASE("shutdown(SHUT_RD) makes recv() return 0", "[tcp][errno][half-close]") {
  Harness h;
  h.established();
  REQUIRE(h.conn->shutdown(true, false, h.now) == 0);
  std::uint8_t b[4];
  CHECK(*h.conn->recv(b, false, h.now) == 0);
  CHECK(h.state() == State::kEstablished);
}

TEST_CASE("both directions closed raises kHangup", "[tcp][half-close]") {
  Harness h;
  h.close_wait();
  REQUIRE(h.conn->shutdown(false, true, h.now) == 0);
  CHECK((h.conn->take_events() & events::kHangup) != 0);
}

}  // namespace utcp::stack::tcp::test
