// SYN-RECEIVED (RFC 9293 §3.10.7.4 with the SYN-RECEIVED rules of the fifth step):
// passive open, SYN-ACK retransmission and give-up, RST, bad ACK, SYN cookies.
#include "tests/stack/tcp/harness.h"

namespace utcp::stack::tcp::test {

// ===================== SYN-RECEIVED =====================

TEST_CASE("accept_syn answers with the SYN-ACK build_syn_ack() would build",
          "[tcp][syn-received]") {
  Harness h;
  h.peer.window_scale = 7;
  h.peer.sack = true;
  h.peer.timestamps = true;
  h.ts_offset = h.local_iss.raw() * 0x9e3779b1u;
  wire::TcpRepr syn = h.seg();
  syn.seq = h.remote_iss;
  syn.ack = SeqNum(0);
  syn.flags = flags::kSyn;
  syn.options.mss = 1400;
  syn.options.window_scale = 7;
  syn.options.sack_permitted = true;
  syn.options.timestamps = wire::TcpTimestamps{777, 0};
  h.conn = Connection::accept_syn(h.ctx, h.opts, h.tuple, syn, h.initial(), h.now);
  const wire::TcpRepr expected = build_syn_ack(h.cfg, h.opts, syn, h.local_iss, h.our_tsval());
  h.expect_sent(expected);
  h.expect_nothing_sent();
  CHECK(expected.ack == h.remote_iss + 1);
  CHECK(expected.options.window_scale == std::optional<std::uint8_t>(0));
  CHECK(h.state() == State::kSynReceived);
  CHECK(h.counters.passive_opens == 1);
}

TEST_CASE("the final ACK establishes the connection", "[tcp][syn-received]") {
  Harness h;
  h.syn_received();
  h.inject(h.seg());
  CHECK(h.state() == State::kEstablished);
  h.expect_nothing_sent();
  CHECK((h.conn->take_events() & events::kConnected) != 0);
}

TEST_CASE("the final ACK may carry data", "[tcp][syn-received]") {
  Harness h;
  h.syn_received();
  h.peer_send(bytes("GET /"));
  CHECK(h.state() == State::kEstablished);
  CHECK(h.app_recv_all() == "GET /");
  h.expect_nothing_sent();  // a delayed ACK is pending
  h.advance(h.cfg.delayed_ack);
  // Reading 5 bytes does not move the right edge (receiver SWS avoidance).
  wire::TcpRepr ack = h.out();
  ack.window = 65535 - 5;
  h.expect_sent(ack);
}

TEST_CASE("an ACK for something other than our SYN is answered with a RST",
          "[tcp][syn-received]") {
  Harness h;
  h.syn_received();
  wire::TcpRepr bad = h.seg();
  bad.ack = h.local_iss + 1000;
  h.inject(bad);
  wire::TcpRepr rst;
  rst.src_port = h.tuple.local.port;
  rst.dst_port = h.tuple.remote.port;
  rst.seq = h.local_iss + 1000;
  rst.flags = flags::kRst;
  h.expect_sent(rst);
  h.expect_nothing_sent();
  CHECK(h.state() == State::kSynReceived);
}

TEST_CASE("a retransmitted SYN gets the SYN-ACK again", "[tcp][syn-received]") {
  Harness h;
  h.syn_received();
  wire::TcpRepr syn = h.seg();
  syn.seq = h.remote_iss;
  syn.ack = SeqNum(0);
  syn.flags = flags::kSyn;
  h.inject(syn);
  const Sent s = h.pop();
  CHECK(s.repr.flags == (flags::kSyn | flags::kAck));
  CHECK(s.repr.seq == h.local_iss);
  CHECK(s.repr.ack == h.remote_iss + 1);
  h.expect_nothing_sent();
}

TEST_CASE("RST in SYN-RECEIVED closes a passive open without an error",
          "[tcp][syn-received]") {
  Harness h;
  h.syn_received();
  wire::TcpRepr rst = h.seg();
  rst.flags = flags::kRst;
  h.inject(rst);
  CHECK(h.state() == State::kClosed);
  CHECK(h.conn->take_error() == 0);
  CHECK((h.conn->take_events() & events::kClosed) != 0);
}

TEST_CASE("SYN-ACK is retransmitted, then the attempt gives up", "[tcp][syn-received][rto]") {
  Harness h;
  h.cfg.synack_retries = 2;
  h.syn_received();
  h.advance(1s);
  CHECK(h.pop().repr.flags == (flags::kSyn | flags::kAck));
  h.advance(2s);
  CHECK(h.pop().repr.flags == (flags::kSyn | flags::kAck));
  h.advance(4s);
  h.expect_nothing_sent();
  CHECK(h.state() == State::kClosed);
  CHECK(h.counters.attempt_fails == 1);
}

// ===================== SYN cookies =====================

TEST_CASE("from_cookie builds an ESTABLISHED connection with the cookie's options",
          "[tcp][syn-received][cookie]") {
  Harness h;
  h.remote_seq = h.remote_iss + 1;
  h.local_seq = h.local_iss + 1;
  h.ts_on = true;
  h.last_tsval_seen = timestamp_clock(h.now) - 3;  // the cookie SYN-ACK's TSval
  CookieOptions peer;
  peer.mss = 1440;
  peer.sack_permitted = true;
  peer.peer_window_scale = 5;
  peer.timestamps = true;
  const wire::TcpRepr ack = h.seg();
  h.conn = Connection::from_cookie(h.ctx, h.opts, h.tuple, ack, bytes("hello"), h.initial(),
                                   peer, h.now);
  h.remote_seq += 5;
  CHECK(h.state() == State::kEstablished);
  const TcpInfo i = h.conn->info();
  CHECK(i.snd_mss == 1440 - 12);
  CHECK(i.sack);
  CHECK(i.timestamps);
  CHECK(i.snd_wscale == 5);
  CHECK(i.snd_wnd == 65535u << 5);
  CHECK(h.app_recv_all() == "hello");
  // Our TSvals continue from the clock the cookie used (offset 0), never behind it.
  h.advance(h.cfg.delayed_ack);
  const Sent s = h.pop();
  REQUIRE(s.repr.options.timestamps);
  CHECK(s.repr.options.timestamps->tsval == timestamp_clock(h.now));
  CHECK(s.repr.options.timestamps->tsecr == h.peer_tsval);
}

}  // namespace utcp::stack::tcp::test
