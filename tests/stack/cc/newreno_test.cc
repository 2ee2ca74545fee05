// NewReno window arithmetic: RFC 5681 §3.1 slow start and congestion avoidance,
// RFC 3465 §2 byte counting, equation (4) on loss and timeout, §4.1 restart.
#include <catch2/catch.hpp>

#include <chrono>

#include "stack/cc/newreno.h"
#include "tests/stack/cc/ack_rounds.h"

namespace utcp::stack::cc {
namespace {

using std::chrono::milliseconds;
using testing::ack;
using testing::ack_round;

constexpr std::uint32_t kSmss = 1000;
constexpr Duration kRtt = milliseconds(10);
const Instant kStart = instant_from_us(1'000'000);

// A connection whose first loss at FlightSize 2*window left cwnd = ssthresh = window.
NewReno in_congestion_avoidance(std::uint32_t window) {
  NewReno cc(kSmss, 10);
  cc.on_congestion_event(2 * window, kStart);
  return cc;
}

TEST_CASE("NewReno slow start doubles cwnd every round trip", "[cc][newreno]") {
  NewReno cc(kSmss, 10);
  REQUIRE(cc.cwnd() == 10 * kSmss);
  Instant now = kStart;
  for (std::uint32_t expected : {20 * kSmss, 40 * kSmss, 80 * kSmss, 160 * kSmss}) {
    now = ack_round(cc, now, kRtt);
    CHECK(cc.cwnd() == expected);
    CHECK(cc.in_slow_start());
  }
}

TEST_CASE("NewReno ABC caps slow-start growth per ACK at 2*SMSS", "[cc][newreno]") {
  NewReno cc(kSmss, 10);
  // A stretch ACK for five segments counts as L = 2 segments (RFC 3465 §2.2).
  cc.on_ack(ack(5 * kSmss, 10 * kSmss, kStart));
  CHECK(cc.cwnd() == 12 * kSmss);
  // Fewer bytes than L count as acknowledged, not as whole segments.
  cc.on_ack(ack(1500, 12 * kSmss, kStart));
  CHECK(cc.cwnd() == 12 * kSmss + 1500);
  cc.on_ack(ack(300, 12 * kSmss, kStart));
  CHECK(cc.cwnd() == 12 * kSmss + 1800);
}

TEST_CASE("NewReno slow start stops at ssthresh and counts the rest for avoidance",
          "[cc][newreno]") {
  NewReno cc(kSmss, 10);
  cc.on_rto(40 * kSmss, kStart);  // ssthresh = 20 segments, cwnd = 1
  Instant now = kStart;
  for (std::uint32_t expected : {2u, 4u, 8u, 16u}) {
    now = ack_round(cc, now, kRtt);
    CHECK(cc.cwnd() == expected * kSmss);
  }
  // 16 ACKs: the first four reach ssthresh, the other twelve go to byte counting.
  ack_round(cc, now, kRtt);
  CHECK(cc.cwnd() == 20 * kSmss);
  CHECK_FALSE(cc.in_slow_start());
  CHECK(cc.ca_bytes_acked() == 12 * kSmss);
}

TEST_CASE("NewReno congestion avoidance grows cwnd by one SMSS per round trip",
          "[cc][newreno]") {
  NewReno cc = in_congestion_avoidance(20 * kSmss);
  REQUIRE_FALSE(cc.in_slow_start());
  Instant now = kStart;
  for (std::uint32_t round = 1; round <= 10; ++round) {
    now = ack_round(cc, now, kRtt);
    CHECK(cc.cwnd() == (20 + round) * kSmss);
  }
}

TEST_CASE("NewReno grows at most one SMSS for an ACK of several windows", "[cc][newreno]") {
  NewReno cc = in_congestion_avoidance(20 * kSmss);
  cc.on_ack(ack(60 * kSmss, 20 * kSmss, kStart));
  CHECK(cc.cwnd() == 21 * kSmss);
  CHECK(cc.ca_bytes_acked() < cc.cwnd());
  cc.on_ack(ack(kSmss, 21 * kSmss, kStart));
  CHECK(cc.cwnd() == 22 * kSmss);
}

TEST_CASE("NewReno congestion event sets ssthresh = max(FlightSize/2, 2*SMSS) and cwnd to it",
          "[cc][newreno]") {
  NewReno cc(kSmss, 10);
  cc.on_congestion_event(30 * kSmss, kStart);
  CHECK(cc.ssthresh() == 15 * kSmss);
  CHECK(cc.cwnd() == 15 * kSmss);

  cc.on_congestion_event(3 * kSmss, kStart);
  CHECK(cc.ssthresh() == 2 * kSmss);
  CHECK(cc.cwnd() == 2 * kSmss);
}

TEST_CASE("NewReno recovery exit deflates cwnd to ssthresh", "[cc][newreno]") {
  NewReno cc(kSmss, 10);
  cc.on_congestion_event(40 * kSmss, kStart);
  cc.set_cwnd(23 * kSmss);  // the sender's RFC 6582 inflation
  cc.on_recovery_exit(kStart);
  CHECK(cc.cwnd() == 20 * kSmss);
}

TEST_CASE("NewReno timeout leaves cwnd at 1 SMSS and ssthresh at half the flight",
          "[cc][newreno]") {
  NewReno cc(kSmss, 10);
  cc.on_rto(30 * kSmss, kStart);
  CHECK(cc.cwnd() == kSmss);
  CHECK(cc.ssthresh() == 15 * kSmss);
  CHECK(cc.in_slow_start());
}

TEST_CASE("NewReno repeated timeout holds ssthresh until new data is acknowledged",
          "[cc][newreno]") {
  NewReno cc(kSmss, 10);
  cc.on_rto(30 * kSmss, kStart);
  cc.on_rto(kSmss, kStart);  // the retransmission timed out too (RFC 5681 §3.1)
  CHECK(cc.ssthresh() == 15 * kSmss);
  CHECK(cc.cwnd() == kSmss);

  cc.on_ack(ack(kSmss, kSmss, kStart));
  cc.on_rto(8 * kSmss, kStart);  // a new loss: ssthresh follows the flight again
  CHECK(cc.ssthresh() == 4 * kSmss);
}

TEST_CASE("NewReno idle restart lowers cwnd to the initial window, never raises it",
          "[cc][newreno]") {
  NewReno cc(kSmss, 10);
  cc.set_cwnd(40 * kSmss);
  cc.on_idle_restart(kStart);
  CHECK(cc.cwnd() == 10 * kSmss);

  cc.set_cwnd(3 * kSmss);
  cc.on_idle_restart(kStart);
  CHECK(cc.cwnd() == 3 * kSmss);
}

TEST_CASE("NewReno does not grow cwnd while the application leaves it unused",
          "[cc][newreno]") {
  NewReno cc(kSmss, 10);
  // RFC 7661 §4.3: less than half the window in flight means a non-validated cwnd.
  cc.on_ack(ack(kSmss, 4 * kSmss, kStart));
  CHECK(cc.cwnd() == 10 * kSmss);
  cc.on_ack(ack(kSmss, 5 * kSmss, kStart));
  CHECK(cc.cwnd() == 11 * kSmss);
}

}  // namespace
}  // namespace utcp::stack::cc
