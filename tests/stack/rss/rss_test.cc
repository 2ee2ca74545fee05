// Toeplitz RSS: Microsoft's verification suite, the symmetric key, the redirection
// table, and local-port selection that steers replies to the asked engine.
#include <catch2/catch.hpp>

#include <array>
#include <random>
#include <set>
#include <vector>

#include "stack/rss/rss.h"

using utcp::stack::wire::Endpoint;
using utcp::stack::wire::Ipv4Addr;
namespace rss = utcp::stack::rss;

namespace {

struct MsVector {
  Ipv4Addr src;
  std::uint16_t sport;
  Ipv4Addr dst;
  std::uint16_t dport;
  std::uint32_t ipv4;
  std::uint32_t ipv4_tcp;
};

// Microsoft, "Verifying the RSS Hash Calculation", IPv4 table (also the Intel 82599
// datasheet §7.1.2.8.3 and DPDK app/test/test_thash.c).
const std::array<MsVector, 5> kMsVectors = {{
    {Ipv4Addr::from_octets(66, 9, 149, 187), 2794, Ipv4Addr::from_octets(161, 142, 100, 80),
     1766, 0x323e8fc2, 0x51ccc178},
    {Ipv4Addr::from_octets(199, 92, 111, 2), 14230, Ipv4Addr::from_octets(65, 69, 140, 83),
     4739, 0xd718262a, 0xc626b0ea},
    {Ipv4Addr::from_octets(24, 19, 198, 95), 12898, Ipv4Addr::from_octets(12, 22, 207, 184),
     38024, 0xd2d0a5de, 0x5c2b394a},
    {Ipv4Addr::from_octets(38, 27, 205, 30), 48228, Ipv4Addr::from_octets(209, 142, 163, 6),
     2217, 0x82989176, 0xafc7327f},
    {Ipv4Addr::from_octets(153, 39, 163, 191), 44251, Ipv4Addr::from_octets(202, 188, 127, 2),
     1303, 0x5d1809c5, 0x10e828a2},
}};

const Ipv4Addr kLocal = Ipv4Addr::from_octets(198, 18, 0, 1);

bool always_free(std::uint16_t) { return true; }

}  // namespace

TEST_CASE("toeplitz matches Microsoft's IPv4 verification suite", "[rss]") {
  const rss::Key key = rss::microsoft_key();
  for (const MsVector& v : kMsVectors) {
    CHECK(rss::hash_ipv4(key, v.src, v.dst) == v.ipv4);
    CHECK(rss::hash_ipv4_tcp(key, v.src, v.dst, v.sport, v.dport) == v.ipv4_tcp);
  }
}

TEST_CASE("toeplitz of no input is zero", "[rss]") {
  CHECK(rss::toeplitz(rss::microsoft_key(), {}) == 0);
}

TEST_CASE("symmetric_key hashes both directions of a flow alike", "[rss]") {
  const rss::Key key = rss::symmetric_key();
  std::mt19937 rng(7);
  for (int i = 0; i < 2000; ++i) {
    const Ipv4Addr a{static_cast<std::uint32_t>(rng())};
    const Ipv4Addr b{static_cast<std::uint32_t>(rng())};
    const auto pa = static_cast<std::uint16_t>(rng());
    const auto pb = static_cast<std::uint16_t>(rng());
    REQUIRE(rss::hash_ipv4_tcp(key, a, b, pa, pb) == rss::hash_ipv4_tcp(key, b, a, pb, pa));
  }
}

TEST_CASE("microsoft_key is not symmetric", "[rss]") {
  const MsVector& v = kMsVectors[0];
  CHECK(rss::hash_ipv4_tcp(rss::microsoft_key(), v.dst, v.src, v.dport, v.sport) != v.ipv4_tcp);
}

TEST_CASE("Reta maps a hash to a queue by its low bits", "[rss]") {
  const rss::Reta single;
  CHECK(single.size() == 1);
  CHECK(single.queues() == 1);
  CHECK(single.queue_for(0xffffffffu) == 0);

  const rss::Reta rr(128, 3);
  CHECK(rr.size() == 128);
  CHECK(rr.queues() == 3);
  CHECK(rr.table()[0] == 0);
  CHECK(rr.table()[4] == 1);
  CHECK(rr.queue_for(5) == 2);
  CHECK(rr.queue_for(0x1000 + 5) == 2);  // only the low 7 bits count

  const rss::Reta custom(std::vector<std::uint16_t>{3, 1});
  CHECK(custom.queues() == 4);
  CHECK(custom.queue_for(6) == 3);
  CHECK(custom.queue_for(7) == 1);
}

TEST_CASE("Reta rejects a size that is not a power of two", "[rss]") {
  CHECK_THROWS_AS(rss::Reta(100, 2), std::invalid_argument);
  CHECK_THROWS_AS(rss::Reta(std::vector<std::uint16_t>{}), std::invalid_argument);
  CHECK_THROWS_AS(rss::Reta(128, 0), std::invalid_argument);
}

TEST_CASE("pick_local_port returns a port whose replies reach the asked engine", "[rss]") {
  const rss::Key key = rss::symmetric_key();
  std::mt19937 rng(11);
  for (const std::uint16_t engines : {1, 2, 4, 8}) {
    const rss::Reta reta(128, engines);
    for (int i = 0; i < 200; ++i) {
      const Endpoint remote{Ipv4Addr{static_cast<std::uint32_t>(rng())},
                            static_cast<std::uint16_t>(rng())};
      const auto engine = static_cast<std::uint16_t>(rng() % engines);
      const auto hint = static_cast<std::uint16_t>(32768 + rng() % 28232);
      const auto port =
          rss::pick_local_port(key, reta, engine, kLocal, remote, 32768, 60999, hint, always_free);
      REQUIRE(port.has_value());
      REQUIRE(*port >= 32768);
      REQUIRE(*port <= 60999);
      REQUIRE(reta.queue_for(rss::hash_ipv4_tcp(key, remote.addr, kLocal, remote.port, *port)) ==
              engine);
      // By symmetry our own packets to the peer hash to the same engine.
      REQUIRE(reta.queue_for(rss::hash_ipv4_tcp(key, kLocal, remote.addr, *port, remote.port)) ==
              engine);
    }
  }
}

TEST_CASE("pick_local_port starts at the hint and skips ports that are not free", "[rss]") {
  const rss::Key key = rss::symmetric_key();
  const rss::Reta reta(128, 1);  // every port qualifies by hash
  const Endpoint remote{Ipv4Addr::from_octets(198, 18, 0, 2), 80};
  CHECK(rss::pick_local_port(key, reta, 0, kLocal, remote, 1000, 2000, 1500, always_free) == 1500);
  const std::set<std::uint16_t> used = {1500, 1501, 1502};
  auto is_free = [&](std::uint16_t p) { return used.count(p) == 0; };
  CHECK(rss::pick_local_port(key, reta, 0, kLocal, remote, 1000, 2000, 1500, is_free) == 1503);
  // The scan wraps from hi back to lo; a hint outside [lo, hi] is folded in.
  const std::set<std::uint16_t> high_used = {1999, 2000};
  auto low_free = [&](std::uint16_t p) { return high_used.count(p) == 0; };
  CHECK(rss::pick_local_port(key, reta, 0, kLocal, remote, 1000, 2000, 1999, low_free) == 1000);
  const auto folded =
      rss::pick_local_port(key, reta, 0, kLocal, remote, 1000, 2000, 5, always_free);
  REQUIRE(folded.has_value());
  CHECK(*folded >= 1000);
  CHECK(*folded <= 2000);
}

TEST_CASE("pick_local_port returns nullopt when no port qualifies", "[rss]") {
  const rss::Key key = rss::symmetric_key();
  const rss::Reta reta(128, 4);
  const Endpoint remote{Ipv4Addr::from_octets(198, 18, 0, 2), 443};
  auto none_free = [](std::uint16_t) { return false; };
  CHECK_FALSE(rss::pick_local_port(key, reta, 1, kLocal, remote, 1024, 65535, 4000, none_free));
  CHECK_FALSE(rss::pick_local_port(key, reta, 1, kLocal, remote, 2000, 1000, 1500, always_free));
  CHECK_FALSE(rss::pick_local_port(key, reta, 9, kLocal, remote, 1024, 65535, 4000, always_free));
  // A one-port range works exactly when that port maps to the engine.
  const std::uint16_t p = 40000;
  const auto q = reta.queue_for(rss::hash_ipv4_tcp(key, remote.addr, kLocal, remote.port, p));
  CHECK(rss::pick_local_port(key, reta, q, kLocal, remote, p, p, p, always_free) == p);
  CHECK_FALSE(rss::pick_local_port(key, reta, static_cast<std::uint16_t>((q + 1) % 4), kLocal,
                                   remote, p, p, p, always_free));
}

TEST_CASE("symmetric_key spreads flows fairly over engines", "[rss]") {
  const rss::Key key = rss::symmetric_key();
  std::mt19937 rng(5);
  for (const std::uint16_t engines : {2, 4, 8}) {
    const rss::Reta reta(128, engines);
    std::vector<int> per_engine(engines);
    constexpr int kFlows = 40000;
    for (int i = 0; i < kFlows; ++i) {
      const Ipv4Addr remote{static_cast<std::uint32_t>(rng())};
      const auto rport = static_cast<std::uint16_t>(rng());
      const auto lport = static_cast<std::uint16_t>(32768 + rng() % 28232);
      ++per_engine[reta.queue_for(rss::hash_ipv4_tcp(key, remote, kLocal, rport, lport))];
    }
    for (const int n : per_engine) {
      CHECK(n > kFlows / engines * 9 / 10);
      CHECK(n < kFlows / engines * 11 / 10);
    }
  }
}

TEST_CASE("every engine owns a fair share of ephemeral ports per remote endpoint", "[rss]") {
  const rss::Key key = rss::symmetric_key();
  std::mt19937 rng(9);
  const rss::Reta reta(128, 4);
  for (int i = 0; i < 50; ++i) {
    const Endpoint remote{Ipv4Addr{static_cast<std::uint32_t>(rng())},
                          static_cast<std::uint16_t>(rng())};
    std::array<int, 4> per_engine{};
    for (std::uint32_t port = 32768; port <= 60999; ++port) {
      const auto p = static_cast<std::uint16_t>(port);
      ++per_engine[reta.queue_for(rss::hash_ipv4_tcp(key, remote.addr, kLocal, remote.port, p))];
    }
    for (const int n : per_engine) {
      REQUIRE(n > 28232 / 4 * 8 / 10);
      REQUIRE(n < 28232 / 4 * 12 / 10);
    }
  }
}
