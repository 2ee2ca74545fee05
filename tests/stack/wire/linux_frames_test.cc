// Frames the Linux kernel sent (linux_frames.h): each parses at every layer with
// valid checksums, Linux's SYN options come out as sent, our emitters reproduce
// Linux's bytes, and every truncation of every frame is refused cleanly.
#include <catch2/catch.hpp>

#include <vector>

#include "linux_frames.h"
#include "stack/wire/frame.h"
#include "wire_test_util.h"

using namespace utcp::stack::wire;
namespace lf = utcp::stack::wire::linux_frames;

namespace {

const Ipv4Addr kHostA = Ipv4Addr::from_octets(198, 18, 1, 1);
const Ipv4Addr kHostB = Ipv4Addr::from_octets(198, 18, 1, 2);
const MacAddr kMacA{{0x02, 0, 0, 0, 0, 0x01}};
const MacAddr kMacB{{0x02, 0, 0, 0, 0, 0x02}};

struct TcpFrame {
  EthernetRepr eth;
  Ipv4Repr ip;
  TcpRepr tcp;
  std::span<const std::uint8_t> payload;
};

TcpFrame parse_tcp_frame(std::span<const std::uint8_t> frame) {
  const auto eth = EthernetView::check(frame);
  REQUIRE(eth);
  const auto ip_view = Ipv4View::check(eth->payload());
  REQUIRE(ip_view);
  const auto ip = Ipv4Repr::parse(*ip_view, true);
  REQUIRE(ip);
  REQUIRE(ip->protocol == ip_protocol::kTcp);
  const auto tcp_view = TcpView::check(ip_view->payload());
  REQUIRE(tcp_view);
  const auto tcp = parse_tcp(*tcp_view);
  REQUIRE(tcp);
  return {*EthernetRepr::parse(*eth), *ip, *tcp, tcp_view->payload()};
}

bool is_tcp(std::span<const std::uint8_t> frame) {
  return frame[12] == 0x08 && frame[13] == 0x00 && frame[23] == ip_protocol::kTcp;
}

}  // namespace

TEST_CASE("every Linux frame parses with valid checksums", "[wire][linux]") {
  for (const auto& f : lf::kAll) {
    INFO(f.name);
    const auto bytes = test::copy_of(f.bytes);
    CHECK(test::parse_whole_frame(bytes) == ParseError::kNone);
  }
}

TEST_CASE("every truncation of every Linux frame is refused", "[wire][linux][malformed]") {
  for (const auto& f : lf::kAll) {
    for (std::size_t len = 0; len < f.bytes.size(); ++len) {
      const auto bytes = test::copy_of(f.bytes.first(len));
      INFO(f.name << " cut to " << len);
      CHECK(test::parse_whole_frame(bytes) != ParseError::kNone);
    }
  }
}

TEST_CASE("a corrupted byte in a Linux TCP frame fails its checksum", "[wire][linux]") {
  for (const auto& f : lf::kAll) {
    if (!is_tcp(f.bytes)) continue;
    // Flip the last byte: TCP payload or option bytes, never a length field.
    auto bytes = test::copy_of(f.bytes);
    bytes.back() ^= 0x20;
    INFO(f.name);
    CHECK(test::parse_whole_frame(bytes) == ParseError::kBadChecksum);
  }
}

TEST_CASE("Linux ARP request and reply parse", "[wire][linux]") {
  const auto request_eth = EthernetView::check(lf::kArpRequest);
  REQUIRE(request_eth);
  const auto request = ArpRepr::parse(*ArpView::check(request_eth->payload()));
  REQUIRE(request);
  CHECK(request->op == ArpOp::kRequest);
  CHECK(request->sender_mac == kMacA);
  CHECK(request->sender_ip == kHostA);
  CHECK(request->target_ip == kHostB);
  const auto eth = EthernetView::check(lf::kArpReply);
  REQUIRE(eth);
  const auto reply = ArpRepr::parse(*ArpView::check(eth->payload()));
  REQUIRE(reply);
  CHECK(*reply == ArpRepr{ArpOp::kReply, kMacB, kHostB, kMacA, kHostA});

  // Re-emitting the reply gives Linux's bytes.
  std::vector<std::uint8_t> out(kEthernetHeaderLen + ArpRepr::kLen);
  EthernetRepr::parse(*eth)->emit(out);
  reply->emit(std::span(out).subspan(kEthernetHeaderLen));
  CHECK(out == test::copy_of(lf::kArpReply));
}

TEST_CASE("our echo reply to Linux's echo request is Linux's reply", "[wire][linux]") {
  const auto req_ip = Ipv4View::check(EthernetView::check(lf::kIcmpEchoRequest)->payload());
  REQUIRE(req_ip);
  const auto req = IcmpRepr::parse(*IcmpView::check(req_ip->payload()), true);
  REQUIRE(req);
  CHECK(req->kind == IcmpRepr::Kind::kEchoRequest);
  CHECK(req->data.size() == 56);

  IcmpRepr reply = *req;
  reply.kind = IcmpRepr::Kind::kEchoReply;
  std::vector<std::uint8_t> out(reply.len());
  reply.emit(out);
  const auto linux_reply = Ipv4View::check(EthernetView::check(lf::kIcmpEchoReply)->payload());
  REQUIRE(linux_reply);
  CHECK(out == test::copy_of(linux_reply->payload()));
}

TEST_CASE("Linux SYN options come out as Linux sent them", "[wire][linux]") {
  const TcpFrame syn = parse_tcp_frame(lf::kTcpSyn);
  CHECK(syn.tcp.flags == tcp_flags::kSyn);
  CHECK(syn.tcp.options.mss == 1460);
  CHECK(syn.tcp.options.sack_permitted);
  REQUIRE(syn.tcp.options.timestamps);
  CHECK(syn.tcp.options.timestamps->tsecr == 0);
  CHECK(syn.tcp.options.window_scale == 10);
  CHECK(syn.tcp.options.sack_count == 0);
  CHECK(syn.tcp.header_len() == 40);

  const TcpFrame syn_ack = parse_tcp_frame(lf::kTcpSynAck);
  CHECK(syn_ack.tcp.flags == (tcp_flags::kSyn | tcp_flags::kAck));
  CHECK(syn_ack.tcp.ack == syn.tcp.seq + 1);
  CHECK(syn_ack.tcp.options.timestamps->tsecr == syn.tcp.options.timestamps->tsval);
}

TEST_CASE("re-emitting each Linux TCP frame gives Linux's bytes", "[wire][linux]") {
  for (const auto& f : lf::kAll) {
    if (!is_tcp(f.bytes)) continue;
    INFO(f.name);
    const TcpFrame parsed = parse_tcp_frame(f.bytes);
    // Linux lays out options as we do, sends TOS 0 and no IP options: the whole
    // frame must come back byte for byte.
    std::vector<std::uint8_t> out(f.bytes.size());
    const std::size_t len =
        emit_tcp_frame(out, parsed.eth.src, parsed.eth.dst, parsed.ip, parsed.tcp,
                       parsed.payload.first(parsed.payload.size() / 2),
                       parsed.payload.subspan(parsed.payload.size() / 2), {});
    CHECK(len == f.bytes.size());
    CHECK(out == test::copy_of(f.bytes));
  }
}

TEST_CASE("Linux data segments carry the bytes the programs wrote", "[wire][linux]") {
  const TcpFrame data = parse_tcp_frame(lf::kTcpPshAck);
  CHECK(std::vector<std::uint8_t>(data.payload.begin(), data.payload.end()) ==
        std::vector<std::uint8_t>{'h', 'e', 'l', 'l', 'o', ' ', 'u', 't', 'c', 'p', '\n'});
  const TcpFrame fin = parse_tcp_frame(lf::kTcpFinAck);
  CHECK(fin.tcp.has(tcp_flags::kFin));
  CHECK(fin.payload.empty());
}
