// Socket options as the wire sees them, through the engine: IP_TOS and IP_TTL in the
// IPv4 header of a listener's SYN-ACK and of the connections it accepts (inherited, as
// on Linux), TCP_MAXSEG in an active SYN, and TCP_DEFER_ACCEPT keeping a connection
// out of the accept queue until its first data.
#include <catch2/catch.hpp>
#include <cerrno>

#include "stack/engine/support/frames.h"

namespace utcp::stack::engine::test {
namespace {

namespace tf = wire::tcp_flags;
using namespace std::chrono_literals;

constexpr std::uint16_t kPort = 80;
constexpr SeqNum kPeerIss{1000};

wire::TcpRepr from_peer(std::uint8_t flags, SeqNum seq, SeqNum ack) {
  wire::TcpRepr r;
  r.src_port = 40000;
  r.dst_port = kPort;
  r.seq = seq;
  r.ack = ack;
  r.flags = flags;
  r.window = 65535;
  if (flags & tf::kSyn) r.options.mss = 1460;
  return r;
}

SocketId listener_with(Engine& e, const tcp::SocketOptions& t) {
  const Result<SocketId> l = e.socket();
  REQUIRE(l.ok());
  SocketOptions o;
  o.tcp = t;
  REQUIRE(e.set_options(*l, o, Instant{}) == 0);
  REQUIRE(e.bind(*l, {wire::Ipv4Addr{}, kPort}) == 0);
  REQUIRE(e.listen(*l, 16) == 0);
  return *l;
}

// The peer's SYN; returns the engine's SYN-ACK.
ParsedTcp handshake_start(RawPeer& p) {
  p.send_tcp(from_peer(tf::kSyn, kPeerIss, SeqNum(0)));
  const std::vector<Frame> out = p.exchange();
  REQUIRE(out.size() == 1);
  auto syn_ack = as_tcp(out[0]);
  REQUIRE(syn_ack);
  REQUIRE(syn_ack->tcp.flags == (tf::kSyn | tf::kAck));
  return *syn_ack;
}

// A peer that answered the engine's ARP: frames flow both ways at once.
RawPeer& introduced(RawPeer& p) {
  p.exchange();
  p.introduce();
  return p;
}

// A listener with TCP_DEFER_ACCEPT `defer` on an introduced peer's engine.
SocketId deferring_listener(RawPeer& p, Duration defer) {
  tcp::SocketOptions t;
  t.defer_accept = defer;
  return listener_with(introduced(p).engine(), t);
}

// The peer's SYN and final ACK; returns the engine's SYN-ACK.
ParsedTcp handshake(RawPeer& p) {
  const ParsedTcp syn_ack = handshake_start(p);
  p.send_tcp(from_peer(tf::kAck, kPeerIss + 1, syn_ack.tcp.seq + 1));
  CHECK(p.exchange().empty());
  return syn_ack;
}

TEST_CASE("options: IP_TOS and IP_TTL of a listener are on its SYN-ACK and its children's data",
          "[engine][options]") {
  RawPeer p;
  p.exchange();
  p.introduce();
  Engine& e = p.engine();
  tcp::SocketOptions t;
  t.tos = 0x28;
  t.ttl = 17;
  const SocketId l = listener_with(e, t);
  const ParsedTcp syn_ack = handshake(p);
  CHECK(syn_ack.ip.tos == 0x28);
  CHECK(syn_ack.ip.ttl == 17);
  const Result<SocketId> child = e.accept(l, nullptr);
  REQUIRE(child.ok());
  const std::uint8_t msg[] = {'h', 'i'};
  REQUIRE(e.send(*child, msg, {}, p.now()).ok());
  const std::vector<Frame> out = p.exchange();
  REQUIRE(out.size() == 1);
  const auto data = as_tcp(out[0]);
  REQUIRE(data);
  CHECK(data->payload.size() == 2);
  CHECK(data->ip.tos == 0x28);
  CHECK(data->ip.ttl == 17);
}

TEST_CASE("options: a socket without IP_TOS/IP_TTL sends TOS 0 and TTL 64", "[engine][options]") {
  RawPeer p;
  p.exchange();
  p.introduce();
  listener_with(p.engine(), {});
  const ParsedTcp syn_ack = handshake_start(p);
  CHECK(syn_ack.ip.tos == 0);
  CHECK(syn_ack.ip.ttl == 64);
}

TEST_CASE("options: TCP_MAXSEG before connect is the MSS option of the SYN",
          "[engine][options][mss]") {
  RawPeer p;
  p.exchange();
  p.introduce();
  Engine& e = p.engine();
  const Result<SocketId> s = e.socket();
  REQUIRE(s.ok());
  SocketOptions o;
  o.tcp.user_mss = 1200;
  REQUIRE(e.set_options(*s, o, p.now()) == 0);
  REQUIRE(e.connect(*s, {RawPeer::kPeerIp, 8080}, p.now()) == EINPROGRESS);
  const std::vector<Frame> out = p.exchange();
  REQUIRE(out.size() == 1);
  const auto syn = as_tcp(out[0]);
  REQUIRE(syn);
  CHECK(syn->tcp.flags == tf::kSyn);
  CHECK(syn->tcp.options.mss == 1200);
}

TEST_CASE("options: TCP_DEFER_ACCEPT keeps a connection from accept() until data arrives",
          "[engine][options][defer]") {
  RawPeer p;
  const SocketId l = deferring_listener(p, 7s);
  Engine& e = p.engine();
  const ParsedTcp syn_ack = handshake(p);
  CHECK(e.accept(l, nullptr).err() == EAGAIN);  // handshake done, no data yet
  CHECK(e.counters().in_state(tcp::State::kEstablished) == 1);
  const std::uint8_t req[] = {'G', 'E', 'T'};
  p.send_tcp(from_peer(tf::kAck | tf::kPsh, kPeerIss + 1, syn_ack.tcp.seq + 1), req);
  p.exchange();
  const Result<SocketId> child = e.accept(l, nullptr);
  REQUIRE(child.ok());
  std::uint8_t buf[8];
  const Result<std::size_t> n = e.recv(*child, buf, {}, p.now());
  REQUIRE(n.ok());
  CHECK(*n == 3);
}

TEST_CASE("options: TCP_DEFER_ACCEPT hands a silent connection over when its time is up",
          "[engine][options][defer]") {
  RawPeer p;
  const SocketId l = deferring_listener(p, 3s);
  Engine& e = p.engine();
  handshake(p);
  p.advance(2900ms);
  p.exchange();
  CHECK(e.accept(l, nullptr).err() == EAGAIN);
  p.advance(200ms);
  p.exchange();
  CHECK(e.accept(l, nullptr).ok());
}

TEST_CASE("options: MSG_EOR through Engine::send ends a segment at the record's end",
          "[engine][options][eor]") {
  RawPeer p;
  p.exchange();
  p.introduce();
  Engine& e = p.engine();
  const SocketId l = listener_with(e, {});
  handshake(p);
  const Result<SocketId> child = e.accept(l, nullptr);
  REQUIRE(child.ok());
  Result<SocketOptions> o = e.options(*child);
  REQUIRE(o.ok());
  o->tcp.cork = true;
  REQUIRE(e.set_options(*child, *o, p.now()) == 0);
  const std::uint8_t rec[] = {'r', 'e', 'c'};
  REQUIRE(e.send(*child, rec, {.peek = false, .more = false, .eor = true}, p.now()).ok());
  REQUIRE(e.send(*child, rec, {}, p.now()).ok());
  o->tcp.cork = false;
  o->tcp.nodelay = true;  // else Nagle holds the second record while the first is in flight
  REQUIRE(e.set_options(*child, *o, p.now()) == 0);
  const std::vector<Frame> out = p.exchange();
  REQUIRE(out.size() == 2);
  CHECK(as_tcp(out[0])->payload.size() == 3);
  CHECK(as_tcp(out[1])->payload.size() == 3);
}

}  // namespace
}  // namespace utcp::stack::engine::test
