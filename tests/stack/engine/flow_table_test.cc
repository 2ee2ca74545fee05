// FlowTable: bounded, exact-match, and deletion keeps every other key reachable
// (backward-shift deletion must not break probe runs).
#include "stack/engine/flow_table.h"

#include <catch2/catch.hpp>
#include <vector>

#include "stack/io/prng.h"

namespace utcp::stack::engine {
namespace {

wire::FourTuple tuple(std::uint16_t local_port, std::uint16_t remote_port) {
  return {{wire::Ipv4Addr::from_octets(198, 18, 0, 1), local_port},
          {wire::Ipv4Addr::from_octets(198, 18, 0, 2), remote_port}};
}

}  // namespace

TEST_CASE("flow table: insert, find, erase", "[engine][flow_table]") {
  FlowTable t(4);
  CHECK(t.insert(tuple(80, 1000), 7));
  CHECK(t.find(tuple(80, 1000)) == 7u);
  CHECK_FALSE(t.find(tuple(80, 1001)));
  CHECK_FALSE(t.insert(tuple(80, 1000), 8));  // duplicate key
  CHECK(t.erase(tuple(80, 1000)));
  CHECK_FALSE(t.erase(tuple(80, 1000)));
  CHECK_FALSE(t.find(tuple(80, 1000)));
  CHECK(t.size() == 0);
}

TEST_CASE("flow table: refuses inserts beyond its limit", "[engine][flow_table]") {
  FlowTable t(3);
  CHECK(t.insert(tuple(1, 1), 1));
  CHECK(t.insert(tuple(1, 2), 2));
  CHECK(t.insert(tuple(1, 3), 3));
  CHECK_FALSE(t.insert(tuple(1, 4), 4));
  CHECK(t.size() == 3);
  CHECK(t.erase(tuple(1, 2)));
  CHECK(t.insert(tuple(1, 4), 4));
}

TEST_CASE("flow table: random churn agrees with a reference model", "[engine][flow_table]") {
  constexpr std::size_t kLimit = 200;
  FlowTable t(kLimit);
  std::vector<int> model(1000, -1);  // remote port -> value
  io::Prng prng(42);
  for (int i = 0; i < 20000; ++i) {
    const auto port = static_cast<std::uint16_t>(prng.below(model.size()));
    if (prng.chance(0.5)) {
      const bool room = t.size() < kLimit;
      const bool inserted = t.insert(tuple(80, port), static_cast<std::uint32_t>(i));
      CHECK(inserted == (room && model[port] < 0));
      if (inserted) model[port] = i;
    } else {
      CHECK(t.erase(tuple(80, port)) == (model[port] >= 0));
      model[port] = -1;
    }
  }
  std::size_t present = 0;
  for (std::size_t port = 0; port < model.size(); ++port) {
    const auto found = t.find(tuple(80, static_cast<std::uint16_t>(port)));
    REQUIRE(found.has_value() == (model[port] >= 0));
    if (found) {
      CHECK(*found == static_cast<std::uint32_t>(model[port]));
      ++present;
    }
  }
  CHECK(present == t.size());
}

}  // namespace utcp::stack::engine
