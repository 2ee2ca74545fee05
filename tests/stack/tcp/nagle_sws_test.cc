// Small segments: Nagle (RFC 1122 §4.2.3.4), TCP_NODELAY, TCP_CORK, MSG_MORE, and
// receiver silly-window avoidance (RFC 9293 §3.8.6.2.2).
#include "tests/stack/tcp/harness.h"

namespace utcp::stack::tcp::test {

// ===================== Nagle =====================

TEST_CASE("Nagle holds a small segment while data is unacknowledged", "[tcp][nagle]") {
  Harness h;
  h.established();
  h.app_send(bytes("a"));
  h.pop();
  h.app_send(bytes("b"));
  h.app_send(bytes("c"));
  h.expect_nothing_sent();
  h.peer_ack(h.local_seq + 1);
  const Sent s = h.pop();
  CHECK(s.repr.seq == h.local_seq);
  CHECK(s.payload == bytes("bc"));
  h.expect_nothing_sent();
}

TEST_CASE("TCP_NODELAY sends small segments at once", "[tcp][nagle]") {
  Harness h;
  h.opts.nodelay = true;
  h.established();
  h.app_send(bytes("a"));
  h.app_send(bytes("b"));
  CHECK(h.pop().payload == bytes("a"));
  CHECK(h.pop().payload == bytes("b"));
  h.expect_nothing_sent();
}

TEST_CASE("setting TCP_NODELAY flushes what Nagle held", "[tcp][nagle]") {
  Harness h;
  h.established();
  h.app_send(bytes("a"));
  h.pop();
  h.app_send(bytes("b"));
  h.expect_nothing_sent();
  SocketOptions o = h.conn->options();
  o.nodelay = true;
  REQUIRE(h.conn->set_options(o, h.now) == 0);
  CHECK(h.pop().payload == bytes("b"));
}

// ===================== cork / MSG_MORE =====================

TEST_CASE("TCP_CORK sends only full segments until uncorked", "[tcp][cork]") {
  Harness h;
  h.opts.cork = true;
  h.established();
  h.app_send(pattern(1000));
  h.expect_nothing_sent();
  h.app_send(pattern(1000));
  CHECK(h.pop().payload.size() == 1460);
  h.expect_nothing_sent();
  SocketOptions o = h.conn->options();
  o.cork = false;
  o.nodelay = true;
  REQUIRE(h.conn->set_options(o, h.now) == 0);
  CHECK(h.pop().payload.size() == 540);
  h.expect_nothing_sent();
}

TEST_CASE("MSG_MORE holds a partial segment until a send without it", "[tcp][cork]") {
  Harness h;
  h.established();
  h.app_send(bytes("HTTP/1.1 200 OK\r\n"), /*more=*/true);
  h.expect_nothing_sent();
  h.app_send(bytes("\r\n"), /*more=*/false);
  CHECK(h.pop().payload == bytes("HTTP/1.1 200 OK\r\n\r\n"));
}

TEST_CASE("close() pushes corked data out with the FIN", "[tcp][cork]") {
  Harness h;
  h.opts.cork = true;
  h.established();
  h.app_send(bytes("tail"));
  h.expect_nothing_sent();
  h.conn->close(h.now);
  const Sent s = h.pop();
  CHECK(s.payload == bytes("tail"));
  CHECK(s.repr.flags == (flags::kAck | flags::kFin | flags::kPsh));
}

// ===================== receiver SWS =====================

TEST_CASE("reading a little from a full buffer sends no window update", "[tcp][sws]") {
  Harness h;
  h.cfg.default_rcvbuf = 4000;
  h.full_window = 4000;
  h.established();
  h.peer_send(pattern(1460));
  h.peer_send(pattern(1460));
  h.pop();
  h.peer_send(pattern(1080));  // the window is now full
  h.advance(h.cfg.delayed_ack);
  CHECK(h.pop().repr.window == 0);
  std::uint8_t buf[100];
  REQUIRE(*h.conn->recv(buf, false, h.now) == 100);
  h.expect_nothing_sent();  // a 100-byte window would be silly
  std::uint8_t big[2000];
  REQUIRE(*h.conn->recv(big, false, h.now) == 2000);
  // 2100 bytes free >= min(half the buffer, MSS): the edge moves, the peer is told.
  wire::TcpRepr upd = h.out();
  upd.window = 2100;
  h.expect_sent(upd);
  h.expect_nothing_sent();
}

TEST_CASE("the advertised right edge never moves left", "[tcp][sws]") {
  Harness h;
  h.cfg.default_rcvbuf = 4000;
  h.full_window = 4000;
  h.established();
  SeqNum edge = h.remote_seq + 4000;
  for (int i = 0; i < 20; ++i) {
    h.peer_send(pattern(150));
    std::uint8_t buf[130];
    (void)h.conn->recv(buf, false, h.now);
    h.advance(h.cfg.delayed_ack);
    while (h.sent_count() > 0) {
      const Sent s = h.pop();
      const SeqNum e = s.repr.ack + s.repr.window;
      CHECK(e >= edge);
      edge = e;
    }
  }
}

}  // namespace utcp::stack::tcp::test
