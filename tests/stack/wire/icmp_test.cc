// ICMP (RFC 792, RFC 1191 §4): echo and error literals round-trip, checksums are
// verified, and the quoted datagram of an error yields the TCP connection it is about.
#include <catch2/catch.hpp>

#include <vector>

#include "stack/wire/icmp.h"
#include "wire_test_util.h"

using namespace utcp::stack::wire;

namespace {

const std::vector<std::uint8_t> kEchoRequest = {0x08, 0x00, 0x21, 0x04, 0x12, 0x34,
                                                0x00, 0x01, 'a',  'b',  'c',  'd'};

// The quote: IPv4 198.18.1.1 -> 198.18.1.2 TCP, ports 12345 -> 5001, seq 0xdeadbeef.
const std::vector<std::uint8_t> kQuote = {
    0x45, 0x00, 0x05, 0xdc, 0x00, 0x00, 0x40, 0x00, 0x40, 0x06, 0xa6, 0xf4, 0xc6, 0x12,
    0x01, 0x01, 0xc6, 0x12, 0x01, 0x02, 0x30, 0x39, 0x13, 0x89, 0xde, 0xad, 0xbe, 0xef};

std::vector<std::uint8_t> frag_needed_message() {
  std::vector<std::uint8_t> m = {0x03, 0x04, 0x16, 0x24, 0x00, 0x00, 0x05, 0x78};
  m.insert(m.end(), kQuote.begin(), kQuote.end());
  return m;
}

const QuotedTcp kQuoted{Ipv4Addr::from_octets(198, 18, 1, 1),
                        Ipv4Addr::from_octets(198, 18, 1, 2), 12345, 5001,
                        utcp::stack::SeqNum(0xdeadbeefu)};

std::vector<std::uint8_t> emit(const IcmpRepr& r) {
  std::vector<std::uint8_t> out(r.len());
  r.emit(out);
  return out;
}

}  // namespace

TEST_CASE("ICMP echo request parses from bytes", "[wire][icmp]") {
  const auto view = IcmpView::check(kEchoRequest);
  REQUIRE(view);
  CHECK(view->checksum_ok());
  ParseError why = ParseError::kTruncated;
  const auto repr = IcmpRepr::parse(*view, true, &why);
  REQUIRE(repr);
  CHECK(why == ParseError::kNone);
  CHECK(repr->kind == IcmpRepr::Kind::kEchoRequest);
  CHECK(repr->code == 0);
  CHECK(repr->ident == 0x1234);
  CHECK(repr->seq_no == 1);
  CHECK(std::vector<std::uint8_t>(repr->data.begin(), repr->data.end()) ==
        std::vector<std::uint8_t>{'a', 'b', 'c', 'd'});
}

TEST_CASE("ICMP echo request emits the same bytes", "[wire][icmp]") {
  const std::vector<std::uint8_t> data = {'a', 'b', 'c', 'd'};
  IcmpRepr r;
  r.kind = IcmpRepr::Kind::kEchoRequest;
  r.ident = 0x1234;
  r.seq_no = 1;
  r.data = data;
  CHECK(emit(r) == kEchoRequest);
}

TEST_CASE("ICMP echo reply is built in place over the request", "[wire][icmp]") {
  auto buf = kEchoRequest;
  const auto view = IcmpView::check(buf);
  REQUIRE(view);
  auto repr = IcmpRepr::parse(*view, true);
  REQUIRE(repr);
  repr->kind = IcmpRepr::Kind::kEchoReply;
  repr->emit(buf);  // data already sits at its place: memmove onto itself
  const auto reply = IcmpView::check(buf);
  REQUIRE(reply);
  CHECK(reply->type() == icmp_type::kEchoReply);
  CHECK(reply->checksum_ok());
  CHECK(reply->ident() == 0x1234);
  CHECK(reply->seq_no() == 1);
  CHECK(reply->data().size() == 4);
  CHECK(reply->data()[3] == 'd');
}

TEST_CASE("ICMP fragmentation needed carries the next-hop MTU", "[wire][icmp]") {
  const auto msg = frag_needed_message();
  const auto view = IcmpView::check(msg);
  REQUIRE(view);
  const auto repr = IcmpRepr::parse(*view, true);
  REQUIRE(repr);
  CHECK(repr->kind == IcmpRepr::Kind::kDestUnreachable);
  CHECK(repr->code == icmp_unreach::kFragNeeded);
  CHECK(repr->next_hop_mtu == 1400);
  CHECK(repr->data.size() == kQuote.size());
  CHECK(parse_quoted_tcp(repr->data) == kQuoted);
  CHECK(emit(*repr) == msg);
}

TEST_CASE("ICMP port unreachable has no MTU", "[wire][icmp]") {
  IcmpRepr r;
  r.kind = IcmpRepr::Kind::kDestUnreachable;
  r.code = icmp_unreach::kPort;
  r.next_hop_mtu = 1400;  // not for this code: not emitted
  r.data = kQuote;
  const auto bytes = emit(r);
  CHECK(bytes[6] == 0);
  CHECK(bytes[7] == 0);
  const auto view = IcmpView::check(bytes);
  REQUIRE(view);
  const auto parsed = IcmpRepr::parse(*view, true);
  REQUIRE(parsed);
  CHECK(parsed->next_hop_mtu == 0);
}

TEST_CASE("ICMP time exceeded round-trips", "[wire][icmp]") {
  std::vector<std::uint8_t> msg = {0x0b, 0x00, 0x13, 0xa0, 0, 0, 0, 0};
  msg.insert(msg.end(), kQuote.begin(), kQuote.end());
  const auto view = IcmpView::check(msg);
  REQUIRE(view);
  const auto repr = IcmpRepr::parse(*view, true);
  REQUIRE(repr);
  CHECK(repr->kind == IcmpRepr::Kind::kTimeExceeded);
  CHECK(parse_quoted_tcp(repr->data) == kQuoted);
  CHECK(emit(*repr) == msg);
}

TEST_CASE("ICMP bad checksum is detected", "[wire][icmp]") {
  auto msg = kEchoRequest;
  msg.back() ^= 0x01;
  const auto view = IcmpView::check(msg);
  REQUIRE(view);
  CHECK_FALSE(view->checksum_ok());
  ParseError why = ParseError::kNone;
  CHECK_FALSE(IcmpRepr::parse(*view, true, &why));
  CHECK(why == ParseError::kBadChecksum);
  CHECK(IcmpRepr::parse(*view, false));
}

TEST_CASE("ICMP types we do not handle are unsupported", "[wire][icmp]") {
  auto msg = kEchoRequest;
  msg[0] = 5;  // redirect
  const auto view = IcmpView::check(msg);
  REQUIRE(view);
  ParseError why = ParseError::kNone;
  CHECK_FALSE(IcmpRepr::parse(*view, false, &why));
  CHECK(why == ParseError::kUnsupported);
}

TEST_CASE("ICMP shorter than 8 bytes is truncated", "[wire][icmp]") {
  for (std::size_t len = 0; len < kIcmpHeaderLen; ++len) {
    const auto bytes = test::copy_of(std::span(kEchoRequest).first(len));
    ParseError why = ParseError::kNone;
    CHECK_FALSE(IcmpView::check(bytes, &why));
    CHECK(why == ParseError::kTruncated);
  }
}

TEST_CASE("ICMP quoted TCP is found behind IPv4 options", "[wire][icmp]") {
  auto quote = kQuote;
  quote[0] = 0x47;  // IHL 7: 8 bytes of options
  quote.insert(quote.begin() + 20, {0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0x00});
  CHECK(parse_quoted_tcp(quote) == kQuoted);
}

TEST_CASE("ICMP quote without 8 bytes of TCP is rejected", "[wire][icmp]") {
  for (std::size_t len = 0; len < kQuote.size(); ++len) {
    const auto bytes = test::copy_of(std::span(kQuote).first(len));
    CHECK_FALSE(parse_quoted_tcp(bytes));
  }
  auto quote = kQuote;
  quote[0] = 0x46;  // IHL 6: the TCP bytes would start 4 bytes later
  CHECK_FALSE(parse_quoted_tcp(quote));
}

TEST_CASE("ICMP quote of something other than IPv4 TCP is rejected", "[wire][icmp]") {
  auto udp = kQuote;
  udp[9] = 17;
  CHECK_FALSE(parse_quoted_tcp(udp));
  auto v6 = kQuote;
  v6[0] = 0x65;
  CHECK_FALSE(parse_quoted_tcp(v6));
  auto short_ihl = kQuote;
  short_ihl[0] = 0x44;
  CHECK_FALSE(parse_quoted_tcp(short_ihl));
}
