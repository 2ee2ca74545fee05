// CUBIC, RFC 9438: beta_cubic and W_max (§4.6), K (eq. 2), the cubic curve over
// virtual time (§4.2, §4.4-4.5), fast convergence (§4.7), the Reno-friendly region
// (§4.3), the target clamp, timeouts (§4.8), slow start (§4.10), epochs and §5.8.
#include <catch2/catch.hpp>

#include <chrono>
#include <cmath>

#include "stack/cc/cubic.h"
#include "tests/stack/cc/ack_rounds.h"

namespace utcp::stack::cc {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
using testing::ack;
using testing::ack_round;
using testing::ack_rounds_until;

constexpr std::uint32_t kSmss = 1000;
const Instant kStart = instant_from_us(1'000'000);

// A connection that lost a segment with `segments` in flight and a full window.
Cubic after_loss_at(std::uint32_t segments, bool fast_convergence = true) {
  Cubic cc(kSmss, 10, fast_convergence);
  cc.set_cwnd(segments * kSmss);
  cc.on_congestion_event(segments * kSmss, kStart);
  return cc;
}

// W_cubic(t) in segments for a known W_max and K, straight from RFC 9438 eq. 1.
double curve(double w_max, double k, double t) { return Cubic::kC * std::pow(t - k, 3) + w_max; }

TEST_CASE("CUBIC multiplicative decrease uses beta_cubic = 0.7 and remembers W_max",
          "[cc][cubic]") {
  const Cubic cc = after_loss_at(100);
  CHECK(cc.ssthresh() == 70 * kSmss);
  CHECK(cc.cwnd() == 70 * kSmss);
  CHECK(cc.w_max() == 100 * kSmss);
  CHECK(cc.cwnd_prior() == 100 * kSmss);
  CHECK_FALSE(cc.in_slow_start());
}

TEST_CASE("CUBIC ssthresh after a loss is at least 2 segments", "[cc][cubic]") {
  const Cubic cc = after_loss_at(2);
  CHECK(cc.ssthresh() == 2 * kSmss);
  CHECK(cc.cwnd() == 2 * kSmss);
}

TEST_CASE("CUBIC K and the curve's ends match RFC 9438 eq. 1-2 for W_max = 100",
          "[cc][cubic]") {
  Cubic cc = after_loss_at(100);
  cc.on_ack(ack(kSmss, 70 * kSmss, kStart, milliseconds(100)));
  REQUIRE(cc.epoch_start() == kStart);
  // K = cbrt(W_max * (1 - beta) / C) = cbrt(100 * 0.3 / 0.4) = cbrt(75) = 4.2172 s.
  CHECK(cc.k_seconds() == Approx(4.2171633265));
  CHECK(cc.w_cubic(Duration::zero()) == Approx(70 * kSmss));  // starts at cwnd_epoch
  const auto k = std::chrono::duration_cast<Duration>(std::chrono::duration<double>(cc.k_seconds()));
  CHECK(cc.w_cubic(k) == Approx(100 * kSmss).epsilon(1e-6));  // plateau at W_max
  // W_cubic(6 s) = 0.4 * (6 - 4.2172)^3 + 100 = 102.267 segments.
  CHECK(cc.w_cubic(seconds(6)) == Approx(102'267).epsilon(1e-4));
}

TEST_CASE("CUBIC cwnd follows the cubic curve, concave below W_max then convex",
          "[cc][cubic]") {
  Cubic cc = after_loss_at(100);
  const Duration rtt = milliseconds(200);
  const double k = std::cbrt(75.0);
  Instant now = kStart;
  double last = cc.cwnd();
  double growth_first_half = 0;
  double growth_second_half = 0;
  double growth_after_k = 0;
  double growth_later = 0;
  for (int round = 1; round <= 41; ++round) {
    now = ack_round(cc, now, rtt);
    const double t = std::chrono::duration<double>(now - kStart).count();
    const double cwnd_segments = cc.cwnd() / double{kSmss};
    // cwnd chases W_cubic(t + RTT): it sits between the curve now and one RTT ahead.
    CHECK(cwnd_segments >= curve(100, k, t) - 1.0);
    CHECK(cwnd_segments <= curve(100, k, t + 0.2) + 1.0);
    CHECK(cc.w_cubic(now - *cc.epoch_start()) >= cc.w_est());  // not Reno-friendly
    const double grew = cc.cwnd() - last;
    last = cc.cwnd();
    (t <= k / 2 ? growth_first_half : t <= k ? growth_second_half
                  : t <= k + 2 ? growth_after_k : growth_later) += grew;
  }
  CHECK(growth_first_half > 2 * growth_second_half);  // concave: slowing toward W_max
  CHECK(growth_later > 2 * growth_after_k);           // convex: speeding up past W_max
  CHECK(cc.cwnd() > 100 * kSmss);
}

TEST_CASE("CUBIC fast convergence lowers W_max when loss comes below the last W_max",
          "[cc][cubic]") {
  Cubic cc = after_loss_at(100);
  cc.set_cwnd(80 * kSmss);
  cc.on_congestion_event(80 * kSmss, kStart);
  // W_max = 80 * (1 + 0.7) / 2 = 68 segments; ssthresh = 0.7 * 80 = 56.
  CHECK(cc.w_max() == 68 * kSmss);
  CHECK(cc.ssthresh() == 56 * kSmss);
  cc.on_ack(ack(kSmss, 56 * kSmss, kStart));
  CHECK(cc.k_seconds() == Approx(std::cbrt((68.0 - 56.0) / 0.4)));
}

TEST_CASE("CUBIC without fast convergence keeps W_max at the cwnd before the loss",
          "[cc][cubic]") {
  Cubic cc = after_loss_at(100, false);
  cc.set_cwnd(80 * kSmss);
  cc.on_congestion_event(80 * kSmss, kStart);
  CHECK(cc.w_max() == 80 * kSmss);
  cc.on_ack(ack(kSmss, 56 * kSmss, kStart));
  CHECK(cc.k_seconds() == Approx(std::cbrt((80.0 - 56.0) / 0.4)));
}

TEST_CASE("CUBIC Reno-friendly region dominates at a small BDP", "[cc][cubic]") {
  Cubic cc = after_loss_at(20);  // cwnd 14 segments, RTT 1 ms
  const Duration rtt = milliseconds(1);
  Instant now = kStart;
  for (int round = 1; round <= 5; ++round) {
    now = ack_round(cc, now, rtt);
  }
  // alpha_cubic = 3 * 0.3 / 1.7 = 0.529 segments per RTT, far above the cubic curve.
  CHECK(Cubic::kAlpha == Approx(0.5294117647));
  CHECK(cc.cwnd() == Approx(14'000 + 5 * 529.4).epsilon(0.01));
  CHECK(cc.cwnd() == static_cast<std::uint32_t>(cc.w_est()));
  CHECK(cc.w_cubic(now - *cc.epoch_start()) < cc.w_est());
}

TEST_CASE("CUBIC Reno-friendly alpha becomes 1 once W_est reaches cwnd_prior", "[cc][cubic]") {
  Cubic cc = after_loss_at(20);
  const Duration rtt = milliseconds(1);
  Instant now = kStart;
  while (cc.w_est() < cc.cwnd_prior()) {
    now = ack_round(cc, now, rtt);
  }
  const std::uint32_t before = cc.cwnd();
  for (int round = 1; round <= 5; ++round) {
    now = ack_round(cc, now, rtt);
  }
  CHECK(cc.cwnd() - before == Approx(5 * kSmss).epsilon(0.05));  // Reno: 1 SMSS per RTT
}

TEST_CASE("CUBIC target is clamped to 1.5 * cwnd", "[cc][cubic]") {
  Cubic cc = after_loss_at(100);
  cc.on_ack(ack(kSmss, 70 * kSmss, kStart, milliseconds(100)));
  const std::uint32_t cwnd = cc.cwnd();
  // 1000 s into the stage W_cubic is enormous; one segment may add only
  // (1.5*cwnd - cwnd) / cwnd = 0.5 segment.
  cc.on_ack(ack(kSmss, cwnd, kStart + seconds(1000), milliseconds(100)));
  CHECK(cc.cwnd() == cwnd + kSmss / 2);
}

TEST_CASE("CUBIC target is never below cwnd, so cwnd does not shrink on an ACK",
          "[cc][cubic]") {
  Cubic cc = after_loss_at(100);
  cc.on_ack(ack(kSmss, 70 * kSmss, kStart, milliseconds(100)));
  cc.set_cwnd(95 * kSmss);  // above W_cubic(t + RTT) and W_est
  cc.on_ack(ack(kSmss, 95 * kSmss, kStart + milliseconds(10), milliseconds(100)));
  CHECK(cc.cwnd() == 95 * kSmss);
}

TEST_CASE("CUBIC uses standard slow start below ssthresh after a timeout", "[cc][cubic]") {
  Cubic cc = after_loss_at(100);
  cc.on_rto(100 * kSmss, kStart);
  CHECK(cc.cwnd() == kSmss);
  CHECK(cc.ssthresh() == 70 * kSmss);
  Instant now = kStart;
  for (std::uint32_t expected : {2u, 4u, 8u, 16u, 32u, 64u}) {
    now = ack_round(cc, now, milliseconds(10));
    CHECK(cc.cwnd() == expected * kSmss);
    CHECK(cc.in_slow_start());
    CHECK_FALSE(cc.epoch_start().has_value());
  }
  now = ack_round(cc, now, milliseconds(10));
  CHECK_FALSE(cc.in_slow_start());
  CHECK(cc.epoch_start().has_value());
}

TEST_CASE("CUBIC first stage after a timeout has K = 0 and W_max = cwnd_epoch",
          "[cc][cubic]") {
  Cubic cc = after_loss_at(100);
  cc.on_rto(100 * kSmss, kStart);
  cc.set_cwnd(70 * kSmss);  // as if slow start had just reached ssthresh
  cc.on_ack(ack(kSmss, 70 * kSmss, kStart + seconds(1)));
  CHECK(cc.k_seconds() == 0.0);
  CHECK(cc.w_max() == 70 * kSmss);
  CHECK(cc.w_est() >= 70 * kSmss);
}

TEST_CASE("CUBIC repeated timeout holds ssthresh and W_max", "[cc][cubic]") {
  Cubic cc = after_loss_at(100);
  cc.on_rto(70 * kSmss, kStart);
  REQUIRE(cc.ssthresh() == 49 * kSmss);
  cc.on_rto(kSmss, kStart + seconds(1));
  CHECK(cc.ssthresh() == 49 * kSmss);
  CHECK(cc.cwnd_prior() == 70 * kSmss);
}

TEST_CASE("CUBIC congestion event ends the epoch", "[cc][cubic]") {
  Cubic cc = after_loss_at(100);
  cc.on_ack(ack(kSmss, 70 * kSmss, kStart));
  REQUIRE(cc.epoch_start().has_value());
  cc.on_congestion_event(70 * kSmss, kStart + seconds(1));
  CHECK_FALSE(cc.epoch_start().has_value());
  cc.on_recovery_exit(kStart + seconds(2));
  cc.on_ack(ack(kSmss, cc.cwnd(), kStart + seconds(3)));
  CHECK(cc.epoch_start() == kStart + seconds(3));
}

TEST_CASE("CUBIC idle restart ends the epoch and the next stage starts afresh",
          "[cc][cubic]") {
  Cubic cc = after_loss_at(100);
  Instant now = ack_rounds_until(cc, kStart, kStart + seconds(2), milliseconds(100));
  REQUIRE(cc.epoch_start() == kStart + Duration(milliseconds(100)) / 70);
  now += seconds(30);
  cc.on_idle_restart(now);
  CHECK_FALSE(cc.epoch_start().has_value());
  CHECK(cc.cwnd() == 10 * kSmss);
  // Slow start back to ssthresh, then a new stage: K from the remembered W_max.
  now = ack_rounds_until(cc, now, now + seconds(1), milliseconds(100));
  REQUIRE(cc.epoch_start().has_value());
  CHECK(*cc.epoch_start() > kStart + seconds(30));
  CHECK(cc.k_seconds() == Approx(std::cbrt(30.0 / 0.4)));
}

TEST_CASE("CUBIC application-limited ACKs neither grow cwnd nor count toward t",
          "[cc][cubic]") {
  Cubic cc = after_loss_at(100);
  cc.on_ack(ack(kSmss, 70 * kSmss, kStart));
  const std::uint32_t cwnd = cc.cwnd();
  // Less than half of cwnd in flight (RFC 7661 §4.3): the window is not in use.
  cc.on_ack(ack(kSmss, 20 * kSmss, kStart + seconds(5)));
  CHECK(cc.cwnd() == cwnd);
  CHECK(cc.epoch_start() == kStart + seconds(5));
}

TEST_CASE("CUBIC smooths RTT samples as RFC 6298 does for the t + RTT prediction",
          "[cc][cubic]") {
  Cubic cc(kSmss, 10);
  cc.on_ack(ack(kSmss, 10 * kSmss, kStart, milliseconds(100)));
  CHECK(cc.srtt() == milliseconds(100));
  cc.on_ack(ack(kSmss, 10 * kSmss, kStart, milliseconds(200)));
  CHECK(cc.srtt() == std::chrono::microseconds(112'500));
}

}  // namespace
}  // namespace utcp::stack::cc
