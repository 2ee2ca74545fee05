// RttEstimator: RFC 6298 §2 (first sample, smoothing, G, clamps) and §5.5 backoff,
// with hand-computed microsecond values.
#include <catch2/catch.hpp>

#include <chrono>

#include "stack/cc/rtt.h"

namespace utcp::stack::cc {
namespace {

using std::chrono::microseconds;
using std::chrono::milliseconds;
using std::chrono::seconds;

RttEstimator linux_like() { return RttEstimator(seconds(1), milliseconds(200), seconds(120)); }

TEST_CASE("RTO is the initial RTO before any sample", "[cc][rtt]") {
  const RttEstimator rtt = linux_like();
  CHECK_FALSE(rtt.has_sample());
  CHECK(rtt.rto() == seconds(1));
  CHECK(rtt.min_rtt() == Duration::zero());
}

TEST_CASE("First sample sets SRTT = R and RTTVAR = R/2", "[cc][rtt]") {
  RttEstimator rtt = linux_like();
  rtt.on_sample(milliseconds(100));
  CHECK(rtt.has_sample());
  CHECK(rtt.srtt() == milliseconds(100));
  CHECK(rtt.rttvar() == milliseconds(50));
  CHECK(rtt.min_rtt() == milliseconds(100));
  CHECK(rtt.rto() == milliseconds(300));  // 100 + 4 * 50
}

TEST_CASE("Later samples smooth with alpha 1/8 and beta 1/4", "[cc][rtt]") {
  RttEstimator rtt = linux_like();
  rtt.on_sample(microseconds(100'000));
  // R = 120000: RTTVAR = 3/4*50000 + 1/4*|100000-120000| = 42500,
  //             SRTT = 7/8*100000 + 1/8*120000 = 102500.
  rtt.on_sample(microseconds(120'000));
  CHECK(rtt.rttvar() == microseconds(42'500));
  CHECK(rtt.srtt() == microseconds(102'500));
  CHECK(rtt.rto() == microseconds(102'500 + 4 * 42'500));
  // R = 82500: RTTVAR = 3/4*42500 + 1/4*20000 = 36875, SRTT = (717500 + 82500)/8.
  rtt.on_sample(microseconds(82'500));
  CHECK(rtt.rttvar() == microseconds(36'875));
  CHECK(rtt.srtt() == microseconds(100'000));
  CHECK(rtt.rto() == microseconds(247'500));
  CHECK(rtt.min_rtt() == microseconds(82'500));
}

TEST_CASE("RTO is at least SRTT + G when RTTVAR vanishes", "[cc][rtt]") {
  RttEstimator rtt(seconds(1), Duration::zero(), seconds(60));
  for (int i = 0; i < 100; ++i) {
    rtt.on_sample(milliseconds(10));
  }
  REQUIRE(rtt.rttvar() == Duration::zero());
  CHECK(rtt.rto() == milliseconds(10) + RttEstimator::kGranularity);
}

TEST_CASE("RTO is clamped to min_rto and max_rto", "[cc][rtt]") {
  RttEstimator low = linux_like();
  low.on_sample(milliseconds(1));
  CHECK(low.rto() == milliseconds(200));

  RttEstimator high(seconds(1), milliseconds(200), seconds(60));
  high.on_sample(seconds(100));
  CHECK(high.rto() == seconds(60));
}

TEST_CASE("Negative samples are ignored", "[cc][rtt]") {
  RttEstimator rtt = linux_like();
  rtt.on_sample(milliseconds(-5));
  CHECK_FALSE(rtt.has_sample());
  CHECK(rtt.rto() == seconds(1));
}

TEST_CASE("Backoff doubles the RTO up to max_rto", "[cc][rtt]") {
  RttEstimator rtt(seconds(1), milliseconds(200), seconds(2));
  rtt.on_sample(milliseconds(100));  // RTO 300 ms
  const Duration expected[] = {milliseconds(600), milliseconds(1200), seconds(2), seconds(2)};
  std::uint32_t n = 0;
  for (Duration e : expected) {
    rtt.backoff();
    ++n;
    CHECK(rtt.backoffs() == n);
    CHECK(rtt.rto() == e);
  }
}

TEST_CASE("Backoff applies to the initial RTO and survives many doublings", "[cc][rtt]") {
  RttEstimator rtt = linux_like();
  rtt.backoff();
  CHECK(rtt.rto() == seconds(2));
  for (int i = 0; i < 200; ++i) {
    rtt.backoff();
  }
  CHECK(rtt.rto() == seconds(120));
}

TEST_CASE("reset_backoff returns to the computed RTO, and a sample alone does not", "[cc][rtt]") {
  RttEstimator rtt = linux_like();
  rtt.on_sample(milliseconds(100));
  rtt.backoff();
  rtt.backoff();
  rtt.on_sample(milliseconds(100));  // e.g. from a timestamp during the timeout series
  CHECK(rtt.backoffs() == 2);
  rtt.reset_backoff();
  CHECK(rtt.backoffs() == 0);
  // SRTT 100 ms, RTTVAR 3/4 * 50 ms = 37.5 ms.
  CHECK(rtt.rto() == microseconds(100'000 + 4 * 37'500));
}

}  // namespace
}  // namespace utcp::stack::cc
