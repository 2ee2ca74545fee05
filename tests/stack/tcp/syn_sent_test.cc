// SYN-SENT (RFC 9293 §3.10.7.3): the active open, the SYN's options, the answers to
// a SYN-ACK, a bare SYN (simultaneous open), RSTs and bad ACKs, SYN retransmission.
#include "tests/stack/tcp/harness.h"

namespace utcp::stack::tcp::test {

// ===================== SYN-SENT =====================

TEST_CASE("connect sends a SYN offering every configured option", "[tcp][syn-sent]") {
  Harness h;
  h.ts_offset = h.local_iss.raw() * 0x9e3779b1u;
  h.conn = Connection::connect(h.ctx, h.opts, h.tuple, h.initial(), h.now);
  wire::TcpRepr syn = h.out();
  syn.seq = h.local_iss;
  syn.ack = SeqNum(0);
  syn.flags = flags::kSyn;
  syn.window = 65535;
  syn.options.mss = 1460;
  syn.options.window_scale = 0;
  syn.options.sack_permitted = true;
  syn.options.timestamps = wire::TcpTimestamps{h.our_tsval(), 0};
  h.expect_sent(syn);
  h.expect_nothing_sent();
  CHECK(h.state() == State::kSynSent);
  CHECK(h.counters.active_opens == 1);
}

TEST_CASE("connect without options configured sends only MSS", "[tcp][syn-sent]") {
  Harness h;
  h.cfg.window_scaling = false;
  h.cfg.sack = false;
  h.cfg.timestamps = false;
  h.conn = Connection::connect(h.ctx, h.opts, h.tuple, h.initial(), h.now);
  const Sent s = h.pop();
  CHECK(s.repr.options.mss == std::optional<std::uint16_t>(1460));
  CHECK_FALSE(s.repr.options.window_scale);
  CHECK_FALSE(s.repr.options.sack_permitted);
  CHECK_FALSE(s.repr.options.timestamps);
}

TEST_CASE("SYN-ACK completes the handshake with an ACK", "[tcp][syn-sent]") {
  Harness h;
  h.syn_sent();
  wire::TcpRepr sa = h.seg();
  sa.flags = flags::kSyn | flags::kAck;
  sa.options.mss = 1460;
  h.inject(sa);
  h.remote_seq = h.remote_iss + 1;
  CHECK(h.state() == State::kEstablished);
  h.expect_sent(h.out());
  h.expect_nothing_sent();
  const std::uint32_t ev = h.conn->take_events();
  CHECK((ev & events::kConnected) != 0);
  CHECK((ev & events::kWritable) != 0);
  CHECK(h.counters.established == 1);
  CHECK(h.conn->info().snd_mss == 1460);
}

TEST_CASE("SYN-ACK carrying data delivers it", "[tcp][syn-sent]") {
  Harness h;
  h.syn_sent();
  wire::TcpRepr sa = h.seg();
  sa.flags = flags::kSyn | flags::kAck;
  h.inject(sa, bytes("early"));
  h.remote_seq = h.remote_iss + 1 + 5;
  CHECK(h.state() == State::kEstablished);
  wire::TcpRepr ack = h.out();
  ack.window = 65535 - 5;
  h.expect_sent(ack);
  h.expect_nothing_sent();
  CHECK(h.app_recv_all() == "early");
}

TEST_CASE("SYN-ACK with an unacceptable ACK is answered with a RST", "[tcp][syn-sent]") {
  Harness h;
  h.syn_sent();
  wire::TcpRepr sa = h.seg();
  sa.flags = flags::kSyn | flags::kAck;
  sa.ack = h.local_iss + 7;
  h.inject(sa);
  wire::TcpRepr rst;
  rst.src_port = h.tuple.local.port;
  rst.dst_port = h.tuple.remote.port;
  rst.seq = h.local_iss + 7;
  rst.flags = flags::kRst;
  h.expect_sent(rst);
  h.expect_nothing_sent();
  CHECK(h.state() == State::kSynSent);
}

TEST_CASE("RST acknowledging the SYN refuses the connection", "[tcp][syn-sent]") {
  Harness h;
  h.syn_sent();
  wire::TcpRepr rst = h.seg();
  rst.flags = flags::kRst | flags::kAck;
  h.inject(rst);
  CHECK(h.state() == State::kClosed);
  h.expect_nothing_sent();
  const std::uint32_t ev = h.conn->take_events();
  CHECK((ev & events::kError) != 0);
  CHECK((ev & events::kClosed) != 0);
  CHECK(h.conn->take_error() == ECONNREFUSED);
  CHECK(h.counters.attempt_fails == 1);
}

TEST_CASE("RST without ACK in SYN-SENT is ignored", "[tcp][syn-sent]") {
  Harness h;
  h.syn_sent();
  wire::TcpRepr rst = h.seg();
  rst.flags = flags::kRst;
  h.inject(rst);
  CHECK(h.state() == State::kSynSent);
  h.expect_nothing_sent();
}

TEST_CASE("RST with a wrong ACK in SYN-SENT is ignored", "[tcp][syn-sent]") {
  Harness h;
  h.syn_sent();
  wire::TcpRepr rst = h.seg();
  rst.flags = flags::kRst | flags::kAck;
  rst.ack = h.local_iss + 100;
  h.inject(rst);
  CHECK(h.state() == State::kSynSent);
  h.expect_nothing_sent();
}

TEST_CASE("a segment without SYN or RST in SYN-SENT is dropped", "[tcp][syn-sent]") {
  Harness h;
  h.syn_sent();
  h.inject(h.seg(), bytes("x"));
  CHECK(h.state() == State::kSynSent);
  h.expect_nothing_sent();
}

TEST_CASE("simultaneous open: SYN in SYN-SENT answers SYN-ACK, then ESTABLISHED",
          "[tcp][syn-sent][simultaneous]") {
  Harness h;
  h.cfg.timestamps = false;
  h.syn_sent();
  wire::TcpRepr syn = h.seg();
  syn.flags = flags::kSyn;
  syn.ack = SeqNum(0);
  syn.options.mss = 1200;
  syn.options.sack_permitted = true;
  h.inject(syn);
  h.remote_seq = h.remote_iss + 1;
  CHECK(h.state() == State::kSynReceived);
  wire::TcpRepr sa = h.out();
  sa.seq = h.local_iss;
  sa.flags = flags::kSyn | flags::kAck;
  sa.options.mss = 1460;
  sa.options.sack_permitted = true;
  h.expect_sent(sa);
  h.expect_nothing_sent();
  wire::TcpRepr their_sa = h.seg();
  their_sa.seq = h.remote_iss;
  their_sa.flags = flags::kSyn | flags::kAck;
  h.inject(their_sa);
  // Their SYN-ACK repeats the SYN we already have and acknowledges ours.
  CHECK(h.state() == State::kEstablished);
  h.expect_nothing_sent();
  CHECK(h.conn->info().snd_mss == 1200);
  CHECK(h.conn->info().sack);
}

TEST_CASE("SYN is retransmitted with exponential backoff", "[tcp][syn-sent][rto]") {
  Harness h;
  h.syn_sent();
  const Instant start = h.now;
  h.advance(999ms);
  h.expect_nothing_sent();
  h.advance(1ms);
  CHECK(h.pop().repr.flags == flags::kSyn);
  CHECK(h.now - start == 1s);
  h.advance(1999ms);
  h.expect_nothing_sent();
  h.advance(1ms);
  CHECK(h.pop().repr.flags == flags::kSyn);
  CHECK(h.counters.retransmits == 2);
}

TEST_CASE("connect gives up after syn_retries with ETIMEDOUT", "[tcp][syn-sent][rto]") {
  Harness h;
  h.cfg.syn_retries = 3;
  h.syn_sent();
  h.advance(1s + 2s + 4s);
  CHECK(h.sent_count() == 3);
  h.drop_sent();
  CHECK(h.state() == State::kSynSent);
  h.advance(8s);
  CHECK(h.state() == State::kClosed);
  h.expect_nothing_sent();
  CHECK(h.conn->take_error() == ETIMEDOUT);
  CHECK(h.conn->next_deadline() == kNever);
}

TEST_CASE("ICMP port unreachable aborts connect with ECONNREFUSED", "[tcp][syn-sent][icmp]") {
  Harness h;
  h.syn_sent();
  h.conn->on_icmp_unreachable(h.local_iss, 3, 0, h.now);
  CHECK(h.state() == State::kClosed);
  CHECK(h.conn->take_error() == ECONNREFUSED);
  CHECK(h.counters.icmp_unreachable == 1);
}

TEST_CASE("ICMP host unreachable in SYN-SENT is a soft error reported on timeout",
          "[tcp][syn-sent][icmp]") {
  Harness h;
  h.cfg.syn_retries = 1;
  h.syn_sent();
  h.conn->on_icmp_unreachable(h.local_iss, 1, 0, h.now);
  CHECK(h.state() == State::kSynSent);
  h.advance(3s);
  CHECK(h.state() == State::kClosed);
  CHECK(h.conn->take_error() == EHOSTUNREACH);
}

TEST_CASE("ICMP quoting a sequence number outside SND.UNA..SND.NXT is ignored",
          "[tcp][syn-sent][icmp]") {
  Harness h;
  h.syn_sent();
  h.conn->on_icmp_unreachable(h.local_iss + 1, 3, 0, h.now);
  CHECK(h.state() == State::kSynSent);
  CHECK(h.counters.icmp_rejected == 1);
  CHECK(h.counters.icmp_unreachable == 0);
}

}  // namespace utcp::stack::tcp::test
