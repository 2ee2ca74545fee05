// fuzz_wire: the frame parsers of stack/wire/, followed layer by layer exactly as
// Engine::input() does (stack/engine/engine_input.cc): Ethernet -> ARP | IPv4 -> TCP |
// ICMP (-> the quoted datagram of an error). Wherever a parse succeeds, the properties
// the engine relies on are checked and a violation aborts: views stay inside their
// buffers, and emitting a parsed value then parsing it again gives the same value.
// Input: byte 0 holds the device's checksum verdicts (bit 0: IPv4 header, bit 1: TCP),
// as PacketBuf::rx_*_checksum_ok, so mutated frames get past the checksums too; the
// rest is the Ethernet frame.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <vector>

#include "stack/wire/arp.h"
#include "stack/wire/checksum.h"
#include "stack/wire/ethernet.h"
#include "stack/wire/frame.h"
#include "stack/wire/icmp.h"
#include "stack/wire/ipv4.h"
#include "stack/wire/tcp.h"
#include "tests/fuzz/support/check.h"

namespace utcp::fuzz {
namespace {

namespace wire = stack::wire;
using Bytes = std::span<const std::uint8_t>;

struct Verdicts {
  bool ip_ok = false;  // the device verified the IPv4 header checksum
  bool l4_ok = false;  // the device verified the TCP checksum
};

bool inside(Bytes inner, Bytes outer) {
  return inner.data() >= outer.data() && inner.data() + inner.size() <= outer.data() + outer.size();
}

bool equal(Bytes a, Bytes b) { return std::equal(a.begin(), a.end(), b.begin(), b.end()); }

// --- checksums ---------------------------------------------------------------

// checksum.h: a partial sum continues correctly over a second span when the first had
// an even length.
void check_checksum_split(Bytes bytes) {
  const std::size_t cut = (bytes.size() / 2) & ~std::size_t{1};
  const std::uint32_t whole = wire::checksum_partial(bytes, 0x1234);
  const std::uint32_t split =
      wire::checksum_partial(bytes.subspan(cut), wire::checksum_partial(bytes.first(cut), 0x1234));
  FUZZ_CHECK(wire::checksum_fold(whole) == wire::checksum_fold(split),
             "split at %zu of %zu bytes: %#x vs %#x\n", cut, bytes.size(), whole, split);
}

// --- TCP -----------------------------------------------------------------------

// Emitting keeps every option but may drop SACK blocks that do not fit beside the others
// (tcp.cc's layout: at least two always fit); the blocks kept are the first ones.
void check_same_header(const wire::TcpRepr& got, const wire::TcpRepr& want) {
  FUZZ_CHECK(got.src_port == want.src_port && got.dst_port == want.dst_port &&
                 got.seq == want.seq && got.ack == want.ack && got.flags == want.flags &&
                 got.window == want.window && got.urgent == want.urgent,
             "fixed header changed by emit/parse\n");
  const wire::TcpOptions& g = got.options;
  const wire::TcpOptions& w = want.options;
  FUZZ_CHECK(g.mss == w.mss && g.window_scale == w.window_scale &&
                 g.sack_permitted == w.sack_permitted && g.timestamps == w.timestamps,
             "options changed by emit/parse\n");
  const std::size_t kept_min = std::min<std::size_t>(w.sack_count, 2);
  FUZZ_CHECK(g.sack_count <= w.sack_count && g.sack_count >= kept_min,
             "SACK blocks: %u emitted of %u\n", g.sack_count, w.sack_count);
  for (std::size_t i = 0; i < g.sack_count; ++i) {
    FUZZ_CHECK(g.sack[i] == w.sack[i], "SACK block %zu changed\n", i);
  }
}

// Emits `repr` + payload as a segment; returns the bytes.
std::vector<std::uint8_t> emit_segment(const wire::TcpRepr& repr, Bytes payload,
                                       const wire::Ipv4Repr& ip) {
  const std::size_t header_len = repr.header_len();
  FUZZ_CHECK(header_len >= wire::kTcpMinHeaderLen && header_len <= wire::kTcpMaxHeaderLen &&
                 header_len % 4 == 0,
             "header_len %zu\n", header_len);
  std::vector<std::uint8_t> seg(header_len + payload.size());
  std::copy(payload.begin(), payload.end(), seg.begin() + static_cast<std::ptrdiff_t>(header_len));
  wire::emit_tcp(repr, seg, ip.src, ip.dst, Bytes(seg).subspan(header_len), true);
  return seg;
}

// A segment as emit_tcp wrote it parses back to the same header, with a good checksum.
wire::TcpRepr reparse_segment(Bytes seg, const wire::Ipv4Repr& ip, std::size_t payload_len) {
  const auto view = wire::TcpView::check(seg);
  FUZZ_CHECK(view.has_value(), "emitted segment fails TcpView::check\n");
  FUZZ_CHECK(view->checksum_ok(ip.src, ip.dst), "emitted segment has a bad checksum\n");
  FUZZ_CHECK(view->payload().size() == payload_len, "payload %zu, want %zu\n",
             view->payload().size(), payload_len);
  const auto repr = wire::parse_tcp(*view);
  FUZZ_CHECK(repr.has_value(), "emitted segment fails parse_tcp\n");
  return *repr;
}

// The whole frame the engine would send for this header and payload (two payload
// pieces, as from the send ring), read back along the receive path.
void check_tcp_frame(const wire::TcpRepr& repr, Bytes payload, const wire::Ipv4Repr& ip) {
  std::vector<std::uint8_t> frame(wire::kTcpFrameL2L3Len + repr.header_len() + payload.size());
  const std::size_t half = payload.size() / 2;
  wire::Ipv4Repr out_ip = ip;
  const wire::MacAddr src{{0x02, 0, 0, 0, 0, 0x01}}, dst{{0x02, 0, 0, 0, 0, 0x02}};
  const std::size_t len = wire::emit_tcp_frame(frame, src, dst, out_ip, repr, payload.first(half),
                                               payload.subspan(half), wire::FrameChecksums{});
  if (wire::Ipv4Repr::kHeaderLen + repr.header_len() + payload.size() > 0xffff) {
    FUZZ_CHECK(len == 0, "oversized datagram emitted\n");
    return;
  }
  FUZZ_CHECK(len == frame.size(), "emit_tcp_frame wrote %zu of %zu\n", len, frame.size());
  const auto eth = wire::EthernetView::check(frame);
  FUZZ_CHECK(eth && eth->ethertype() == wire::ethertype::kIpv4, "frame: Ethernet\n");
  const auto ipv = wire::Ipv4View::check(eth->payload());
  FUZZ_CHECK(ipv.has_value(), "frame: IPv4 view\n");
  const auto ip2 = wire::Ipv4Repr::parse(*ipv, true);
  FUZZ_CHECK(ip2 && ip2->protocol == wire::ip_protocol::kTcp && ip2->src == ip.src &&
                 ip2->dst == ip.dst && ip2->ttl == ip.ttl && ip2->ident == ip.ident,
             "frame: IPv4 header\n");
  const wire::TcpRepr back = reparse_segment(ipv->payload(), ip, payload.size());
  check_same_header(back, repr);
  FUZZ_CHECK(equal(ipv->payload().subspan(repr.header_len()), payload), "frame: payload\n");
}

void check_tcp(const wire::Ipv4Repr& ip, Bytes bytes, Verdicts v) {
  const auto view = wire::TcpView::check(bytes);
  if (!view) return;
  const std::size_t hl = view->header_len();
  FUZZ_CHECK(hl >= wire::kTcpMinHeaderLen && hl <= wire::kTcpMaxHeaderLen && hl <= bytes.size(),
             "TcpView header_len %zu of %zu\n", hl, bytes.size());
  FUZZ_CHECK(view->options().size() == hl - wire::kTcpMinHeaderLen && inside(view->options(), bytes),
             "TcpView options\n");
  FUZZ_CHECK(view->payload().size() == bytes.size() - hl && inside(view->payload(), bytes),
             "TcpView payload\n");
  check_checksum_split(bytes);
  // The engine drops what fails the checksum unless the device verified it.
  if (!v.l4_ok && !view->checksum_ok(ip.src, ip.dst)) return;
  const auto repr = wire::parse_tcp(*view);
  if (!repr) return;
  FUZZ_CHECK(repr->options.sack_count <= wire::kTcpMaxSackBlocks, "sack_count %u\n",
             repr->options.sack_count);
  const Bytes payload = view->payload();
  const std::vector<std::uint8_t> seg = emit_segment(*repr, payload, ip);
  const wire::TcpRepr back = reparse_segment(seg, ip, payload.size());
  check_same_header(back, *repr);
  // Emitting what was read back writes the same bytes: emit is a function of the value.
  FUZZ_CHECK(emit_segment(back, payload, ip) == seg, "emit(parse(emit(r))) != emit(r)\n");
  check_tcp_frame(back, payload, ip);
}

// --- ICMP ----------------------------------------------------------------------

// The quote of an error: the fields read are the bytes at their RFC 791/9293 offsets,
// and a quote rebuilt from them reads back the same.
void check_quoted_tcp(Bytes quoted) {
  const auto q = wire::parse_quoted_tcp(quoted);
  if (!q) return;
  const std::size_t ihl = std::size_t{quoted[0] & 0x0fu} * 4;
  FUZZ_CHECK(ihl >= 20 && ihl + 8 <= quoted.size(), "quote accepted with IHL %zu of %zu\n", ihl,
             quoted.size());
  std::vector<std::uint8_t> rebuilt(28, 0);
  wire::Ipv4Repr ip;
  ip.src = q->src;
  ip.dst = q->dst;
  ip.protocol = wire::ip_protocol::kTcp;
  ip.payload_len = 8;
  ip.emit(rebuilt, true);
  const std::uint8_t ports_seq[8] = {
      static_cast<std::uint8_t>(q->src_port >> 8), static_cast<std::uint8_t>(q->src_port),
      static_cast<std::uint8_t>(q->dst_port >> 8), static_cast<std::uint8_t>(q->dst_port),
      static_cast<std::uint8_t>(q->seq.raw() >> 24), static_cast<std::uint8_t>(q->seq.raw() >> 16),
      static_cast<std::uint8_t>(q->seq.raw() >> 8), static_cast<std::uint8_t>(q->seq.raw())};
  std::memcpy(rebuilt.data() + 20, ports_seq, 8);
  FUZZ_CHECK(equal(Bytes(rebuilt).subspan(20), quoted.subspan(ihl, 8)), "quoted ports/seq\n");
  const auto again = wire::parse_quoted_tcp(rebuilt);
  FUZZ_CHECK(again && *again == *q, "rebuilt quote reads differently\n");
}

void check_icmp_repr(const wire::IcmpView& view, const wire::IcmpRepr& icmp) {
  FUZZ_CHECK(icmp.data.data() == view.bytes().data() + wire::kIcmpHeaderLen &&
                 icmp.data.size() == view.bytes().size() - wire::kIcmpHeaderLen,
             "ICMP data span\n");
  std::vector<std::uint8_t> out(icmp.len());
  icmp.emit(out);
  const auto view2 = wire::IcmpView::check(out);
  FUZZ_CHECK(view2 && view2->checksum_ok(), "emitted ICMP has a bad checksum\n");
  const auto back = wire::IcmpRepr::parse(*view2, true);
  FUZZ_CHECK(back.has_value(), "emitted ICMP fails to parse\n");
  FUZZ_CHECK(back->kind == icmp.kind && back->code == icmp.code && back->ident == icmp.ident &&
                 back->seq_no == icmp.seq_no && back->next_hop_mtu == icmp.next_hop_mtu &&
                 equal(back->data, icmp.data),
             "ICMP emit/parse round trip\n");
  if (icmp.kind == wire::IcmpRepr::Kind::kEchoRequest ||
      icmp.kind == wire::IcmpRepr::Kind::kEchoReply) {
    // An echo is rebuilt byte for byte, except for the checksum's two encodings of zero.
    FUZZ_CHECK(equal(Bytes(out).first(2), view.bytes().first(2)) &&
                   equal(Bytes(out).subspan(4), view.bytes().subspan(4)),
               "echo not rebuilt as received\n");
  }
}

void check_icmp(Bytes bytes) {
  const auto view = wire::IcmpView::check(bytes);
  if (!view) return;
  // The engine always verifies ICMP checksums; unverified parsing is the same reader.
  const auto checked = wire::IcmpRepr::parse(*view, true);
  const auto unchecked = wire::IcmpRepr::parse(*view, false);
  FUZZ_CHECK(!checked || view->checksum_ok(), "parse(verify) accepted a bad checksum\n");
  FUZZ_CHECK(!checked || unchecked, "verified parse succeeded, unverified failed\n");
  if (!unchecked) return;
  check_icmp_repr(*view, *unchecked);
  if (unchecked->kind == wire::IcmpRepr::Kind::kDestUnreachable) check_quoted_tcp(unchecked->data);
}

// --- ARP, IPv4, Ethernet ---------------------------------------------------------

void check_arp(Bytes bytes) {
  const auto view = wire::ArpView::check(bytes);
  if (!view) return;
  FUZZ_CHECK(view->bytes().size() == wire::ArpRepr::kLen && view->bytes().data() == bytes.data(),
             "ArpView span\n");
  const auto arp = wire::ArpRepr::parse(*view);
  if (!arp) return;
  // check() fixed hardware/protocol types and lengths, parse() the operation: every
  // byte of the packet is accounted for, so emit rebuilds it exactly.
  std::uint8_t out[wire::ArpRepr::kLen];
  arp->emit(out);
  FUZZ_CHECK(equal(out, view->bytes()), "ARP not rebuilt as received\n");
}

void check_ipv4(Bytes bytes, Verdicts v) {
  const auto view = wire::Ipv4View::check(bytes);
  if (!view) return;
  const std::size_t hl = view->header_len(), tl = view->total_len();
  FUZZ_CHECK(hl >= 20 && hl <= tl && tl <= bytes.size() && view->bytes().size() == tl,
             "Ipv4View lengths: header %zu total %zu buffer %zu\n", hl, tl, bytes.size());
  FUZZ_CHECK(view->payload().size() == tl - hl && inside(view->payload(), view->bytes()) &&
                 view->options().size() == hl - 20,
             "Ipv4View spans\n");
  const auto ip = wire::Ipv4Repr::parse(*view, !v.ip_ok);
  if (!ip) return;
  FUZZ_CHECK(v.ip_ok || view->checksum_ok(), "parse(verify) accepted a bad checksum\n");
  FUZZ_CHECK(!view->is_fragment(), "fragment parsed\n");
  // Round trip: our emitter (no options) + the payload reads back as the same value.
  std::vector<std::uint8_t> out(ip->total_len());
  ip->emit(out, true);
  std::copy(view->payload().begin(), view->payload().end(), out.begin() + 20);
  const auto view2 = wire::Ipv4View::check(out);
  FUZZ_CHECK(view2.has_value(), "emitted IPv4 fails check\n");
  const auto back = wire::Ipv4Repr::parse(*view2, true);
  FUZZ_CHECK(back && *back == *ip, "IPv4 emit/parse round trip\n");
  switch (ip->protocol) {
    case wire::ip_protocol::kTcp: check_tcp(*ip, view->payload(), v); return;
    case wire::ip_protocol::kIcmp: check_icmp(view->payload()); return;
    default: return;
  }
}

void check_frame(Bytes frame, Verdicts v) {
  const auto eth = wire::EthernetView::check(frame);
  if (!eth) return;
  FUZZ_CHECK(eth->payload().size() == frame.size() - wire::kEthernetHeaderLen,
             "Ethernet payload\n");
  const auto repr = wire::EthernetRepr::parse(*eth);
  FUZZ_CHECK(repr.has_value(), "checked Ethernet header fails to parse\n");
  std::uint8_t out[wire::kEthernetHeaderLen];
  repr->emit(out);
  FUZZ_CHECK(equal(out, frame.first(wire::kEthernetHeaderLen)), "Ethernet not rebuilt\n");
  switch (eth->ethertype()) {
    case wire::ethertype::kArp: check_arp(eth->payload()); return;
    case wire::ethertype::kIpv4: check_ipv4(eth->payload(), v); return;
    default: return;
  }
}

}  // namespace
}  // namespace utcp::fuzz

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const utcp::fuzz::Verdicts v{(data[0] & 1) != 0, (data[0] & 2) != 0};
  // A copy of exactly the frame's length, so ASan sees any read past its end.
  const std::vector<std::uint8_t> frame(data + 1, data + size);
  utcp::fuzz::check_frame(frame, v);
  return 0;
}
