// Crafted frames (read craft.h). Built with the test support's frame builders
// (tests/stack/engine/support/frames.h), so every checksum is right unless the
// program asks for raw bytes.
#include "tests/fuzz/engine/craft.h"

#include <algorithm>
#include <vector>

#include "stack/wire/checksum.h"
#include "stack/wire/ethernet.h"
#include "stack/wire/icmp.h"
#include "stack/wire/ipv4.h"
#include "tests/fuzz/engine/program.h"

namespace utcp::fuzz {
namespace {

namespace flags = wire::tcp_flags;
using engine_program::kPorts;

constexpr wire::MacAddr kFakeMac{{0x02, 0, 0, 0, 0, 0x09}};
constexpr wire::Ipv4Addr kRouter = wire::Ipv4Addr::from_octets(198, 18, 0, 254);
constexpr std::uint16_t kMss[] = {536, 1460, 88, 65535, 1, 0, 1200, 64};

wire::Ipv4Addr fake_neighbour(unsigned i) {
  return wire::Ipv4Addr::from_octets(198, 18, 0, static_cast<std::uint8_t>(3 + (i & 3)));
}

void send(World& world, Apps& apps, int to, Frame frame) {
  if (const auto t = se::test::as_tcp(frame)) {
    apps.taint({t->ip.src, t->tcp.src_port}, {t->ip.dst, t->tcp.dst_port});
  }
  world.inject(to, std::move(frame));
}

const FlowSeen* reverse_of(const World& world, const FlowSeen& f) {
  for (const FlowSeen& r : world.flows()) {
    if (r.src == f.dst && r.dst == f.src) return &r;
  }
  return nullptr;
}

// base + delta << shift, shift from bits 2-3 of the mode: near (0), a few KiB (4),
// several windows (12), far (20).
SeqNum offset(SeqNum base, std::uint8_t mode, std::uint16_t delta) {
  static constexpr unsigned kShift[] = {0, 4, 12, 20};
  const auto d = static_cast<std::uint32_t>(static_cast<std::int32_t>(static_cast<std::int16_t>(delta)));
  return base + (d << kShift[(mode >> 2) & 3]);
}

void add_options(wire::TcpRepr& tcp, std::uint8_t opts, std::uint8_t fill, SeqNum ack,
                 std::uint32_t tsval, std::uint32_t tsecr) {
  if (opts & 1) tcp.options.mss = kMss[fill % std::size(kMss)];
  if (opts & 2) tcp.options.window_scale = static_cast<std::uint8_t>(fill % 16);
  tcp.options.sack_permitted = (opts & 4) != 0;
  if (opts & 8) {
    // Bit 6: an old TSval, which PAWS must reject (RFC 7323 §5.3).
    tcp.options.timestamps = wire::TcpTimestamps{(opts & 64) ? tsval - 100000 : tsval + 1, tsecr};
  }
  const std::uint8_t blocks = (opts >> 4) & 3;
  for (std::uint8_t i = 0; i < blocks; ++i) {
    const SeqNum left = ack + std::uint32_t{fill} * 8 + i * 3000u;
    tcp.options.sack[i] = wire::SackBlock{left, left + 1000 + fill};
  }
  tcp.options.sack_count = blocks;
  if (opts & 128) {
    tcp.flags |= flags::kUrg;
    tcp.urgent = fill;
  }
}

// The 28 bytes an ICMP error quotes of a segment `from` sent: IPv4 header + ports + seq.
std::vector<std::uint8_t> quote(wire::Endpoint from, wire::Endpoint to, SeqNum seq) {
  std::vector<std::uint8_t> q(28, 0);
  wire::Ipv4Repr ip;
  ip.src = from.addr;
  ip.dst = to.addr;
  ip.protocol = wire::ip_protocol::kTcp;
  ip.payload_len = 20;
  ip.emit(q, true);
  const std::uint8_t l4[8] = {
      static_cast<std::uint8_t>(from.port >> 8), static_cast<std::uint8_t>(from.port),
      static_cast<std::uint8_t>(to.port >> 8),   static_cast<std::uint8_t>(to.port),
      static_cast<std::uint8_t>(seq.raw() >> 24), static_cast<std::uint8_t>(seq.raw() >> 16),
      static_cast<std::uint8_t>(seq.raw() >> 8), static_cast<std::uint8_t>(seq.raw())};
  std::copy(std::begin(l4), std::end(l4), q.begin() + 20);
  return q;
}

Frame icmp_frame(World& world, int to, wire::Ipv4Addr src, const wire::IcmpRepr& icmp) {
  std::vector<std::uint8_t> bytes(icmp.len());
  icmp.emit(bytes);
  wire::Ipv4Repr ip;
  ip.src = src;
  ip.dst = world.engine(to).config().ip;
  ip.protocol = wire::ip_protocol::kIcmp;
  return se::test::ipv4_frame(world.mac(to), world.mac(1 - to), ip, bytes);
}

}  // namespace

void craft_tcp(World& world, Apps& apps, ByteReader& in) {
  const std::uint8_t flow_sel = in.u8(), tcp_flags = in.u8(), seq_mode = in.u8();
  const std::uint16_t seq_delta = in.u16();
  const std::uint8_t ack_mode = in.u8();
  const std::uint16_t ack_delta = in.u16(), window = in.u16();
  const std::uint8_t opts = in.u8(), len = in.u8(), fill = in.u8();
  const std::uint16_t src_port = in.u16();

  int to = 0;
  wire::Endpoint src, dst;
  SeqNum seq_base[4], ack_base[4];
  std::uint32_t tsval = 1, tsecr = 0;
  const auto& flows = world.flows();
  if (!flows.empty() && (flow_sel & 0x80) == 0) {
    // Pose as the sender of a flow the link carried.
    const FlowSeen& f = flows[flow_sel % flows.size()];
    const FlowSeen* r = reverse_of(world, f);
    to = f.to;
    src = f.src;
    dst = f.dst;
    seq_base[0] = f.end;
    seq_base[1] = r && r->acked ? r->ack : f.end;
    seq_base[2] = f.seq;
    ack_base[0] = r ? r->end : f.ack;
    ack_base[1] = f.ack;
    ack_base[2] = r ? r->seq : f.ack;
    if (f.ts) tsval = f.ts->tsval;
    if (r && r->ts) tsecr = r->ts->tsval;
  } else {
    // A fresh tuple: to a port the engine may listen on, from the other engine or a
    // neighbour that does not exist.
    to = flow_sel & 1;
    dst = {world.engine(to).config().ip, kPorts[(flow_sel >> 1) % std::size(kPorts)]};
    src = {(flow_sel & 0x40) ? world.engine(1 - to).config().ip : fake_neighbour(flow_sel >> 4),
           src_port};
  }
  wire::TcpRepr tcp;
  tcp.src_port = src.port;
  tcp.dst_port = dst.port;
  tcp.seq = offset(seq_base[seq_mode & 3], seq_mode, seq_delta);
  tcp.ack = offset(ack_base[ack_mode & 3], ack_mode, ack_delta);
  tcp.flags = tcp_flags;
  tcp.window = window;
  add_options(tcp, opts, fill, tcp.ack, tsval, tsecr);
  std::vector<std::uint8_t> payload(std::size_t{len} * 6);
  for (std::size_t i = 0; i < payload.size(); ++i) payload[i] = static_cast<std::uint8_t>(fill ^ i);
  send(world, apps, to, se::test::tcp_frame(world.mac(to), world.mac(1 - to), src.addr, dst.addr, tcp, payload));
}

void craft_other(World& world, Apps& apps, ByteReader& in) {
  const std::uint8_t kind = in.u8(), to_sel = in.u8(), a = in.u8(), b = in.u8();
  const std::uint16_t c = in.u16();
  const int to = to_sel & 1;
  se::Engine& target = world.engine(to);
  const wire::Ipv4Addr own = target.config().ip, other = world.engine(1 - to).config().ip;
  switch (kind % 4) {
    case 0: {  // ARP from the other engine, an invented neighbour, or a spoofer
      const wire::Ipv4Addr senders[] = {other, fake_neighbour(b), own, wire::Ipv4Addr{}};
      const wire::MacAddr macs[] = {world.mac(1 - to), kFakeMac, world.mac(to),
                                    wire::MacAddr::broadcast()};
      const wire::ArpOp op = (a & 1) ? wire::ArpOp::kReply : wire::ArpOp::kRequest;
      const wire::Ipv4Addr target_ip = ((a >> 5) & 1) ? fake_neighbour(b >> 2) : own;
      const wire::MacAddr eth_dst = ((a >> 6) & 1) ? world.mac(to) : wire::MacAddr::broadcast();
      const wire::MacAddr target_mac = ((a >> 7) & 1) ? world.mac(to) : wire::MacAddr{};
      send(world, apps, to,
           se::test::arp_frame(op, eth_dst, macs[(a >> 3) & 3], senders[(a >> 1) & 3], target_mac,
                               target_ip));
      return;
    }
    case 1: {  // echo request
      const wire::Ipv4Addr sources[] = {other, fake_neighbour(a >> 2), wire::Ipv4Addr::from_octets(10, 9, 9, 9),
                                        wire::Ipv4Addr::from_octets(198, 18, 0, 255)};
      std::vector<std::uint8_t> data(b % 64, static_cast<std::uint8_t>(c));
      send(world, apps, to,
           se::test::icmp_echo_frame(world.mac(to), world.mac(1 - to), sources[a & 3], own, c, b, data));
      return;
    }
    default: {  // an error quoting a segment the target sent (RFC 5927 checks the seq)
      wire::Endpoint from{own, kPorts[a % std::size(kPorts)]}, peer{other, 80};
      SeqNum seqs[4];
      std::vector<const FlowSeen*> sent;
      for (const FlowSeen& f : world.flows()) {
        if (f.src.addr == own) sent.push_back(&f);
      }
      if (!sent.empty()) {
        const FlowSeen& f = *sent[a % sent.size()];
        from = f.src;
        peer = f.dst;
        seqs[0] = f.seq;
        seqs[1] = f.end - 1;
        seqs[2] = f.end;
        seqs[3] = f.seq - 1;
      }
      const std::vector<std::uint8_t> q = quote(from, peer, seqs[(b >> 4) & 3]);
      wire::IcmpRepr icmp;
      icmp.kind = (kind % 4 == 2) ? wire::IcmpRepr::Kind::kDestUnreachable
                                  : wire::IcmpRepr::Kind::kTimeExceeded;
      icmp.code = b % 16;
      icmp.next_hop_mtu = c;
      icmp.data = q;
      send(world, apps, to, icmp_frame(world, to, (a & 0x80) ? kRouter : peer.addr, icmp));
      return;
    }
  }
}

void mutate_recent(World& world, Apps& apps, ByteReader& in) {
  const std::uint8_t pick = in.u8(), what = in.u8();
  const std::uint16_t d1 = in.u16(), d2 = in.u16();
  const auto& recent = world.recent();
  if (recent.empty()) return;
  const SeenFrame& sf = recent[pick % recent.size()];
  auto t = se::test::as_tcp(sf.bytes);
  if (!t) return;
  wire::TcpRepr& tcp = t->tcp;
  std::vector<std::uint8_t> payload(t->payload.begin(), t->payload.end());
  if (what & 1) tcp.flags ^= static_cast<std::uint8_t>(d1);
  if (what & 2) tcp.seq += static_cast<std::uint32_t>(static_cast<std::int16_t>(d1));
  if (what & 4) tcp.ack += static_cast<std::uint32_t>(static_cast<std::int16_t>(d2));
  if (what & 8) tcp.window = d2;
  if (what & 16) {
    if (tcp.options.timestamps) {
      tcp.options.timestamps.reset();
    } else {
      tcp.options.timestamps = wire::TcpTimestamps{d1, d2};
    }
  }
  if (what & 32) {
    if (payload.empty()) {
      payload.assign(d1 % 64, static_cast<std::uint8_t>(d2));
    } else {
      payload.resize(d1 % (payload.size() + 1));
    }
  }
  if (what & 64) {
    tcp.options.sack[0] = wire::SackBlock{tcp.ack + d1, tcp.ack + d1 + d2};
    tcp.options.sack_count = 1;
  }
  if (what & 128) {
    tcp.options.mss.reset();
    tcp.options.window_scale = static_cast<std::uint8_t>(d2 % 16);
  }
  const wire::MacAddr dst_mac = world.mac(sf.to), src_mac = world.mac(1 - sf.to);
  send(world, apps, sf.to, se::test::tcp_frame(dst_mac, src_mac, t->ip.src, t->ip.dst, tcp, payload));
}

void raw_frame(World& world, Apps& apps, ByteReader& in) {
  const int to = in.u8() & 1;
  const std::uint8_t fix = in.u8();
  const std::uint8_t len = in.u8();
  const auto bytes = in.bytes(len);
  Frame f(bytes.begin(), bytes.end());
  if ((fix & 1) && f.size() >= wire::kEthernetHeaderLen) {
    const wire::MacAddr dst = world.mac(to), src = world.mac(1 - to);
    std::copy(dst.bytes.begin(), dst.bytes.end(), f.begin());
    std::copy(src.bytes.begin(), src.bytes.end(), f.begin() + 6);
  }
  constexpr std::size_t kIp = wire::kEthernetHeaderLen;
  if ((fix & 2) && f.size() >= kIp + wire::Ipv4Repr::kHeaderLen) {
    // A plausible IPv4 header: ours as destination, lengths that fit, a good checksum.
    f[12] = 0x08;
    f[13] = 0x00;
    std::size_t ihl = std::size_t{f[kIp] & 0x0fu} * 4;
    if ((f[kIp] >> 4) != 4 || ihl < 20 || kIp + ihl > f.size()) {
      f[kIp] = 0x45;
      ihl = 20;
    }
    const std::size_t total = f.size() - kIp;
    f[kIp + 2] = static_cast<std::uint8_t>(total >> 8);
    f[kIp + 3] = static_cast<std::uint8_t>(total);
    const std::uint32_t dst = world.engine(to).config().ip.value;
    for (int i = 0; i < 4; ++i) f[kIp + 16 + i] = static_cast<std::uint8_t>(dst >> (24 - 8 * i));
    f[kIp + 10] = f[kIp + 11] = 0;
    const std::uint16_t sum = wire::checksum_fold(wire::checksum_partial({f.data() + kIp, ihl}));
    f[kIp + 10] = static_cast<std::uint8_t>(sum >> 8);
    f[kIp + 11] = static_cast<std::uint8_t>(sum);
    const std::size_t l4 = kIp + ihl;
    if ((fix & 4) && f[kIp + 9] == wire::ip_protocol::kTcp && f.size() >= l4 + 20) {
      const wire::Ipv4Addr s{(std::uint32_t{f[kIp + 12]} << 24) | (std::uint32_t{f[kIp + 13]} << 16) |
                             (std::uint32_t{f[kIp + 14]} << 8) | f[kIp + 15]};
      f[l4 + 16] = f[l4 + 17] = 0;
      const std::span<const std::uint8_t> seg(f.data() + l4, f.size() - l4);
      const std::uint16_t tsum = wire::checksum_fold(wire::checksum_partial(
          seg, wire::pseudo_header_sum(s, wire::Ipv4Addr{dst}, wire::ip_protocol::kTcp,
                                       static_cast<std::uint16_t>(seg.size()))));
      f[l4 + 16] = static_cast<std::uint8_t>(tsum >> 8);
      f[l4 + 17] = static_cast<std::uint8_t>(tsum);
    }
  }
  send(world, apps, to, std::move(f));
}

}  // namespace utcp::fuzz
