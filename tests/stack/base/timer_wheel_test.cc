// TimerWheel on virtual time: nodes fire at, never before, their deadline; re-entrant
// callbacks; big jumps of `now`; an exact next_deadline(); many long (coarse) timers. The randomized case checks
// every step against a std::multimap reference model.
#include <catch2/catch.hpp>

#include <map>
#include <memory>
#include <optional>
#include <random>
#include <set>
#include <vector>

#include "stack/base/timer_wheel.h"

using utcp::stack::Duration;
using utcp::stack::Instant;
using utcp::stack::instant_from_us;
using utcp::stack::kNever;
using utcp::stack::TimerNode;
using utcp::stack::TimerWheel;

namespace {

constexpr Duration kMs{1000};
constexpr Instant kStart = instant_from_us(1'000'000);

std::vector<std::uint64_t> advance_collect(TimerWheel& wheel, Instant now) {
  std::vector<std::uint64_t> fired;
  wheel.advance(now, [&](TimerNode& node) { fired.push_back(node.user); });
  return fired;
}

}  // namespace

TEST_CASE("TimerWheel fires a node at its deadline, not a tick before", "[timer_wheel]") {
  TimerWheel wheel(kMs, 64, kStart);
  TimerNode node;
  node.user = 7;
  wheel.schedule(node, kStart + Duration(1500));
  CHECK(node.armed());
  CHECK(node.deadline() == kStart + Duration(1500));
  CHECK(advance_collect(wheel, kStart + Duration(1499)).empty());
  CHECK(advance_collect(wheel, kStart + Duration(1500)) == std::vector<std::uint64_t>{7});
  CHECK_FALSE(node.armed());
  CHECK(node.deadline() == kNever);
  CHECK(wheel.size() == 0);
}

TEST_CASE("TimerWheel fires a past deadline on the next advance", "[timer_wheel]") {
  TimerWheel wheel(kMs, 64, kStart);
  advance_collect(wheel, kStart + 10 * kMs);
  TimerNode node;
  wheel.schedule(node, kStart);
  CHECK(wheel.next_deadline() == kStart);
  CHECK(advance_collect(wheel, kStart + 10 * kMs).size() == 1);
}

TEST_CASE("TimerWheel cancel disarms and is a no-op when not armed", "[timer_wheel]") {
  TimerWheel wheel(kMs, 64, kStart);
  TimerNode node;
  wheel.cancel(node);
  wheel.schedule(node, kStart + kMs);
  wheel.cancel(node);
  CHECK_FALSE(node.armed());
  CHECK(wheel.size() == 0);
  CHECK(advance_collect(wheel, kStart + 5 * kMs).empty());
}

TEST_CASE("TimerWheel node destroyed while armed unlinks itself", "[timer_wheel]") {
  TimerWheel wheel(kMs, 64, kStart);
  TimerNode kept;
  {
    TimerNode gone;
    wheel.schedule(gone, kStart + kMs);
    wheel.schedule(kept, kStart + kMs);
    CHECK(wheel.size() == 2);
  }
  CHECK(wheel.size() == 1);
  CHECK(advance_collect(wheel, kStart + kMs).size() == 1);
}

TEST_CASE("TimerWheel re-scheduling moves the deadline", "[timer_wheel]") {
  TimerWheel wheel(kMs, 64, kStart);
  TimerNode node;
  wheel.schedule(node, kStart + kMs);
  wheel.schedule(node, kStart + 3 * kMs);
  CHECK(wheel.size() == 1);
  CHECK(advance_collect(wheel, kStart + 2 * kMs).empty());
  CHECK(advance_collect(wheel, kStart + 3 * kMs).size() == 1);
}

TEST_CASE("TimerWheel keeps deadlines beyond one rotation for later rounds", "[timer_wheel]") {
  TimerWheel wheel(kMs, 8, kStart);  // an 8 ms rotation
  TimerNode node;
  wheel.schedule(node, kStart + 21 * kMs);
  for (int ms = 1; ms < 21; ++ms) CHECK(advance_collect(wheel, kStart + ms * kMs).empty());
  CHECK(advance_collect(wheel, kStart + 21 * kMs).size() == 1);
}

TEST_CASE("TimerWheel handles a jump of days with microsecond ticks", "[timer_wheel]") {
  TimerWheel wheel(Duration(1), 4096, kStart);
  TimerNode early;
  TimerNode late;
  wheel.schedule(early, kStart + Duration(10));
  wheel.schedule(late, kStart + std::chrono::hours(24 * 3));
  CHECK(advance_collect(wheel, kStart + std::chrono::hours(24)).size() == 1);
  CHECK(late.armed());
  CHECK(wheel.next_deadline() == kStart + std::chrono::hours(24 * 3));
  CHECK(advance_collect(wheel, kStart + std::chrono::hours(24 * 365)).size() == 1);
}

TEST_CASE("TimerWheel next_deadline is exact and follows cancel", "[timer_wheel]") {
  TimerWheel wheel(kMs, 64, kStart);
  CHECK(wheel.next_deadline() == kNever);
  TimerNode a;
  TimerNode b;
  TimerNode c;
  wheel.schedule(a, kStart + Duration(2345));
  wheel.schedule(b, kStart + Duration(2301));
  wheel.schedule(c, kStart + Duration(900'000));  // many rotations away
  CHECK(wheel.next_deadline() == kStart + Duration(2301));
  wheel.cancel(b);
  CHECK(wheel.next_deadline() == kStart + Duration(2345));
  wheel.cancel(a);
  CHECK(wheel.next_deadline() == kStart + Duration(900'000));
  wheel.cancel(c);
  CHECK(wheel.next_deadline() == kNever);
}

// What a busy server holds: a 60 s TIME-WAIT timer per closed connection, far beyond one
// 4 s rotation, plus short timers. Every long timer cascades to the fine wheel and fires
// at its deadline, and next_deadline() stays exact across the coarse-tick boundaries.
TEST_CASE("TimerWheel: 60 s timers armed every 5 ms fire on time, next_deadline exact",
          "[timer_wheel]") {
  TimerWheel wheel(kMs, 4096, kStart);
  constexpr int kNodes = 16'000;  // 80 s of arming
  std::vector<TimerNode> nodes(kNodes);
  std::vector<Instant> deadlines(kNodes);
  std::multiset<Instant> armed;
  TimerNode short_timer;
  short_timer.user = kNodes;
  int next = 0;
  int fired = 0;
  for (Instant now = kStart; now <= kStart + std::chrono::seconds(150); now += kMs) {
    wheel.advance(now, [&](TimerNode& n) {
      const Instant deadline =
          n.user == kNodes ? now : deadlines[static_cast<std::size_t>(n.user)];
      REQUIRE(deadline <= now);
      REQUIRE(deadline > now - kMs);  // at the first advance at or after it
      if (n.user != kNodes) {
        armed.erase(armed.find(deadline));
        ++fired;
      }
    });
    if (next < kNodes && (now - kStart) % (5 * kMs) == Duration(0)) {
      // Microsecond jitter, so deadlines fall anywhere inside their ticks.
      const Instant deadline = now + std::chrono::seconds(60) + Duration(next * 37 % 1000);
      nodes[static_cast<std::size_t>(next)].user = static_cast<std::uint64_t>(next);
      deadlines[static_cast<std::size_t>(next)] = deadline;
      wheel.schedule(nodes[static_cast<std::size_t>(next)], deadline);
      armed.insert(deadline);
      ++next;
    }
    if ((now - kStart) % (700 * kMs) == Duration(0)) wheel.schedule(short_timer, now + 3 * kMs);
    const Instant expected = std::min(armed.empty() ? kNever : *armed.begin(),
                                      short_timer.deadline());
    REQUIRE(wheel.next_deadline() == expected);
  }
  CHECK(fired == kNodes);
  CHECK(wheel.size() == 0);
}

TEST_CASE("TimerWheel callback re-scheduling its own node fires once per advance",
          "[timer_wheel]") {
  TimerWheel wheel(kMs, 16, kStart);
  TimerNode node;
  wheel.schedule(node, kStart);
  int fires = 0;
  for (int i = 1; i <= 5; ++i) {
    // A re-arm at or before `now` must wait for the next advance, not loop.
    wheel.advance(kStart + i * kMs, [&](TimerNode& n) {
      ++fires;
      wheel.schedule(n, kStart);
    });
    CHECK(fires == i);
  }
}

TEST_CASE("TimerWheel callback may destroy the owners of other due nodes", "[timer_wheel]") {
  TimerWheel wheel(kMs, 16, kStart);
  std::vector<std::unique_ptr<TimerNode>> owners;
  for (int i = 0; i < 4; ++i) {
    owners.push_back(std::make_unique<TimerNode>());
    owners.back()->user = static_cast<std::uint64_t>(i);
    wheel.schedule(*owners.back(), kStart + kMs);
  }
  int fires = 0;
  wheel.advance(kStart + kMs, [&](TimerNode& n) {
    ++fires;
    // Each fire destroys every other owner, itself included.
    for (auto& owner : owners) {
      if (owner && owner.get() != &n) owner.reset();
    }
    for (auto& owner : owners) {
      if (owner.get() == &n) owner.reset();
    }
  });
  CHECK(fires == 1);
  CHECK(wheel.size() == 0);
}

TEST_CASE("TimerWheel destroyed with armed nodes leaves them unarmed", "[timer_wheel]") {
  TimerNode node;
  {
    TimerWheel wheel(kMs, 16, kStart);
    wheel.schedule(node, kStart + kMs);
  }
  CHECK_FALSE(node.armed());
}

namespace {

// Reference model: the armed deadlines, plus the set of ids each node maps to.
struct Model {
  std::multimap<Instant, int> by_deadline;
  std::vector<std::optional<std::multimap<Instant, int>::iterator>> where;

  explicit Model(std::size_t n) : where(n) {}
  void arm(int id, Instant d) {
    disarm(id);
    where[static_cast<std::size_t>(id)] = by_deadline.emplace(d, id);
  }
  void disarm(int id) {
    auto& it = where[static_cast<std::size_t>(id)];
    if (it) by_deadline.erase(*it);
    it.reset();
  }
  Instant min() const { return by_deadline.empty() ? kNever : by_deadline.begin()->first; }
};

struct Owner {
  TimerNode node;
};

void run_random_model(Duration tick, std::size_t slots, std::uint32_t seed) {
  constexpr int kNodes = 300;
  std::mt19937 rng(seed);
  TimerWheel wheel(tick, slots, kStart);
  Model model(kNodes);
  std::vector<std::unique_ptr<Owner>> owners(kNodes);
  Instant now = kStart;
  int fires = 0;
  const Duration span = tick * static_cast<std::int64_t>(slots);

  auto random_deadline = [&]() {
    switch (rng() % 5) {
      case 0: return now - Duration(rng() % 5000);          // already past
      case 1: return now + Duration(rng() % 3000);          // within a few ticks
      case 2: return now + Duration(rng() % (span.count() * 3 + 1));  // several rotations
      case 3: return now + std::chrono::minutes(rng() % 30);  // far away
      default: return now + Duration(rng() % 100'000);
    }
  };
  auto ensure_owner = [&](int id) -> Owner& {
    auto& owner = owners[static_cast<std::size_t>(id)];
    if (!owner) {
      owner = std::make_unique<Owner>();
      owner->node.user = static_cast<std::uint64_t>(id);
    }
    return *owner;
  };
  auto destroy = [&](int id) {
    owners[static_cast<std::size_t>(id)].reset();
    model.disarm(id);
  };

  for (int step = 0; step < 4000; ++step) {
    const int id = static_cast<int>(rng() % kNodes);
    const unsigned op = rng() % 10;
    if (op < 5) {
      const Instant d = random_deadline();
      wheel.schedule(ensure_owner(id).node, d);
      model.arm(id, d);
    } else if (op < 6) {
      if (auto& owner = owners[static_cast<std::size_t>(id)]) wheel.cancel(owner->node);
      model.disarm(id);
    } else if (op < 7) {
      destroy(id);
    } else {
      // Mostly small steps, sometimes a jump of minutes, sometimes no time at all.
      const unsigned kind = rng() % 10;
      const Duration step_by = kind == 0   ? std::chrono::minutes(1 + rng() % 20)
                               : kind == 1 ? Duration(0)
                                           : Duration(rng() % 4000);
      now += step_by;
      std::set<int> rearmed_in_past;
      wheel.advance(now, [&](TimerNode& node) {
        ++fires;
        const int fired = static_cast<int>(node.user);
        auto& where = model.where[static_cast<std::size_t>(fired)];
        REQUIRE(where.has_value());
        REQUIRE((*where)->first <= now);  // never before its deadline
        REQUIRE_FALSE(node.armed());
        model.disarm(fired);
        const unsigned action = rng() % 6;
        if (action == 0) {
          const Instant d = random_deadline();
          wheel.schedule(node, d);
          model.arm(fired, d);
          if (d <= now) rearmed_in_past.insert(fired);
        } else if (action == 1) {
          const int other = static_cast<int>(rng() % kNodes);
          if (owners[static_cast<std::size_t>(other)]) {
            wheel.cancel(owners[static_cast<std::size_t>(other)]->node);
          }
          model.disarm(other);
          rearmed_in_past.erase(other);
        } else if (action == 2) {
          const int other = static_cast<int>(rng() % kNodes);
          destroy(other);
          rearmed_in_past.erase(other);
        } else if (action == 3) {
          destroy(fired);  // `node` dangles from here on
          rearmed_in_past.erase(fired);
        }
        REQUIRE(wheel.size() == model.by_deadline.size());
      });
      // Everything due fired, except nodes the callbacks re-armed in the past.
      for (auto it = model.by_deadline.begin(); it != model.by_deadline.end() && it->first <= now;
           ++it) {
        REQUIRE(rearmed_in_past.count(it->second) == 1);
      }
    }
    REQUIRE(wheel.size() == model.by_deadline.size());
    REQUIRE(wheel.next_deadline() == model.min());
  }
  for (int id = 0; id < kNodes; ++id) {
    const auto& owner = owners[static_cast<std::size_t>(id)];
    const auto& where = model.where[static_cast<std::size_t>(id)];
    if (owner) REQUIRE(owner->node.deadline() == (where ? (*where)->first : kNever));
  }
  CHECK(fires > 500);  // the run exercised firing, not only scheduling
}

}  // namespace

TEST_CASE("TimerWheel matches a multimap model under random operations", "[timer_wheel]") {
  SECTION("1 ms x 4096 slots") { run_random_model(kMs, 4096, 1); }
  SECTION("1 ms x 64 slots: most deadlines need several rounds") {
    run_random_model(kMs, 64, 2);
  }
  SECTION("100 us x 7 slots") { run_random_model(Duration(100), 7, 3); }
  SECTION("1 us x 1 slot") { run_random_model(Duration(1), 1, 4); }
}
