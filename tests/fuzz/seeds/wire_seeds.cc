// Seeds of fuzz_wire: byte 0 = device checksum verdicts (0: none, so the checksums here
// are right), then one valid frame of each kind the engine handles, and a few it drops.
#include <algorithm>

#include "stack/engine/support/frames.h"
#include "stack/wire/checksum.h"
#include "stack/wire/ethernet.h"
#include "tests/fuzz/seeds/seeds.h"

namespace utcp::fuzz::seeds {
namespace {

namespace wire = stack::wire;
namespace t = stack::engine::test;
using Frame = t::Frame;

constexpr wire::MacAddr kMacA{{0x02, 0, 0, 0, 0, 0x01}}, kMacB{{0x02, 0, 0, 0, 0, 0x02}};
constexpr auto kIpA = wire::Ipv4Addr::from_octets(198, 18, 0, 1);
constexpr auto kIpB = wire::Ipv4Addr::from_octets(198, 18, 0, 2);

Seed seed(std::string name, const Frame& f, std::uint8_t verdicts = 0) {
  std::vector<std::uint8_t> bytes{verdicts};
  bytes.insert(bytes.end(), f.begin(), f.end());
  return {std::move(name), std::move(bytes)};
}

wire::TcpRepr tcp(std::uint8_t flags, std::uint32_t seq, std::uint32_t ack) {
  wire::TcpRepr r;
  r.src_port = 40000;
  r.dst_port = 80;
  r.seq = stack::SeqNum(seq);
  r.ack = stack::SeqNum(ack);
  r.flags = flags;
  r.window = 64240;
  return r;
}

Frame tcp_frame(const wire::TcpRepr& r, std::vector<std::uint8_t> payload = {}) {
  return t::tcp_frame(kMacB, kMacA, kIpA, kIpB, r, payload);
}

// The quote an ICMP error carries: IPv4 header (with `options` extra bytes) + 8 bytes.
std::vector<std::uint8_t> quote(std::size_t options) {
  std::vector<std::uint8_t> q(28 + options, 0);
  wire::Ipv4Repr ip;
  ip.src = kIpB;
  ip.dst = kIpA;
  ip.protocol = wire::ip_protocol::kTcp;
  ip.payload_len = 20;
  ip.emit(q, true);
  q[0] = static_cast<std::uint8_t>(0x40 | (5 + options / 4));
  const std::uint8_t l4[8] = {0, 80, 0x9c, 0x40, 0x12, 0x34, 0x56, 0x78};
  std::copy(std::begin(l4), std::end(l4), q.begin() + 20 + static_cast<std::ptrdiff_t>(options));
  return q;
}

Frame icmp(wire::IcmpRepr::Kind kind, std::uint8_t code, std::span<const std::uint8_t> data,
           std::uint16_t mtu = 0) {
  wire::IcmpRepr m{kind, code, 7, 1, mtu, data};
  std::vector<std::uint8_t> bytes(m.len());
  m.emit(bytes);
  wire::Ipv4Repr ip;
  ip.src = kIpA;
  ip.dst = kIpB;
  ip.protocol = wire::ip_protocol::kIcmp;
  return t::ipv4_frame(kMacB, kMacA, ip, bytes);
}

// A TCP segment in an IPv4 header with 4 bytes of options (IHL 6).
Frame tcp_with_ip_options() {
  const Frame plain = tcp_frame(tcp(wire::tcp_flags::kAck, 1000, 2000), {1, 2, 3, 4});
  const auto eth = wire::EthernetView::check(plain);
  const auto ipv = wire::Ipv4View::check(eth->payload());
  const auto seg = ipv->payload();
  Frame f(wire::kEthernetHeaderLen + 24 + seg.size(), 0);
  std::copy(plain.begin(), plain.begin() + wire::kEthernetHeaderLen, f.begin());
  wire::Ipv4Repr ip;
  ip.src = kIpA;
  ip.dst = kIpB;
  ip.protocol = wire::ip_protocol::kTcp;
  ip.payload_len = static_cast<std::uint16_t>(seg.size() + 4);
  const std::span<std::uint8_t> hdr(f.data() + wire::kEthernetHeaderLen, 24);
  ip.emit(hdr, false);
  hdr[0] = 0x46;
  hdr[20] = 1;  // NOP NOP NOP EOL
  hdr[21] = 1;
  hdr[22] = 1;
  const std::uint16_t sum = wire::checksum_fold(wire::checksum_partial(hdr));
  hdr[10] = static_cast<std::uint8_t>(sum >> 8);
  hdr[11] = static_cast<std::uint8_t>(sum);
  std::copy(seg.begin(), seg.end(), f.begin() + wire::kEthernetHeaderLen + 24);
  return f;
}

}  // namespace

std::vector<Seed> wire_seeds() {
  namespace fl = wire::tcp_flags;
  std::vector<Seed> s;
  s.push_back(seed("arp_request", t::arp_frame(wire::ArpOp::kRequest, wire::MacAddr::broadcast(),
                                               kMacA, kIpA, wire::MacAddr{}, kIpB)));
  s.push_back(seed("arp_reply", t::arp_frame(wire::ArpOp::kReply, kMacB, kMacA, kIpA, kMacB, kIpB)));
  const std::vector<std::uint8_t> ping(32, 0x61);
  s.push_back(seed("icmp_echo_request", t::icmp_echo_frame(kMacB, kMacA, kIpA, kIpB, 7, 1, ping)));
  s.push_back(seed("icmp_echo_reply", icmp(wire::IcmpRepr::Kind::kEchoReply, 0, ping)));
  const auto q = quote(0), q_opts = quote(4);
  s.push_back(seed("icmp_frag_needed", icmp(wire::IcmpRepr::Kind::kDestUnreachable, 4, q, 1200)));
  s.push_back(seed("icmp_port_unreachable", icmp(wire::IcmpRepr::Kind::kDestUnreachable, 3, q)));
  s.push_back(seed("icmp_time_exceeded_ihl6", icmp(wire::IcmpRepr::Kind::kTimeExceeded, 0, q_opts)));

  wire::TcpRepr syn = tcp(fl::kSyn, 0x12345678, 0);
  syn.options.mss = 1460;
  syn.options.sack_permitted = true;
  syn.options.timestamps = wire::TcpTimestamps{1000, 0};
  syn.options.window_scale = 7;
  s.push_back(seed("tcp_syn", tcp_frame(syn)));
  wire::TcpRepr syn_ack = syn;
  syn_ack.flags = fl::kSyn | fl::kAck;
  syn_ack.ack = stack::SeqNum(0x12345679);
  syn_ack.options.timestamps = wire::TcpTimestamps{5000, 1000};
  s.push_back(seed("tcp_syn_ack", tcp_frame(syn_ack)));
  wire::TcpRepr data = tcp(fl::kAck | fl::kPsh, 1000, 2000);
  data.options.timestamps = wire::TcpTimestamps{1001, 5000};
  s.push_back(seed("tcp_data", tcp_frame(data, std::vector<std::uint8_t>(100, 0x42))));
  s.push_back(seed("tcp_data_odd", tcp_frame(tcp(fl::kAck, 1000, 2000), std::vector<std::uint8_t>(101, 7))));
  wire::TcpRepr sack = tcp(fl::kAck, 1000, 2000);
  sack.options.timestamps = wire::TcpTimestamps{1002, 5001};
  sack.options.sack_count = 3;
  for (std::uint32_t i = 0; i < 3; ++i) {
    sack.options.sack[i] = {stack::SeqNum(3000 + i * 2000), stack::SeqNum(4000 + i * 2000)};
  }
  s.push_back(seed("tcp_sack3_ts", tcp_frame(sack)));
  sack.options.timestamps.reset();
  sack.options.sack_count = 4;
  sack.options.sack[3] = {stack::SeqNum(9000), stack::SeqNum(9500)};
  s.push_back(seed("tcp_sack4", tcp_frame(sack)));
  s.push_back(seed("tcp_fin", tcp_frame(tcp(fl::kFin | fl::kAck, 1100, 2000))));
  s.push_back(seed("tcp_rst", tcp_frame(tcp(fl::kRst, 1100, 0))));
  s.push_back(seed("tcp_ip_options", tcp_with_ip_options()));
  Frame bad_sum = tcp_frame(tcp(fl::kAck, 1, 2), {9, 9});
  bad_sum[bad_sum.size() - 1] ^= 0xff;
  s.push_back(seed("tcp_device_verified", bad_sum, 3));

  wire::Ipv4Repr udp;
  udp.src = kIpA;
  udp.dst = kIpB;
  udp.protocol = wire::ip_protocol::kUdp;
  s.push_back(seed("udp", t::ipv4_frame(kMacB, kMacA, udp, std::vector<std::uint8_t>(12, 0))));
  Frame frag = tcp_frame(tcp(fl::kAck, 5, 6));
  frag[wire::kEthernetHeaderLen + 6] |= 0x20;  // MF
  s.push_back(seed("ipv4_fragment", frag, 1));
  Frame vlan = t::arp_frame(wire::ArpOp::kRequest, wire::MacAddr::broadcast(), kMacA, kIpA,
                            wire::MacAddr{}, kIpB);
  vlan[12] = 0x81;
  vlan[13] = 0x00;
  s.push_back(seed("vlan_tagged", vlan));
  Frame truncated = tcp_frame(tcp(fl::kAck, 5, 6));
  truncated.resize(wire::kEthernetHeaderLen + 30);
  s.push_back(seed("truncated", truncated));
  return s;
}

}  // namespace utcp::fuzz::seeds
