// The stateless helpers of handshake.h and option negotiation on a connection:
// window scale (RFC 7323 §2), MSS (RFC 9293 §3.7.1), reset_for (§3.10.7.1).
#include "tests/stack/tcp/harness.h"

namespace utcp::stack::tcp::test {

// ===================== helpers =====================

TEST_CASE("receive_window_scale picks the smallest shift covering the buffer",
          "[tcp][handshake]") {
  CHECK(receive_window_scale(65535) == 0);
  CHECK(receive_window_scale(65536) == 1);
  CHECK(receive_window_scale(256 * 1024) == 3);
  CHECK(receive_window_scale(0xffffffffu) == 14);
}

TEST_CASE("advertised_mss follows the MTU and TCP_MAXSEG", "[tcp][handshake]") {
  TcpConfig cfg;
  SocketOptions opts;
  CHECK(advertised_mss(cfg, opts) == 1460);
  cfg.mtu = 9000;
  CHECK(advertised_mss(cfg, opts) == 8960);
  opts.user_mss = 1000;
  CHECK(advertised_mss(cfg, opts) == 1000);
}

TEST_CASE("build_syn_ack offers only what the SYN offered", "[tcp][handshake]") {
  TcpConfig cfg;
  SocketOptions opts;
  wire::TcpRepr syn;
  syn.src_port = 1234;
  syn.dst_port = 80;
  syn.seq = SeqNum(99);
  syn.flags = flags::kSyn;
  const wire::TcpRepr bare = build_syn_ack(cfg, opts, syn, SeqNum(5), 42);
  CHECK(bare.src_port == 80);
  CHECK(bare.dst_port == 1234);
  CHECK(bare.seq == SeqNum(5));
  CHECK(bare.ack == SeqNum(100));
  CHECK(bare.flags == (flags::kSyn | flags::kAck));
  CHECK(bare.options.mss == std::optional<std::uint16_t>(1460));
  CHECK_FALSE(bare.options.window_scale);
  CHECK_FALSE(bare.options.sack_permitted);
  CHECK_FALSE(bare.options.timestamps);
  syn.options.window_scale = 2;
  syn.options.sack_permitted = true;
  syn.options.timestamps = wire::TcpTimestamps{7, 0};
  const wire::TcpRepr full = build_syn_ack(cfg, opts, syn, SeqNum(5), 42);
  CHECK(full.options.window_scale == std::optional<std::uint8_t>(3));  // 256 KiB buffer
  CHECK(full.options.sack_permitted);
  CHECK(full.options.timestamps == std::optional<wire::TcpTimestamps>({42, 7}));
  CHECK(full.window == 65535);
}

TEST_CASE("reset_for answers ACK segments with SEQ=SEG.ACK and others with an ACK",
          "[tcp][handshake]") {
  wire::TcpRepr seg;
  seg.src_port = 1;
  seg.dst_port = 2;
  seg.seq = SeqNum(100);
  seg.ack = SeqNum(555);
  seg.flags = flags::kAck;
  auto r = reset_for(seg, 10);
  REQUIRE(r);
  CHECK(r->flags == flags::kRst);
  CHECK(r->seq == SeqNum(555));
  CHECK(r->src_port == 2);
  seg.flags = flags::kSyn | flags::kFin;
  r = reset_for(seg, 10);
  REQUIRE(r);
  CHECK(r->flags == (flags::kRst | flags::kAck));
  CHECK(r->seq == SeqNum(0));
  CHECK(r->ack == SeqNum(112));
  seg.flags = flags::kRst;
  CHECK_FALSE(reset_for(seg, 0));
}

// ===================== negotiation =====================

TEST_CASE("window scaling is used only when both sides offer it", "[tcp][handshake][wscale]") {
  Harness h;
  h.cfg.default_rcvbuf = 1024 * 1024;  // we would offer shift 5
  h.established();
  CHECK(h.conn->info().rcv_wscale == 0);
  CHECK(h.conn->info().snd_wscale == 0);
  h.peer_window = 1000;
  h.inject(h.seg());
  CHECK(h.conn->info().snd_wnd == 1000);
  // Unscaled, our window field is capped at 65535.
  h.peer_send(bytes("x"));
  h.advance(h.cfg.delayed_ack);
  CHECK(h.pop().repr.window == 65535);
}

TEST_CASE("window scale shift is clamped to 14 and applied both ways", "[tcp][handshake][wscale]") {
  Harness h;
  h.cfg.default_rcvbuf = 1024 * 1024;
  h.peer.window_scale = 20;
  h.established();
  CHECK(h.conn->info().snd_wscale == 14);
  CHECK(h.conn->info().rcv_wscale == 5);
  h.peer_window = 2;
  h.inject(h.seg());
  CHECK(h.conn->info().snd_wnd == 2u << 14);
  h.peer_send(bytes("x"));
  h.advance(h.cfg.delayed_ack);
  // 1 MiB less the unread byte, scaled down by 32.
  CHECK(h.pop().repr.window == (1024 * 1024 - 1) / 32);
}

TEST_CASE("peer MSS defaults to 536 when the SYN has none", "[tcp][handshake][mss]") {
  Harness h;
  h.peer.mss.reset();
  h.established();
  CHECK(h.conn->info().snd_mss == 536);
  h.app_send(pattern(1000));
  CHECK(h.pop().payload.size() == 536);
  h.expect_nothing_sent();  // Nagle holds the short tail until the ACK
  h.peer_ack(h.local_seq + 536);
  CHECK(h.pop().payload.size() == 1000 - 536);
}

TEST_CASE("send MSS is the smaller of the peer's and ours, less 12 with timestamps",
          "[tcp][handshake][mss]") {
  Harness h;
  h.peer.mss = 9000;
  h.peer.timestamps = true;
  h.established();
  CHECK(h.conn->info().snd_mss == 1460 - 12);
  CHECK(h.conn->info().timestamps);
}

}  // namespace utcp::stack::tcp::test

namespace utcp::stack::tcp::test {

TEST_CASE("segments in and out are counted engine-wide", "[tcp][counters]") {
  Harness h;
  h.established();  // SYN via accept_syn, then the final ACK through on_segment
  CHECK(h.counters.segs_in == 1);
  CHECK(h.counters.segs_out == 1);  // the SYN-ACK
  h.inject(h.seg());
  CHECK(h.counters.segs_in == 2);
}

}  // namespace utcp::stack::tcp::test
