// Socket options that change what a connection sends or when (Linux's behaviour):
// IP_TOS/IP_TTL in every segment, TCP_MAXSEG in the SYN, TCP_USER_TIMEOUT,
// TCP_CORK's and MSG_MORE's 200 ms ceiling, TCP_NODELAY under the cork, TCP_QUICKACK,
// TCP_DEFER_ACCEPT and TCP_CONGESTION on a live connection.
#include "stack/tcp/harness.h"

namespace utcp::stack::tcp::test {
namespace {

// ============================================================ IP_TOS / IP_TTL

TEST_CASE("IP_TOS and IP_TTL are in the SYN and every later segment", "[tcp][options]") {
  Harness h;
  h.opts.tos = 0x10;
  h.opts.ttl = 33;
  h.syn_sent();
  // syn_sent() popped the SYN: look at it again through a retransmission.
  h.fire_next_timer();
  const Sent syn = h.pop();
  CHECK(syn.repr.flags == flags::kSyn);
  CHECK(syn.ip.tos == 0x10);
  CHECK(syn.ip.ttl == 33);
}

TEST_CASE("IP_TOS set on a live connection applies to data, ACKs and RSTs", "[tcp][options]") {
  Harness h;
  h.established();
  h.app_send(bytes("a"));
  CHECK(h.pop().ip.tos == 0);  // the default
  SocketOptions o = h.conn->options();
  o.tos = 0xb8;
  o.ttl = 7;
  REQUIRE(h.conn->set_options(o, h.now) == 0);
  h.app_send(bytes("b"));  // Nagle: "a" is unacknowledged, so "b" waits
  h.peer_ack(h.local_seq + 1);
  const Sent data = h.pop();
  CHECK(data.payload == bytes("b"));
  CHECK(data.ip.tos == 0xb8);
  CHECK(data.ip.ttl == 7);
  h.conn->abort(h.now);
  const Sent rst = h.pop();
  CHECK(rst.repr.has(flags::kRst));
  CHECK(rst.ip.ttl == 7);
}

// ============================================================ TCP_MAXSEG

TEST_CASE("TCP_MAXSEG before connect clamps the SYN's MSS and the MSS in use",
          "[tcp][options][mss]") {
  Harness h;
  h.opts.user_mss = 1000;
  h.syn_sent();
  h.fire_next_timer();
  CHECK(h.pop().repr.options.mss == 1000);
  Harness a;
  a.opts.user_mss = 1000;
  a.established_active();
  CHECK(a.conn->info().snd_mss == 1000);  // the peer offered 1460
  a.app_send(pattern(3000));
  CHECK(a.pop().payload.size() == 1000);
}

// ============================================================ TCP_USER_TIMEOUT

TEST_CASE("TCP_USER_TIMEOUT aborts with ETIMEDOUT once data stays unacknowledged that long",
          "[tcp][options][rto]") {
  Harness h;
  h.cfg.min_rto = 1s;
  h.opts.user_timeout = 5s;
  h.established();
  h.app_send(bytes("abc"));
  h.pop();
  h.advance(1s + 2s);  // two retransmissions; the next backoff (4 s) would pass 5 s
  CHECK(h.sent_count() == 2);
  h.drop_sent();
  CHECK(h.state() == State::kEstablished);
  // The timer is clamped to the user timeout: it ends the connection at 5 s, not 7 s.
  h.advance(2s);
  CHECK(h.state() == State::kClosed);
  CHECK(h.pop().repr.flags == (flags::kRst | flags::kAck));
  CHECK(h.conn->take_error() == ETIMEDOUT);
}

TEST_CASE("TCP_USER_TIMEOUT counts from the oldest unacknowledged data, not the first",
          "[tcp][options][rto]") {
  Harness h;
  h.cfg.min_rto = 1s;
  h.opts.user_timeout = 3s;
  h.established();
  h.app_send(bytes("a"));
  h.pop();
  h.advance(800ms);
  h.peer_ack(h.local_seq + 1);  // progress: the clock starts again with the next data
  h.app_send(bytes("b"));
  h.pop();
  h.advance(2500ms);
  CHECK(h.state() == State::kEstablished);
  h.advance(600ms);
  CHECK(h.state() == State::kClosed);
  CHECK(h.conn->take_error() == ETIMEDOUT);
}

TEST_CASE("TCP_USER_TIMEOUT ends a zero window held that long, even with every probe answered",
          "[tcp][options][persist]") {
  Harness h;
  h.cfg.min_rto = 1s;
  h.opts.user_timeout = 5s;
  h.established();
  h.peer_ack(h.local_seq, 0);
  h.app_send(pattern(100));
  Instant first_probe = kNever;
  const Instant end = h.now + 1min;
  while (h.state() != State::kClosed && h.now < end) {
    h.advance(100ms);
    while (h.sent_count() > 0) {
      if (h.pop().repr.has(flags::kRst)) continue;
      if (first_probe == kNever) first_probe = h.now;
      h.peer_ack(h.local_seq, 0);  // answered: still zero
    }
  }
  REQUIRE(first_probe != kNever);
  CHECK(h.state() == State::kClosed);
  CHECK(h.conn->take_error() == ETIMEDOUT);
  CHECK(h.now - first_probe >= 5s);
  CHECK(h.now - first_probe < 9s);  // the next probe after the 5 s, not max_retransmits
}

TEST_CASE("TCP_USER_TIMEOUT decides when unanswered keepalives end the connection",
          "[tcp][options][keepalive]") {
  Harness h;
  h.opts.keepalive = true;
  h.opts.keepalive_idle = 60s;
  h.opts.keepalive_interval = 10s;
  h.opts.user_timeout = 25s;
  h.established();
  h.advance(60s);
  CHECK(h.pop().repr.flags == flags::kAck);  // the first probe
  CHECK(h.state() == State::kEstablished);
  h.advance(10s);  // 70 s since the peer was heard, a probe out: past the 25 s
  CHECK(h.state() == State::kClosed);
  CHECK(h.pop().repr.flags == (flags::kRst | flags::kAck));
  CHECK(h.conn->take_error() == ETIMEDOUT);
}

// ============================================================ TCP_CORK, MSG_MORE, TCP_NODELAY

TEST_CASE("TCP_CORK holds a partial segment at most 200 ms", "[tcp][options][cork]") {
  Harness h;
  h.opts.cork = true;
  h.established();
  h.app_send(bytes("corked"));
  h.expect_nothing_sent();
  h.advance(199ms);
  h.expect_nothing_sent();
  h.advance(1ms);
  CHECK(h.pop().payload == bytes("corked"));
  h.expect_nothing_sent();
  CHECK(h.conn->options().cork);  // the cork stays on
}

TEST_CASE("MSG_MORE holds data until a send without it, or 200 ms", "[tcp][options][cork]") {
  Harness h;
  h.established();
  h.app_send(bytes("ab"), /*more=*/true);
  h.expect_nothing_sent();
  h.app_send(bytes("cd"));
  CHECK(h.pop().payload == bytes("abcd"));
  h.peer_ack(h.local_seq + 4);
  h.app_send(bytes("ef"), /*more=*/true);
  h.advance(150ms);
  h.expect_nothing_sent();
  h.advance(50ms);
  CHECK(h.pop().payload == bytes("ef"));
}

TEST_CASE("TCP_NODELAY set while corked sends the partial segment once", "[tcp][options][cork]") {
  Harness h;
  h.opts.cork = true;
  h.established();
  h.app_send(bytes("xy"));
  h.expect_nothing_sent();
  SocketOptions o = h.conn->options();
  o.nodelay = true;
  REQUIRE(h.conn->set_options(o, h.now) == 0);
  h.expect_nothing_sent();  // the option alone does not uncork ...
  h.conn->push(Push::kData, h.now);  // ... setting it does (utcpd calls push() then)
  CHECK(h.pop().payload == bytes("xy"));
  h.peer_ack(h.local_seq + 2);
  h.app_send(bytes("z"));  // still corked: held again
  h.expect_nothing_sent();
}

// ============================================================ TCP_QUICKACK

TEST_CASE("TCP_QUICKACK sends a pending delayed ACK at once", "[tcp][options][delack]") {
  Harness h;
  h.established();
  h.peer_send(bytes("hello"));
  h.expect_nothing_sent();  // one small segment: the ACK is delayed
  h.conn->push(Push::kAck, h.now);
  const Sent ack = h.pop();
  CHECK(ack.repr.flags == flags::kAck);
  CHECK(ack.repr.ack == h.remote_seq);
  h.conn->push(Push::kAck, h.now);  // nothing pending: nothing sent
  h.expect_nothing_sent();
}

// ============================================================ TCP_DEFER_ACCEPT

TEST_CASE("TCP_DEFER_ACCEPT holds an established connection until data arrives",
          "[tcp][options][defer]") {
  Harness h;
  h.opts.defer_accept = 7s;
  h.established();
  CHECK(h.conn->deferred());
  h.advance(3s);
  CHECK(h.conn->deferred());
  h.peer_send(bytes("GET"));
  CHECK_FALSE(h.conn->deferred());
}

TEST_CASE("TCP_DEFER_ACCEPT hands the connection over when its time is up, or on a FIN",
          "[tcp][options][defer]") {
  Harness h;
  h.opts.defer_accept = 7s;
  h.established();
  h.advance(6999ms);
  CHECK(h.conn->deferred());
  h.advance(1ms);
  CHECK_FALSE(h.conn->deferred());

  Harness f;
  f.opts.defer_accept = 7s;
  f.established();
  f.peer_send({}, flags::kFin);
  CHECK_FALSE(f.conn->deferred());

  Harness active;  // only listeners defer
  active.opts.defer_accept = 7s;
  active.established_active();
  CHECK_FALSE(active.conn->deferred());
}

// ============================================================ TCP_CONGESTION

TEST_CASE("TCP_CONGESTION switches the algorithm of a live connection", "[tcp][options][cc]") {
  Harness h;
  h.established();
  SocketOptions o = h.conn->options();
  o.congestion = cc::Algorithm::kCubic;  // the harness runs NewReno by default
  REQUIRE(h.conn->set_options(o, h.now) == 0);
  CHECK(h.conn->options().congestion == cc::Algorithm::kCubic);
  // The new algorithm starts from the initial window, as a fresh one would.
  CHECK(h.conn->info().cwnd_bytes == h.cfg.initial_cwnd_segments * h.conn->info().snd_mss);
}

// ============================================================ MSG_EOR

TEST_CASE("MSG_EOR: a record's bytes never share a segment with later bytes",
          "[tcp][options][eor]") {
  Harness h;
  h.opts.cork = true;
  h.established();
  h.app_send(bytes("rec1"));
  h.conn->mark_record_end();
  h.app_send(bytes("rec2"));
  h.app_send(bytes("more"));  // no record end between these two: they may merge
  SocketOptions o = h.conn->options();
  o.cork = false;
  o.nodelay = true;
  REQUIRE(h.conn->set_options(o, h.now) == 0);
  CHECK(h.pop().payload == bytes("rec1"));
  CHECK(h.pop().payload == bytes("rec2more"));
  h.expect_nothing_sent();
}

TEST_CASE("MSG_EOR: a retransmission keeps the record boundary", "[tcp][options][eor][rto]") {
  Harness h;
  h.cfg.min_rto = 1s;
  h.opts.nodelay = true;
  h.established();
  h.app_send(bytes("one"));
  h.conn->mark_record_end();
  h.app_send(bytes("two"));
  h.conn->mark_record_end();
  CHECK(h.pop().payload == bytes("one"));
  CHECK(h.pop().payload == bytes("two"));
  h.advance(1s);  // go back N from SND.UNA: "one" alone, then "two"
  CHECK(h.pop().payload == bytes("one"));
  h.peer_ack(h.local_seq + 3);
  CHECK(h.pop().payload == bytes("two"));
  h.peer_ack(h.local_seq + 3);  // peer_ack() moved local_seq past "one"
  h.expect_nothing_sent();
  h.app_send(bytes("x"));
  h.app_send(bytes("y"));
  CHECK(h.pop().payload == bytes("x"));  // record ends behind SND.UNA are gone
}

TEST_CASE("MSG_EOR: a record shorter than the MSS goes out when later data follows it",
          "[tcp][options][eor]") {
  Harness h;
  h.established();
  h.app_send(bytes("a"));  // Nagle: in flight
  CHECK(h.pop().payload == bytes("a"));
  h.app_send(bytes("bb"));
  h.conn->mark_record_end();
  h.app_send(pattern(3000));
  h.peer_ack(h.local_seq + 1);
  CHECK(h.pop().payload == bytes("bb"));  // cut by its record end, not held by Nagle
  CHECK(h.pop().payload.size() == 1460);
}

// ============================================================ SO_RCVBUF / SO_SNDBUF

// The window the peer sees after `data` bytes arrived and an ACK went out at once.
std::uint32_t window_after(Harness& h, std::size_t data) {
  h.peer_send(pattern(data));
  h.conn->push(Push::kAck, h.now);
  const Sent a = h.pop();
  return static_cast<std::uint32_t>(a.repr.window) << h.conn->info().rcv_wscale;
}

TEST_CASE("SO_RCVBUF lowered on a live connection stops the window from growing",
          "[tcp][options][buffers]") {
  Harness open;
  open.cfg.default_rcvbuf = 256 * 1024;
  open.peer.window_scale = 7;
  open.established();
  CHECK(window_after(open, 1000) > 65535);  // the 256 KiB ring shows after the handshake

  Harness h;
  h.cfg.default_rcvbuf = 256 * 1024;
  h.peer.window_scale = 7;
  h.established();
  SocketOptions o = h.conn->options();
  o.rcvbuf = 4000;
  REQUIRE(h.conn->set_options(o, h.now) == 0);
  // The edge the SYN-ACK offered (65535) never moves left (RFC 9293 §3.8.6.2.2), and
  // it moves right no further than SO_RCVBUF allows.
  const std::uint32_t w = window_after(h, 1000);
  CHECK(w <= 65535 - 1000 + (1u << h.conn->info().rcv_wscale));
  CHECK(w >= 65535 - 1000 - (1u << h.conn->info().rcv_wscale));
}

TEST_CASE("SO_SNDBUF lowered on a live connection bounds the send queue",
          "[tcp][options][buffers]") {
  Harness h;
  h.established();
  SocketOptions o = h.conn->options();
  o.sndbuf = 3000;
  REQUIRE(h.conn->set_options(o, h.now) == 0);
  CHECK(h.conn->send_space() == 3000);
  CHECK(h.app_send(pattern(10000)) == 3000);
  CHECK(h.conn->send_space() == 0);
  o.sndbuf = 0;  // back to the ring's size
  REQUIRE(h.conn->set_options(o, h.now) == 0);
  CHECK(h.conn->send_space() == h.cfg.default_sndbuf - 3000);
}

}  // namespace
}  // namespace utcp::stack::tcp::test
