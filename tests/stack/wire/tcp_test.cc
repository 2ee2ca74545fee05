// TCP header and options (RFC 9293 §3.1, RFC 7323, RFC 2018): literal round trips,
// Linux's option layout, the 40-byte option budget, and checksum offload fields.
#include <catch2/catch.hpp>

#include <vector>

#include "stack/wire/checksum.h"
#include "stack/wire/tcp.h"
#include "wire_test_util.h"

using namespace utcp::stack::wire;
using utcp::stack::SeqNum;

namespace {

const Ipv4Addr kSrc = Ipv4Addr::from_octets(198, 18, 1, 1);
const Ipv4Addr kDst = Ipv4Addr::from_octets(198, 18, 1, 2);

// SYN 12345 -> 5001, seq 0x01020304, win 64240, options in Linux's SYN layout:
// mss 1460, sackOK, TS val 1 ecr 0, nop, wscale 7.
const std::vector<std::uint8_t> kSyn = {
    0x30, 0x39, 0x13, 0x89, 0x01, 0x02, 0x03, 0x04, 0x00, 0x00, 0x00, 0x00, 0xa0, 0x02,
    0xfa, 0xf0, 0x77, 0x1e, 0x00, 0x00, 0x02, 0x04, 0x05, 0xb4, 0x04, 0x02, 0x08, 0x0a,
    0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x01, 0x03, 0x03, 0x07};

// PSH|ACK with NOP,NOP,TS and 3 bytes of data.
const std::vector<std::uint8_t> kData = {
    0x30, 0x39, 0x13, 0x89, 0x01, 0x02, 0x03, 0x05, 0x05, 0x06, 0x07, 0x08, 0x80, 0x18,
    0x01, 0xf5, 0x09, 0x4a, 0x00, 0x00, 0x01, 0x01, 0x08, 0x0a, 0x00, 0x00, 0x00, 0x02,
    0x00, 0x00, 0x00, 0x09, 'h',  'i',  '!'};

TcpRepr syn_repr() {
  TcpRepr r;
  r.src_port = 12345;
  r.dst_port = 5001;
  r.seq = SeqNum(0x01020304);
  r.flags = tcp_flags::kSyn;
  r.window = 64240;
  r.options.mss = 1460;
  r.options.sack_permitted = true;
  r.options.timestamps = TcpTimestamps{1, 0};
  r.options.window_scale = 7;
  return r;
}

TcpRepr data_repr() {
  TcpRepr r;
  r.src_port = 12345;
  r.dst_port = 5001;
  r.seq = SeqNum(0x01020305);
  r.ack = SeqNum(0x05060708);
  r.flags = tcp_flags::kPsh | tcp_flags::kAck;
  r.window = 501;
  r.options.timestamps = TcpTimestamps{2, 9};
  return r;
}

std::vector<std::uint8_t> emit(const TcpRepr& r, std::span<const std::uint8_t> payload = {},
                               bool fill_checksum = true) {
  std::vector<std::uint8_t> out(r.header_len());
  emit_tcp(r, out, kSrc, kDst, payload, fill_checksum);
  out.insert(out.end(), payload.begin(), payload.end());
  return out;
}

std::vector<std::uint8_t> options_of(const TcpRepr& r) {
  const auto bytes = emit(r);
  return {bytes.begin() + 20, bytes.end()};
}

TcpRepr parse_ok(std::span<const std::uint8_t> bytes) {
  const auto view = TcpView::check(bytes);
  REQUIRE(view);
  ParseError why = ParseError::kTruncated;
  const auto repr = parse_tcp(*view, &why);
  REQUIRE(repr);
  CHECK(why == ParseError::kNone);
  return *repr;
}

void add_sack_blocks(TcpRepr& r, std::uint8_t n) {
  for (std::uint8_t i = 0; i < n; ++i) {
    r.options.sack[i] = SackBlock{SeqNum(1000u * (i + 1)), SeqNum(1000u * (i + 1) + 500)};
  }
  r.options.sack_count = n;
}

}  // namespace

TEST_CASE("TCP SYN parses from bytes", "[wire][tcp]") {
  const auto view = TcpView::check(kSyn);
  REQUIRE(view);
  CHECK(view->header_len() == 40);
  CHECK(view->options().size() == 20);
  CHECK(view->payload().empty());
  CHECK(view->checksum() == 0x771e);
  CHECK(view->checksum_ok(kSrc, kDst));
  CHECK_FALSE(view->checksum_ok(kDst, Ipv4Addr::from_octets(198, 18, 1, 3)));
  CHECK(parse_ok(kSyn) == syn_repr());
}

TEST_CASE("TCP SYN emits the same bytes", "[wire][tcp]") {
  CHECK(syn_repr().header_len() == 40);
  CHECK(emit(syn_repr()) == kSyn);
}

TEST_CASE("TCP data segment round-trips with its payload", "[wire][tcp]") {
  const auto view = TcpView::check(kData);
  REQUIRE(view);
  CHECK(view->checksum_ok(kSrc, kDst));
  CHECK(view->payload().size() == 3);
  CHECK(parse_ok(kData) == data_repr());
  const std::vector<std::uint8_t> payload = {'h', 'i', '!'};
  CHECK(emit(data_repr(), payload) == kData);
}

TEST_CASE("TCP checksum offload stores the uncomplemented pseudo-header sum", "[wire][tcp]") {
  const std::vector<std::uint8_t> payload = {'h', 'i', '!'};
  const auto bytes = emit(data_repr(), payload, false);
  const std::uint16_t expected = checksum_reduce(pseudo_header_sum(kSrc, kDst, 6, 35));
  CHECK(bytes[16] == (expected >> 8));
  CHECK(bytes[17] == (expected & 0xff));
}

TEST_CASE("TCP emit into a buffer shorter than the header writes nothing", "[wire][tcp]") {
  std::vector<std::uint8_t> out(39, 0xee);
  emit_tcp(syn_repr(), out, kSrc, kDst, {}, true);
  CHECK(out == std::vector<std::uint8_t>(39, 0xee));
}

TEST_CASE("TCP options follow Linux's layout", "[wire][tcp][options]") {
  TcpRepr r;
  SECTION("MSS and window scale only") {
    r.options.mss = 1460;
    r.options.window_scale = 7;
    CHECK(options_of(r) == std::vector<std::uint8_t>{2, 4, 0x05, 0xb4, 1, 3, 3, 7});
  }
  SECTION("SACK-permitted without timestamps") {
    r.options.mss = 1460;
    r.options.sack_permitted = true;
    r.options.window_scale = 7;
    CHECK(options_of(r) ==
          std::vector<std::uint8_t>{2, 4, 0x05, 0xb4, 1, 1, 4, 2, 1, 3, 3, 7});
  }
  SECTION("timestamps without SACK-permitted") {
    r.options.timestamps = TcpTimestamps{0x01020304, 0x05060708};
    CHECK(options_of(r) == std::vector<std::uint8_t>{1, 1, 8, 10, 1, 2, 3, 4, 5, 6, 7, 8});
  }
  SECTION("timestamps then SACK blocks") {
    r.options.timestamps = TcpTimestamps{1, 2};
    add_sack_blocks(r, 1);
    CHECK(options_of(r) == std::vector<std::uint8_t>{1, 1, 8, 10, 0, 0, 0, 1, 0, 0, 0, 2,
                                                     1, 1, 5, 10, 0, 0, 0x03, 0xe8, 0, 0,
                                                     0x05, 0xdc});
  }
  SECTION("no options") {
    CHECK(options_of(r).empty());
    CHECK(r.header_len() == 20);
  }
}

TEST_CASE("TCP SACK blocks are cut to fit 40 bytes of options", "[wire][tcp][options]") {
  TcpRepr r;
  SECTION("four blocks fit alone") {
    add_sack_blocks(r, 4);
    CHECK(r.options.emitted_len() == 36);
    CHECK(parse_ok(emit(r)).options.sack_count == 4);
  }
  SECTION("timestamps leave room for three") {
    r.options.timestamps = TcpTimestamps{1, 2};
    add_sack_blocks(r, 4);
    CHECK(r.options.emitted_len() == 40);
    const TcpRepr back = parse_ok(emit(r));
    CHECK(back.options.sack_count == 3);
    CHECK(back.options.sack[2] == r.options.sack[2]);
  }
  SECTION("MSS, timestamps and window scale leave room for two") {
    r.options.mss = 1460;
    r.options.timestamps = TcpTimestamps{1, 2};
    r.options.window_scale = 7;
    add_sack_blocks(r, 4);
    CHECK(r.options.emitted_len() == 40);
    CHECK(parse_ok(emit(r)).options.sack_count == 2);
  }
}

TEST_CASE("TCP emitted_len agrees with emit for every option combination",
          "[wire][tcp][options]") {
  for (int mask = 0; mask < 16; ++mask) {
    for (std::uint8_t blocks = 0; blocks <= kTcpMaxSackBlocks; ++blocks) {
      TcpRepr r;
      if (mask & 1) r.options.mss = 536;
      if (mask & 2) r.options.sack_permitted = true;
      if (mask & 4) r.options.timestamps = TcpTimestamps{7, 8};
      if (mask & 8) r.options.window_scale = 14;
      add_sack_blocks(r, blocks);
      INFO("mask " << mask << " blocks " << int{blocks});
      const auto bytes = emit(r);
      REQUIRE(bytes.size() == r.header_len());
      CHECK(bytes.size() % 4 == 0);
      CHECK(bytes.size() <= kTcpMaxHeaderLen);
      CHECK(std::size_t{bytes[12]} >> 4 == bytes.size() / 4);
      const TcpRepr back = parse_ok(bytes);
      CHECK(back.options.mss == r.options.mss);
      CHECK(back.options.sack_permitted == r.options.sack_permitted);
      CHECK(back.options.timestamps == r.options.timestamps);
      CHECK(back.options.window_scale == r.options.window_scale);
      CHECK(back.options.sack_count <= blocks);
      CHECK(TcpView::check(bytes)->checksum_ok(kSrc, kDst));
    }
  }
}

TEST_CASE("TCP flags and fields come out of the view", "[wire][tcp]") {
  TcpRepr r = data_repr();
  r.flags = tcp_flags::kFin | tcp_flags::kAck | tcp_flags::kUrg | tcp_flags::kCwr;
  r.urgent = 0xbeef;
  const auto bytes = emit(r);
  const auto view = TcpView::check(bytes);
  REQUIRE(view);
  CHECK(view->src_port() == 12345);
  CHECK(view->dst_port() == 5001);
  CHECK(view->seq() == SeqNum(0x01020305));
  CHECK(view->ack() == SeqNum(0x05060708));
  CHECK(view->flags() == r.flags);
  CHECK(view->window() == 501);
  CHECK(view->urgent() == 0xbeef);
  const TcpRepr back = parse_ok(bytes);
  CHECK(back.has(tcp_flags::kFin));
  CHECK(back.has(tcp_flags::kCwr));
  CHECK_FALSE(back.has(tcp_flags::kSyn));
}

TEST_CASE("TCP unknown options are skipped, later known ones still parsed",
          "[wire][tcp][options]") {
  // kind 30 (MPTCP) length 4, then MSS: data offset 7.
  std::vector<std::uint8_t> seg(kSyn.begin(), kSyn.begin() + 20);
  seg[12] = 0x70;
  const std::vector<std::uint8_t> opts = {30, 4, 0xaa, 0xbb, 2, 4, 0x02, 0x18};
  seg.insert(seg.end(), opts.begin(), opts.end());
  const TcpRepr r = parse_ok(seg);
  CHECK(r.options.mss == 536);
}

TEST_CASE("TCP option parsing stops at end-of-list", "[wire][tcp][options]") {
  // EOL then garbage that would be a bad option if read.
  std::vector<std::uint8_t> seg(kSyn.begin(), kSyn.begin() + 20);
  seg[12] = 0x60;
  const std::vector<std::uint8_t> opts = {0, 2, 1, 0};
  seg.insert(seg.end(), opts.begin(), opts.end());
  const TcpRepr r = parse_ok(seg);
  CHECK_FALSE(r.options.mss);
}
