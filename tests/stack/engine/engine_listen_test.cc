// Listener queues as Linux runs them, from a raw neighbour: overflow drops SYNs and
// final ACKs until accept() makes room; no cookies: SYNs dropped; cookies: stateless
// SYN-ACK then the ACK builds the connection (RFC 4987 §3.6). Also RSS-aware connect()
// ports and refused TX frames being freed.
#include <catch2/catch.hpp>
#include <cerrno>

#include "stack/engine/support/frames.h"
#include "stack/rss/rss.h"

namespace utcp::stack::engine::test {
namespace {

namespace flags = wire::tcp_flags;

wire::TcpRepr syn_from(std::uint16_t src_port, std::uint32_t isn) {
  wire::TcpRepr syn;
  syn.src_port = src_port;
  syn.dst_port = 80;
  syn.seq = SeqNum(isn);
  syn.flags = flags::kSyn;
  syn.window = 65535;
  syn.options.mss = 1460;
  return syn;
}

wire::TcpRepr ack_for(const wire::TcpRepr& syn_ack, std::uint32_t isn) {
  wire::TcpRepr ack;
  ack.src_port = syn_ack.dst_port;
  ack.dst_port = 80;
  ack.seq = SeqNum(isn + 1);
  ack.ack = syn_ack.seq + 1;
  ack.flags = flags::kAck;
  ack.window = 65535;
  return ack;
}

// Sends a SYN and returns the SYN-ACK, if one came.
std::optional<wire::TcpRepr> syn(RawPeer& p, std::uint16_t port, std::uint32_t isn) {
  p.send_tcp(syn_from(port, isn));
  for (const Frame& f : p.exchange()) {
    if (const auto t = as_tcp(f); t && t->tcp.flags == (flags::kSyn | flags::kAck)) return t->tcp;
  }
  return std::nullopt;
}

SocketId listener(RawPeer& p, int backlog) {
  Engine& e = p.engine();
  const Result<SocketId> l = e.socket();
  REQUIRE(l.ok());
  REQUIRE(e.bind(*l, {wire::Ipv4Addr{}, 80}) == 0);
  REQUIRE(e.listen(*l, backlog) == 0);
  return *l;
}

}  // namespace

TEST_CASE("listen: a full accept queue drops the final ACK until accept() makes room",
          "[engine][listen]") {
  RawPeer p;
  p.exchange();
  p.introduce();
  Engine& e = p.engine();
  const SocketId l = listener(p, 1);  // Linux: room for backlog + 1 = 2
  const auto sa1 = syn(p, 1001, 100);
  const auto sa2 = syn(p, 1002, 200);
  REQUIRE(sa1);
  REQUIRE(sa2);
  p.send_tcp(ack_for(*sa1, 100));
  p.exchange();
  const auto sa3 = syn(p, 1003, 300);
  REQUIRE(sa3);
  p.send_tcp(ack_for(*sa2, 200));
  p.exchange();
  CHECK(e.counters().in_state(tcp::State::kEstablished) == 2);

  // The queue is full: the third handshake's ACK is dropped, the child waits.
  p.send_tcp(ack_for(*sa3, 300));
  p.exchange();
  CHECK(e.counters().drop_accept_queue_full == 1);
  CHECK(e.counters().in_state(tcp::State::kSynReceived) == 1);
  // And a new SYN is dropped too, while the queue is full.
  CHECK_FALSE(syn(p, 1004, 400));
  CHECK(e.counters().drop_accept_queue_full == 2);

  REQUIRE(e.accept(l, nullptr).ok());
  p.send_tcp(ack_for(*sa3, 300));  // the peer's retransmission
  p.exchange();
  CHECK(e.counters().in_state(tcp::State::kEstablished) == 3);
  CHECK(e.accept(l, nullptr).ok());
  CHECK(e.accept(l, nullptr).ok());
  CHECK(e.accept(l, nullptr).err() == EAGAIN);
}

TEST_CASE("listen: a full SYN queue without cookies drops SYNs", "[engine][listen]") {
  EngineConfig cfg = RawPeer::default_config();
  cfg.syn_cookies = false;
  cfg.syn_queue_limit = 2;
  RawPeer p(cfg);
  p.exchange();
  p.introduce();
  listener(p, 16);
  CHECK(syn(p, 1001, 1));
  CHECK(syn(p, 1002, 2));
  CHECK_FALSE(syn(p, 1003, 3));
  CHECK(p.engine().counters().drop_syn_queue_full == 1);
  CHECK(p.engine().counters().connections == 2);
}

TEST_CASE("listen: with the SYN queue full, a cookie SYN-ACK keeps no state and the ACK "
          "completes the handshake", "[engine][listen][cookies]") {
  EngineConfig cfg = RawPeer::default_config();
  cfg.syn_queue_limit = 1;
  RawPeer p(cfg);
  p.exchange();
  p.introduce();
  Engine& e = p.engine();
  const SocketId l = listener(p, 16);
  REQUIRE(syn(p, 1001, 1));  // takes the one SYN-queue slot
  const auto cookie = syn(p, 1002, 5000);
  REQUIRE(cookie);
  CHECK(e.counters().syn_cookies_sent == 1);
  CHECK(e.counters().connections == 1);  // no state for the cookie

  // A forged ACK fails the check and is reset.
  wire::TcpRepr forged = ack_for(*cookie, 5000);
  forged.ack = forged.ack + 12345;
  p.send_tcp(forged);
  const std::vector<Frame> rst = p.exchange();
  REQUIRE(rst.size() == 1);
  CHECK(as_tcp(rst[0])->tcp.has(flags::kRst));
  CHECK(e.counters().syn_cookies_failed == 1);

  p.send_tcp(ack_for(*cookie, 5000));
  p.exchange();
  CHECK(e.counters().syn_cookies_ok == 1);
  wire::Endpoint peer;
  const Result<SocketId> s = e.accept(l, &peer);
  REQUIRE(s.ok());
  CHECK(peer == wire::Endpoint{RawPeer::kPeerIp, 1002});
  CHECK(e.info(*s).value().state == tcp::State::kEstablished);
  CHECK(e.info(*s).value().snd_mss == 1460);
}

TEST_CASE("listen: closing a listener resets the children nobody accepted", "[engine][listen]") {
  RawPeer p;
  p.exchange();
  p.introduce();
  Engine& e = p.engine();
  const SocketId l = listener(p, 16);
  const auto sa1 = syn(p, 1001, 100);
  REQUIRE(sa1);
  REQUIRE(syn(p, 1002, 200));
  p.send_tcp(ack_for(*sa1, 100));
  p.exchange();
  CHECK(e.counters().connections == 2);
  REQUIRE(e.close(l, p.now()) == 0);
  std::size_t resets = 0;
  for (const Frame& f : p.exchange()) {
    if (const auto t = as_tcp(f); t && t->tcp.has(flags::kRst)) ++resets;
  }
  CHECK(resets == 2);
  CHECK(e.counters().connections == 0);
  CHECK(e.counters().sockets == 0);
  CHECK(e.counters().listeners == 0);
  // The port is free again.
  const Result<SocketId> again = e.socket();
  REQUIRE(again.ok());
  CHECK(e.bind(*again, {wire::Ipv4Addr{}, 80}) == 0);
}

TEST_CASE("connect: the local port makes replies hash to this engine", "[engine][rss]") {
  EngineConfig cfg = RawPeer::default_config();
  cfg.engine_index = 2;
  cfg.engine_count = 4;
  cfg.reta = rss::Reta(128, 4);
  RawPeer p(cfg);
  Engine& e = p.engine();
  for (int i = 0; i < 20; ++i) {
    const Result<SocketId> s = e.socket();
    REQUIRE(s.ok());
    REQUIRE(e.connect(*s, {RawPeer::kPeerIp, 80}, p.now()) == EINPROGRESS);
    const std::uint16_t port = e.getsockname(*s).value().port;
    const std::uint32_t hash =
        rss::hash_ipv4_tcp(cfg.rss_key, RawPeer::kPeerIp, RawPeer::kEngineIp, 80, port);
    CHECK(cfg.reta.queue_for(hash) == 2);
  }
}

TEST_CASE("tx: frames the device refuses are retried, then freed and counted",
          "[engine][tx]") {
  io::MemoryLinkConfig link;
  link.queue_limit = 4;
  EngineConfig cfg = RawPeer::default_config();
  cfg.tx_stall_polls = 3;
  RawPeer p(cfg, link);
  p.exchange();
  p.introduce();
  Engine& e = p.engine();
  // Twelve pings in three rounds; the wire takes four replies, the engine holds the rest.
  for (int round = 0; round < 3; ++round) {
    for (int i = 0; i < 4; ++i) {
      p.send(icmp_echo_frame(p.engine_mac(), p.peer_mac(), RawPeer::kPeerIp, RawPeer::kEngineIp,
                             1, static_cast<std::uint16_t>(round * 4 + i), {}));
    }
    e.poll(p.now());
  }
  CHECK(e.counters().icmp_echo_out == 12);
  CHECK(e.counters().buffers_held == 8);
  CHECK(e.counters().tx_refused >= 8);
  // The neighbour does not drain; after tx_stall_polls polls the engine lets go.
  for (int i = 0; i < 2; ++i) e.poll(p.now());
  CHECK(e.counters().tx_freed == 8);
  CHECK(e.counters().buffers_held == 0);
  CHECK(p.exchange().size() == 4);
  CHECK(p.link().buffers_in_use() == 0);
}

}  // namespace utcp::stack::engine::test
