// parse_fault_spec: the --fault grammar of utcpd. Accepted texts are checked field by
// field; rejected ones must come back with a message that names the offending item.
#include <catch2/catch.hpp>

#include <string>

#include "stack/io/fault_injector.h"

namespace utcp::stack::io {
namespace {

using std::chrono::microseconds;
using std::chrono::milliseconds;

TEST_CASE("the documented examples parse", "[fault_spec]") {
  std::string error;
  const auto both = parse_fault_spec("loss=1%,dup=1%,reorder=25%,corrupt=0.1%,delay=10ms,seed=7",
                                     &error);
  REQUIRE(both);
  for (const FaultConfig* cfg : {&both->rx, &both->tx}) {
    CHECK(cfg->loss == Approx(0.01));
    CHECK(cfg->duplicate == Approx(0.01));
    CHECK(cfg->reorder == Approx(0.25));
    CHECK(cfg->corrupt == Approx(0.001));
    CHECK(cfg->delay == milliseconds(10));
    CHECK(cfg->active());
  }
  CHECK(both->seed == 7);

  const auto split = parse_fault_spec("rx:loss=5%,tx:delay=100ms", &error);
  REQUIRE(split);
  CHECK(split->rx.loss == Approx(0.05));
  CHECK(split->rx.delay == Duration::zero());
  CHECK(split->tx.loss == 0);
  CHECK(split->tx.delay == milliseconds(100));
  CHECK(split->seed == 1);
}

TEST_CASE("fractions, units, aliases and overrides parse", "[fault_spec]") {
  const auto spec = parse_fault_spec(
      "loss=0.02, duplicate=0, delay=250us,reorder_delay=1.5ms,limit=64,rx:loss=100%,"
      "tx:delay=2s",
      nullptr);
  REQUIRE(spec);
  CHECK(spec->rx.loss == 1.0);
  CHECK(spec->tx.loss == Approx(0.02));
  CHECK(spec->rx.delay == microseconds(250));
  CHECK(spec->tx.delay == std::chrono::seconds(2));
  CHECK(spec->rx.reorder_delay == microseconds(1500));
  CHECK(spec->rx.max_held == 64);
  CHECK(spec->tx.max_held == 64);
}

TEST_CASE("a spec without faults is not active", "[fault_spec]") {
  const auto spec = parse_fault_spec("seed=3", nullptr);
  REQUIRE(spec);
  CHECK_FALSE(spec->rx.active());
  CHECK_FALSE(spec->tx.active());
}

TEST_CASE("bad input is rejected with a message naming the item", "[fault_spec]") {
  struct Bad {
    const char* text;
    const char* names;  // what the message must mention
  };
  const Bad cases[] = {
      {"", "empty"},
      {"lose=1%", "lose=1%"},
      {"loss=abc", "loss=abc"},
      {"loss=150%", "100%"},
      {"loss=1.5", "loss=1.5"},
      {"loss=-1%", "loss=-1%"},
      {"loss=nan", "loss=nan"},
      {"loss=1e-2", "loss=1e-2"},
      {"loss=1%%", "loss=1%%"},
      {"loss=", "loss="},
      {"loss", "key=value"},
      {"loss=1%,,dup=1%", "empty item"},
      {"loss=1%,", "empty item"},
      {"delay=10", "delay=10"},
      {"delay=10min", "delay=10min"},
      {"delay=-5ms", "delay=-5ms"},
      {"delay=2h", "delay=2h"},
      {"delay=7200s", "hour"},
      {"seed=-1", "seed=-1"},
      {"seed=0x10", "seed=0x10"},
      {"rx:seed=1", "both directions"},
      {"up:loss=1%", "up:loss=1%"},
      {"limit=many", "limit=many"},
      {"limit=1", "at least 2"},
  };
  for (const Bad& bad : cases) {
    CAPTURE(bad.text);
    std::string error;
    CHECK_FALSE(parse_fault_spec(bad.text, &error));
    CHECK_THAT(error, Catch::Contains(bad.names));
  }
  CHECK_FALSE(parse_fault_spec("loss=2", nullptr));  // no message wanted: no crash
}

}  // namespace
}  // namespace utcp::stack::io
