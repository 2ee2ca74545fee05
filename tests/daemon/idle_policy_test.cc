// The engine loop's sleep decisions (daemon/core/idle_policy.h).
#include <catch2/catch.hpp>

#include "daemon/core/idle_policy.h"

using namespace utcp::daemon;
using utcp::stack::instant_from_us;
using utcp::stack::kNever;

TEST_CASE("spins after work, then sleeps") {
  IdlePolicy p({.spin_rounds = 3});
  CHECK_FALSE(p.after_round(0));
  CHECK_FALSE(p.after_round(0));
  CHECK(p.after_round(0));
  CHECK_FALSE(p.after_round(5));  // work resets the spin
  CHECK_FALSE(p.after_round(0));
  CHECK_FALSE(p.after_round(0));
  CHECK(p.after_round(0));
}

TEST_CASE("busy polling never sleeps") {
  IdlePolicy p({.busy_poll = true, .spin_rounds = 1});
  for (int i = 0; i < 100; ++i) CHECK_FALSE(p.after_round(0));
}

TEST_CASE("the timeout reaches the next deadline, never earlier") {
  IdlePolicy p({});
  CHECK(p.sleep_timeout_us(instant_from_us(1000), kNever) == -1);
  CHECK(p.sleep_timeout_us(instant_from_us(1000), instant_from_us(1001)) == 1);
  CHECK(p.sleep_timeout_us(instant_from_us(1000), instant_from_us(3000)) == 2000);
  CHECK(p.sleep_timeout_us(instant_from_us(5000), instant_from_us(3000)) == 0);
}

TEST_CASE("without RX interrupts the sleep is bounded and backs off") {
  IdlePolicy p({.rx_interrupts = false, .poll_sleep_min_us = 20, .poll_sleep_max_us = 8000});
  const auto now = instant_from_us(0);
  std::int64_t expect = 20;
  for (int i = 0; i < 9; ++i, expect *= 2) CHECK(p.sleep_timeout_us(now, kNever) == expect);
  CHECK(p.sleep_timeout_us(now, kNever) == 8000);  // 10240 capped
  CHECK(p.sleep_timeout_us(now, kNever) == 8000);
  CHECK(p.sleep_timeout_us(now, instant_from_us(3000)) == 3000);
  p.after_round(1);  // work: short sleeps again
  CHECK(p.sleep_timeout_us(now, kNever) == 20);
}
