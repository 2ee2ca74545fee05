// The congestion-control factory and the window rules every strategy shares:
// RFC 6928 §2 initial window, RFC 5681 §3.1 initial ssthresh, clamps, SMSS changes.
#include <catch2/catch.hpp>

#include <cstring>
#include <limits>

#include "stack/cc/congestion.h"

namespace utcp::stack::cc {
namespace {

TEST_CASE("make_congestion_control builds the named algorithm", "[cc][factory]") {
  const auto reno = make_congestion_control(Algorithm::kNewReno, 1460, 10);
  REQUIRE(reno != nullptr);
  CHECK(reno->algorithm() == Algorithm::kNewReno);
  CHECK(std::strcmp(reno->name(), "newreno") == 0);

  const auto cubic = make_congestion_control(Algorithm::kCubic, 1460, 10);
  REQUIRE(cubic != nullptr);
  CHECK(cubic->algorithm() == Algorithm::kCubic);
  CHECK(std::strcmp(cubic->name(), "cubic") == 0);
}

TEST_CASE("Initial window of 10 segments follows RFC 6928", "[cc][factory]") {
  // IW = min(10*MSS, max(2*MSS, 14600)).
  for (Algorithm a : {Algorithm::kNewReno, Algorithm::kCubic}) {
    CHECK(make_congestion_control(a, 1460, 10)->cwnd() == 14600);
    CHECK(make_congestion_control(a, 536, 10)->cwnd() == 5360);
    CHECK(make_congestion_control(a, 4000, 10)->cwnd() == 14600);
    CHECK(make_congestion_control(a, 8960, 10)->cwnd() == 2 * 8960);
  }
}

TEST_CASE("Initial window of another size is that many segments", "[cc][factory]") {
  CHECK(make_congestion_control(Algorithm::kNewReno, 1460, 4)->cwnd() == 4 * 1460);
  CHECK(make_congestion_control(Algorithm::kCubic, 1460, 1)->cwnd() == 1460);
  CHECK(make_congestion_control(Algorithm::kCubic, 1460, 0)->cwnd() == 1460);
}

TEST_CASE("ssthresh starts arbitrarily high, so a connection starts in slow start",
          "[cc][factory]") {
  const auto cc = make_congestion_control(Algorithm::kCubic, 1460, 10);
  CHECK(cc->ssthresh() == std::numeric_limits<std::uint32_t>::max());
  CHECK(cc->in_slow_start());
}

TEST_CASE("set_cwnd clamps to at least 1 SMSS and at most kMaxCwnd", "[cc][factory]") {
  const auto cc = make_congestion_control(Algorithm::kNewReno, 1460, 10);
  cc->set_cwnd(0);
  CHECK(cc->cwnd() == 1460);
  cc->set_cwnd(std::numeric_limits<std::uint32_t>::max());
  CHECK(cc->cwnd() == kMaxCwnd);
  cc->set_cwnd(50'000);
  CHECK(cc->cwnd() == 50'000);
}

TEST_CASE("set_smss keeps the byte windows and raises them to the new minimum",
          "[cc][factory]") {
  const auto cc = make_congestion_control(Algorithm::kNewReno, 1000, 10);
  cc->on_rto(2000, Instant{});  // cwnd = 1 SMSS, ssthresh = 2 SMSS
  REQUIRE(cc->cwnd() == 1000);
  REQUIRE(cc->ssthresh() == 2000);

  cc->set_smss(1460);
  CHECK(cc->smss() == 1460);
  CHECK(cc->cwnd() == 1460);
  CHECK(cc->ssthresh() == 2920);
  CHECK(cc->initial_window() == 14600);

  cc->set_cwnd(30'000);
  cc->set_smss(1200);
  CHECK(cc->cwnd() == 30'000);
}

}  // namespace
}  // namespace utcp::stack::cc
