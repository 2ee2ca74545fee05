// SYN cookies (RFC 4987 §3.6, Linux layout): round trip, rejection of any changed
// input, expiry after two 64-s periods, MSS classes, and the timestamp option bits.
#include <catch2/catch.hpp>

#include <random>

#include "stack/isn/syn_cookie.h"

using utcp::stack::Duration;
using utcp::stack::Instant;
using utcp::stack::instant_from_us;
using utcp::stack::SeqNum;
using utcp::stack::wire::FourTuple;
using utcp::stack::wire::Ipv4Addr;
using utcp::stack::isn::SynCookies;

namespace {

const utcp::stack::isn::Secret kSecret = {9, 8, 7, 6, 5, 4, 3, 2, 1, 0, 1, 2, 3, 4, 5, 6};
const FourTuple kTuple{{Ipv4Addr::from_octets(198, 18, 0, 1), 80},
                       {Ipv4Addr::from_octets(198, 18, 0, 2), 40000}};
const SeqNum kPeerIsn(0xfffffff0u);
constexpr Instant kNow = instant_from_us(1'000 * SynCookies::kPeriodUs + 5'000'000);
constexpr Duration kPeriod{SynCookies::kPeriodUs};

}  // namespace

TEST_CASE("SYN cookie round-trips the MSS class", "[syn_cookie]") {
  const SynCookies cookies(kSecret);
  const SeqNum cookie = cookies.make(kTuple, kPeerIsn, 1460, kNow);
  CHECK(cookies.check(kTuple, kPeerIsn, cookie, kNow) == std::uint16_t{1460});
}

TEST_CASE("SYN cookie encodes the largest table MSS not above the peer's", "[syn_cookie]") {
  const SynCookies cookies(kSecret);
  auto encoded = [&](std::uint16_t peer_mss) {
    return cookies.check(kTuple, kPeerIsn, cookies.make(kTuple, kPeerIsn, peer_mss, kNow), kNow);
  };
  CHECK(encoded(100) == std::uint16_t{536});
  CHECK(encoded(536) == std::uint16_t{536});
  CHECK(encoded(1299) == std::uint16_t{536});
  CHECK(encoded(1300) == std::uint16_t{1300});
  CHECK(encoded(1440) == std::uint16_t{1440});
  CHECK(encoded(1459) == std::uint16_t{1440});
  CHECK(encoded(1460) == std::uint16_t{1460});
  CHECK(encoded(9000) == std::uint16_t{1460});
}

TEST_CASE("SYN cookie is rejected for a changed tuple, peer ISN or ack", "[syn_cookie]") {
  const SynCookies cookies(kSecret);
  for (const std::uint16_t mss : SynCookies::kMssTable) {
    const SeqNum cookie = cookies.make(kTuple, kPeerIsn, mss, kNow);
    FourTuple t = kTuple;
    t.remote.port += 1;
    CHECK_FALSE(cookies.check(t, kPeerIsn, cookie, kNow));
    t = kTuple;
    t.local.addr.value += 1;
    CHECK_FALSE(cookies.check(t, kPeerIsn, cookie, kNow));
    CHECK_FALSE(cookies.check(kTuple, kPeerIsn + 1, cookie, kNow));
    CHECK_FALSE(cookies.check(kTuple, kPeerIsn - 1, cookie, kNow));
    for (std::uint32_t delta = 1; delta <= 4; ++delta) {
      CHECK_FALSE(cookies.check(kTuple, kPeerIsn, cookie + delta, kNow));
      CHECK_FALSE(cookies.check(kTuple, kPeerIsn, cookie - delta, kNow));
    }
    CHECK_FALSE(SynCookies(utcp::stack::isn::Secret{}).check(kTuple, kPeerIsn, cookie, kNow));
  }
}

TEST_CASE("SYN cookie is valid for its period and the next, then expires", "[syn_cookie]") {
  const SynCookies cookies(kSecret);
  const Instant period_start = instant_from_us(1'000 * SynCookies::kPeriodUs);
  const SeqNum cookie = cookies.make(kTuple, kPeerIsn, 1440, period_start);
  CHECK(cookies.check(kTuple, kPeerIsn, cookie, period_start + kPeriod - Duration(1)));
  CHECK(cookies.check(kTuple, kPeerIsn, cookie, period_start + 2 * kPeriod - Duration(1)));
  CHECK_FALSE(cookies.check(kTuple, kPeerIsn, cookie, period_start + 2 * kPeriod));
  CHECK_FALSE(cookies.check(kTuple, kPeerIsn, cookie, period_start + 300 * kPeriod));
  // A cookie from the future (clock went back) is not accepted either.
  CHECK_FALSE(cookies.check(kTuple, kPeerIsn, cookie, period_start - Duration(1)));
}

TEST_CASE("SYN cookies for random tuples are accepted and forged ones are not",
          "[syn_cookie]") {
  const SynCookies cookies(kSecret);
  std::mt19937 rng(3);
  int forged_accepted = 0;
  for (int i = 0; i < 2000; ++i) {
    auto endpoint = [&]() -> utcp::stack::wire::Endpoint {
      return {Ipv4Addr{static_cast<std::uint32_t>(rng())}, static_cast<std::uint16_t>(rng())};
    };
    const FourTuple t{endpoint(), endpoint()};
    const SeqNum peer_isn(static_cast<std::uint32_t>(rng()));
    const Instant now = kNow + Duration(rng() % 1'000'000'000);
    const auto mss = static_cast<std::uint16_t>(rng() % 2000);
    REQUIRE(cookies.check(t, peer_isn, cookies.make(t, peer_isn, mss, now), now));
    if (cookies.check(t, peer_isn, SeqNum(static_cast<std::uint32_t>(rng())), now)) {
      ++forged_accepted;
    }
  }
  CHECK(forged_accepted == 0);
}

TEST_CASE("timestamp options round-trip through TSval and TSecr", "[syn_cookie]") {
  for (const bool sack : {false, true}) {
    for (std::int8_t wscale = -1; wscale <= 14; ++wscale) {
      const std::uint32_t tsval = 0x12345678u + static_cast<std::uint32_t>(wscale * 977);
      const std::uint32_t ts = SynCookies::encode_ts_options(tsval, sack, wscale);
      CHECK(static_cast<std::int32_t>(tsval - ts) >= 0);  // never ahead of our clock
      CHECK(tsval - ts < 64);
      bool sack_out = !sack;
      std::int8_t wscale_out = 99;
      SynCookies::decode_ts_options(ts, sack_out, wscale_out);
      CHECK(sack_out == sack);
      CHECK(wscale_out == wscale);
    }
  }
}

TEST_CASE("timestamp options clamp a window scale above 14", "[syn_cookie]") {
  bool sack = false;
  std::int8_t wscale = 0;
  SynCookies::decode_ts_options(SynCookies::encode_ts_options(1000, true, 20), sack, wscale);
  CHECK(sack);
  CHECK(wscale == 14);
}
