// The engine below TCP, driven by raw frames from a neighbour: gratuitous ARP at
// start, ARP answers and learning (RFC 826), resolution before traffic (RFC 1122
// §2.3.2.2), ICMP echo (RFC 792), RST for a closed port (RFC 9293 §3.10.7.1), and
// malformed input dropped, counted per class, and survived.
#include <catch2/catch.hpp>
#include <cerrno>

#include "stack/engine/support/frames.h"
#include "stack/io/prng.h"
#include "stack/wire/checksum.h"
#include "stack/wire/ethernet.h"

namespace utcp::stack::engine::test {
namespace {

using wire::ArpOp;
using wire::ParseError;

wire::TcpRepr syn_to(std::uint16_t port) {
  wire::TcpRepr syn;
  syn.src_port = 40000;
  syn.dst_port = port;
  syn.seq = SeqNum(1000);
  syn.flags = wire::tcp_flags::kSyn;
  syn.window = 65535;
  syn.options.mss = 1460;
  return syn;
}

}  // namespace

TEST_CASE("link: the engine announces itself with a gratuitous ARP", "[engine][arp]") {
  RawPeer p;
  const std::vector<Frame> out = p.exchange();
  REQUIRE(out.size() == 1);
  const auto arp = as_arp(out[0]);
  REQUIRE(arp);
  CHECK(wire::EthernetView::check(out[0])->dst().is_broadcast());
  CHECK(arp->op == ArpOp::kRequest);
  CHECK(arp->sender_ip == RawPeer::kEngineIp);
  CHECK(arp->target_ip == RawPeer::kEngineIp);
  CHECK(arp->sender_mac == p.engine_mac());
  CHECK(p.engine().counters().arp_gratuitous_out == 1);
}

TEST_CASE("link: ARP requests for our address are answered, others only counted",
          "[engine][arp]") {
  RawPeer p;
  p.exchange();
  p.send(arp_frame(ArpOp::kRequest, wire::MacAddr::broadcast(), p.peer_mac(), RawPeer::kPeerIp,
                   wire::MacAddr{}, RawPeer::kEngineIp));
  std::vector<Frame> out = p.exchange();
  REQUIRE(out.size() == 1);
  const auto reply = as_arp(out[0]);
  REQUIRE(reply);
  CHECK(reply->op == ArpOp::kReply);
  CHECK(reply->sender_mac == p.engine_mac());
  CHECK(reply->sender_ip == RawPeer::kEngineIp);
  CHECK(reply->target_mac == p.peer_mac());
  CHECK(reply->target_ip == RawPeer::kPeerIp);

  p.send(arp_frame(ArpOp::kRequest, wire::MacAddr::broadcast(), p.peer_mac(), RawPeer::kPeerIp,
                   wire::MacAddr{}, wire::Ipv4Addr::from_octets(198, 18, 0, 77)));
  CHECK(p.exchange().empty());
  const EngineCounters& c = p.engine().counters();
  CHECK(c.arp_requests_in == 2);
  CHECK(c.arp_replies_out == 1);
  CHECK(c.arp_for_others == 1);
}

TEST_CASE("link: a connect waits for ARP, then the SYN goes to the resolved MAC",
          "[engine][arp]") {
  RawPeer p;
  p.exchange();
  Engine& e = p.engine();
  const Result<SocketId> s = e.socket();
  REQUIRE(s.ok());
  REQUIRE(e.connect(*s, {RawPeer::kPeerIp, 80}, p.now()) == EINPROGRESS);
  std::vector<Frame> out = p.exchange();
  REQUIRE(out.size() == 1);
  const auto request = as_arp(out[0]);
  REQUIRE(request);
  CHECK(request->op == ArpOp::kRequest);
  CHECK(request->target_ip == RawPeer::kPeerIp);
  CHECK(e.counters().buffers_held == 1);  // the SYN, parked

  p.send(arp_frame(ArpOp::kReply, p.engine_mac(), p.peer_mac(), RawPeer::kPeerIp, p.engine_mac(),
                   RawPeer::kEngineIp));
  out = p.exchange();
  REQUIRE(out.size() == 1);
  const auto syn = as_tcp(out[0]);
  REQUIRE(syn);
  CHECK(syn->dst_mac == p.peer_mac());
  CHECK(syn->tcp.flags == wire::tcp_flags::kSyn);
  CHECK(syn->tcp.dst_port == 80);
  CHECK(e.counters().buffers_held == 0);
  CHECK(e.counters().arp_replies_in == 1);
}

TEST_CASE("link: ICMP echo requests are answered with the same ident, sequence and data",
          "[engine][icmp]") {
  RawPeer p;
  p.exchange();
  const std::vector<std::uint8_t> data = {1, 2, 3, 4, 5, 6, 7, 8, 9};
  p.send(icmp_echo_frame(p.engine_mac(), p.peer_mac(), RawPeer::kPeerIp, RawPeer::kEngineIp, 0x1234,
                         7, data));
  const std::vector<Frame> out = p.exchange();
  REQUIRE(out.size() == 1);
  const auto eth = wire::EthernetView::check(out[0]);
  REQUIRE(eth);
  CHECK(eth->dst() == p.peer_mac());
  const auto ipv = wire::Ipv4View::check(eth->payload());
  REQUIRE(ipv);
  const auto ip = wire::Ipv4Repr::parse(*ipv, true);
  REQUIRE(ip);
  CHECK(ip->src == RawPeer::kEngineIp);
  CHECK(ip->dst == RawPeer::kPeerIp);
  const auto iv = wire::IcmpView::check(ipv->payload());
  REQUIRE(iv);
  const auto reply = wire::IcmpRepr::parse(*iv, true);
  REQUIRE(reply);
  CHECK(reply->kind == wire::IcmpRepr::Kind::kEchoReply);
  CHECK(reply->ident == 0x1234);
  CHECK(reply->seq_no == 7);
  CHECK(std::vector<std::uint8_t>(reply->data.begin(), reply->data.end()) == data);
  CHECK(p.engine().counters().icmp_echo_in == 1);
  CHECK(p.engine().counters().icmp_echo_out == 1);
}

TEST_CASE("link: a SYN to a closed port is answered with RST+ACK", "[engine][tcp]") {
  RawPeer p;
  p.exchange();
  p.introduce();
  p.send(tcp_frame(p.engine_mac(), p.peer_mac(), RawPeer::kPeerIp, RawPeer::kEngineIp, syn_to(81)));
  const std::vector<Frame> out = p.exchange();
  REQUIRE(out.size() == 1);
  const auto rst = as_tcp(out[0]);
  REQUIRE(rst);
  CHECK(rst->tcp.flags == (wire::tcp_flags::kRst | wire::tcp_flags::kAck));
  CHECK(rst->tcp.ack == SeqNum(1001));
  CHECK(rst->tcp.src_port == 81);
  CHECK(rst->tcp.dst_port == 40000);
  CHECK(p.engine().counters().rst_sent_no_socket == 1);

  // A reset is never answered with a reset.
  wire::TcpRepr stray = syn_to(81);
  stray.flags = wire::tcp_flags::kRst;
  p.send(tcp_frame(p.engine_mac(), p.peer_mac(), RawPeer::kPeerIp, RawPeer::kEngineIp, stray));
  CHECK(p.exchange().empty());
  CHECK(p.engine().counters().drop_rst_no_socket == 1);
}

TEST_CASE("link: a SYN to a listener is answered with SYN-ACK", "[engine][tcp]") {
  RawPeer p;
  p.exchange();
  p.introduce();
  Engine& e = p.engine();
  const Result<SocketId> l = e.socket();
  REQUIRE(l.ok());
  REQUIRE(e.bind(*l, {wire::Ipv4Addr{}, 80}) == 0);
  REQUIRE(e.listen(*l, 16) == 0);
  p.send(tcp_frame(p.engine_mac(), p.peer_mac(), RawPeer::kPeerIp, RawPeer::kEngineIp, syn_to(80)));
  const std::vector<Frame> out = p.exchange();
  REQUIRE(out.size() == 1);
  const auto syn_ack = as_tcp(out[0]);
  REQUIRE(syn_ack);
  CHECK(syn_ack->tcp.flags == (wire::tcp_flags::kSyn | wire::tcp_flags::kAck));
  CHECK(syn_ack->tcp.ack == SeqNum(1001));
  CHECK(e.counters().in_state(tcp::State::kSynReceived) == 1);
  CHECK(e.counters().connections == 1);
}

TEST_CASE("link: malformed frames are dropped and counted per class", "[engine][malformed]") {
  RawPeer p;
  p.exchange();
  p.introduce();
  Engine& e = p.engine();
  const wire::MacAddr me = p.engine_mac();
  const wire::MacAddr peer = p.peer_mac();
  const EngineCounters before = e.counters();

  // Truncated Ethernet header.
  p.send(Frame(10, 0xab));
  // IPv4 header cut short.
  {
    Frame f = icmp_echo_frame(me, peer, RawPeer::kPeerIp, RawPeer::kEngineIp, 1, 1, {});
    f.resize(wire::kEthernetHeaderLen + 12);
    p.send(f);
  }
  // Bad IPv4 header checksum.
  {
    Frame f = icmp_echo_frame(me, peer, RawPeer::kPeerIp, RawPeer::kEngineIp, 1, 1, {});
    f[wire::kEthernetHeaderLen + 10] ^= 0xff;
    p.send(f);
  }
  // Bad TCP checksum.
  {
    Frame f = tcp_frame(me, peer, RawPeer::kPeerIp, RawPeer::kEngineIp, syn_to(81));
    f[wire::kEthernetHeaderLen + wire::Ipv4Repr::kHeaderLen + 16] ^= 0x01;
    p.send(f);
  }
  // A fragment (more-fragments set, header checksum still correct).
  {
    wire::Ipv4Repr ip;
    ip.src = RawPeer::kPeerIp;
    ip.dst = RawPeer::kEngineIp;
    ip.protocol = wire::ip_protocol::kIcmp;
    ip.dont_fragment = false;
    const std::vector<std::uint8_t> payload(16, 0);
    Frame f = ipv4_frame(me, peer, ip, payload);
    const std::span<std::uint8_t> header =
        std::span<std::uint8_t>(f).subspan(wire::kEthernetHeaderLen, wire::Ipv4Repr::kHeaderLen);
    header[6] |= 0x20;
    header[10] = 0;
    header[11] = 0;
    const std::uint16_t csum = wire::checksum_fold(wire::checksum_partial(header));
    header[10] = static_cast<std::uint8_t>(csum >> 8);
    header[11] = static_cast<std::uint8_t>(csum);
    p.send(f);
  }
  // TCP data offset pointing past the segment.
  {
    Frame f = tcp_frame(me, peer, RawPeer::kPeerIp, RawPeer::kEngineIp, syn_to(81));
    f[wire::kEthernetHeaderLen + wire::Ipv4Repr::kHeaderLen + 12] = 0xf0;
    p.send(f);
  }
  // Not for us: another IP, another MAC, another ethertype, a UDP datagram.
  p.send(icmp_echo_frame(me, peer, RawPeer::kPeerIp, wire::Ipv4Addr::from_octets(198, 18, 0, 9), 1,
                         1, {}));
  p.send(icmp_echo_frame(wire::MacAddr{{0x02, 9, 9, 9, 9, 9}}, peer, RawPeer::kPeerIp,
                         RawPeer::kEngineIp, 1, 1, {}));
  {
    Frame f = icmp_echo_frame(me, peer, RawPeer::kPeerIp, RawPeer::kEngineIp, 1, 1, {});
    f[12] = 0x86;
    f[13] = 0xdd;  // IPv6
    p.send(f);
  }
  {
    wire::Ipv4Repr ip;
    ip.src = RawPeer::kPeerIp;
    ip.dst = RawPeer::kEngineIp;
    ip.protocol = wire::ip_protocol::kUdp;
    const std::vector<std::uint8_t> udp(8, 0);
    p.send(ipv4_frame(me, peer, ip, udp));
  }
  CHECK(p.exchange().empty());

  const EngineCounters& c = e.counters();
  CHECK(c.drops(ParseError::kTruncated) == before.drops(ParseError::kTruncated) + 2);
  CHECK(c.drops(ParseError::kBadChecksum) == before.drops(ParseError::kBadChecksum) + 2);
  CHECK(c.drops(ParseError::kFragment) == before.drops(ParseError::kFragment) + 1);
  CHECK(c.drops(ParseError::kBadHeaderLength) == before.drops(ParseError::kBadHeaderLength) + 1);
  CHECK(c.drops(ParseError::kUnsupported) == before.drops(ParseError::kUnsupported) + 2);
  CHECK(c.drop_ip_not_for_us == before.drop_ip_not_for_us + 1);
  CHECK(c.drop_mac_not_for_us == before.drop_mac_not_for_us + 1);
  CHECK(c.frames_in == before.frames_in + 10);

  // Still serving.
  p.send(icmp_echo_frame(me, peer, RawPeer::kPeerIp, RawPeer::kEngineIp, 9, 9, {}));
  CHECK(p.exchange().size() == 1);
}

TEST_CASE("link: random garbage after a valid Ethernet header never crashes the engine",
          "[engine][malformed]") {
  RawPeer p;
  p.exchange();
  p.introduce();
  io::Prng prng(2024);
  const Frame valid = tcp_frame(p.engine_mac(), p.peer_mac(), RawPeer::kPeerIp, RawPeer::kEngineIp,
                                syn_to(81));
  for (int i = 0; i < 3000; ++i) {
    Frame f = valid;
    f.resize(wire::kEthernetHeaderLen + prng.below(valid.size()));
    // Mutate a few bytes past the Ethernet header, or randomise them all.
    const bool all = prng.chance(0.3);
    for (std::size_t j = wire::kEthernetHeaderLen; j < f.size(); ++j) {
      if (all || prng.chance(0.05)) f[j] = static_cast<std::uint8_t>(prng.next());
    }
    p.send(f);
    if (i % 32 == 31) p.exchange();
  }
  p.exchange();
  CHECK(p.engine().counters().frames_in >= 3000);
  p.send(icmp_echo_frame(p.engine_mac(), p.peer_mac(), RawPeer::kPeerIp, RawPeer::kEngineIp, 9, 9,
                         {}));
  const std::vector<Frame> out = p.exchange();
  CHECK(out.size() == 1);
}

}  // namespace utcp::stack::engine::test
