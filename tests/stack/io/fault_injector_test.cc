// FaultInjector over a MemoryLink, in virtual time: determinism per seed, rates over
// 100,000 frames, one-bit corruption, delay and next_deadline, reordering, the hold
// bound, refusal by inner, and that every buffer comes home.
#include <catch2/catch.hpp>

#include <algorithm>
#include <array>
#include <bit>
#include <cmath>
#include <cstring>
#include <numeric>
#include <vector>

#include "stack/io/fault_injector.h"
#include "stack/io/memory_link.h"
#include "test_frames.h"

namespace utcp::stack::io {
namespace {

using std::chrono::microseconds;
using std::chrono::milliseconds;
using testing::frame_id;
using testing::numbered_bytes;
using testing::numbered_frame;

Instant at(Duration d) { return Instant(d); }

std::vector<std::uint8_t> bytes_of(const PacketBuf& pkt) { return {pkt.data, pkt.data + pkt.len}; }

// Receives everything `io` delivers at `now`, hands each frame to `seen`, frees it.
template <typename Seen>
void drain(PacketIo& io, Instant now, Seen&& seen) {
  std::array<PacketBuf*, 32> burst{};
  while (const std::size_t n = io.rx_burst(burst, now)) {
    for (std::size_t i = 0; i < n; ++i) {
      seen(*burst[i]);
      io.free(burst[i]);
    }
  }
}

std::vector<std::uint32_t> drain_ids(PacketIo& io, Instant now) {
  std::vector<std::uint32_t> ids;
  drain(io, now, [&](const PacketBuf& pkt) { ids.push_back(frame_id(pkt)); });
  return ids;
}

// Offers frames first..first+count through `io`; the caller's copies of refused
// frames are freed, so the count taken is returned.
std::size_t send(PacketIo& io, std::uint32_t first, std::size_t count, Instant now,
                 std::uint32_t len = 64) {
  std::vector<PacketBuf*> frames;
  for (std::uint32_t i = 0; i < count; ++i) frames.push_back(numbered_frame(io, first + i, len));
  const std::size_t taken = io.tx_burst(frames, now);
  for (std::size_t i = taken; i < frames.size(); ++i) io.free(frames[i]);
  return taken;
}

FaultSpec tx_only(const FaultConfig& tx, std::uint64_t seed = 1) {
  return FaultSpec{.rx = {}, .tx = tx, .seed = seed};
}
FaultSpec rx_only(const FaultConfig& rx, std::uint64_t seed = 1) {
  return FaultSpec{.rx = rx, .tx = {}, .seed = seed};
}

// Sends `count` frames through a TX injector in bursts of 32, 10 µs apart, and returns
// the ids b received once every held frame is due.
std::vector<std::uint32_t> run_tx(const FaultSpec& spec, std::uint32_t count,
                                  FaultInjector::Stats* stats = nullptr) {
  MemoryLink link({});
  std::vector<std::uint32_t> ids;
  {
    FaultInjector inj(link.a(), spec);
    Instant now{};
    for (std::uint32_t sent = 0; sent < count; sent += 32) {
      REQUIRE(send(inj, sent, std::min<std::uint32_t>(32, count - sent), now) > 0);
      for (auto id : drain_ids(link.b(), now)) ids.push_back(id);
      now += microseconds(10);
    }
    now += std::chrono::seconds(10);
    inj.tx_burst({}, now);
    for (auto id : drain_ids(link.b(), now)) ids.push_back(id);
    CHECK(inj.held_count() == 0);
    if (stats != nullptr) *stats = inj.tx_stats();
  }
  CHECK(link.buffers_in_use() == 0);
  return ids;
}

// ---- pass-through and determinism ----------------------------------------------------

TEST_CASE("with no fault configured frames pass straight through", "[fault]") {
  MemoryLink link({});
  FaultInjector inj(link.a(), FaultSpec{});
  REQUIRE(send(inj, 0, 5, Instant{}) == 5);
  CHECK(drain_ids(link.b(), Instant{}) == std::vector<std::uint32_t>{0, 1, 2, 3, 4});
  REQUIRE(send(link.b(), 5, 2, Instant{}) == 2);
  CHECK(drain_ids(inj, Instant{}) == std::vector<std::uint32_t>{5, 6});
  CHECK(inj.next_deadline() == kNever);
  CHECK(&inj.capabilities() == &link.a().capabilities());
}

TEST_CASE("the same seed gives the same drops and duplicates", "[fault]") {
  const FaultConfig faults{.loss = 0.1, .duplicate = 0.1, .reorder = 0.1};
  const auto first = run_tx(tx_only(faults, 7), 2000);
  const auto again = run_tx(tx_only(faults, 7), 2000);
  const auto other = run_tx(tx_only(faults, 8), 2000);
  CHECK(first == again);
  CHECK(first != other);
}

TEST_CASE("RX faults do not depend on how much TX traffic there was", "[fault]") {
  const FaultSpec spec{.rx = {.loss = 0.2, .duplicate = 0.1},
                       .tx = {.loss = 0.5},
                       .seed = 3};
  auto received = [&](bool with_tx) {
    MemoryLink link({});
    FaultInjector inj(link.a(), spec);
    std::vector<std::uint32_t> ids;
    for (std::uint32_t i = 0; i < 500; i += 10) {
      REQUIRE(send(link.b(), i, 10, Instant{}) == 10);
      if (with_tx) send(inj, 10000 + i, 10, Instant{});
      for (auto id : drain_ids(inj, Instant{})) ids.push_back(id);
      drain_ids(link.b(), Instant{});
    }
    return ids;
  };
  CHECK(received(false) == received(true));
}

// ---- rates ---------------------------------------------------------------------------

// |observed - expected| within five standard deviations of a binomial count.
void check_rate(std::uint64_t observed, std::uint64_t trials, double p) {
  const double mean = static_cast<double>(trials) * p;
  const double sd = std::sqrt(mean * (1 - p));
  CAPTURE(observed, trials, p);
  CHECK(std::abs(static_cast<double>(observed) - mean) <= 5 * sd);
}

TEST_CASE("observed fault rates match the configuration over 100,000 frames", "[fault]") {
  constexpr std::uint32_t kFrames = 100'000;
  const FaultConfig faults{.loss = 0.05, .duplicate = 0.02, .reorder = 0.10, .corrupt = 0.01};
  MemoryLink link({});
  FaultInjector inj(link.a(), tx_only(faults, 11));
  std::uint64_t received = 0, damaged = 0;
  std::vector<bool> seen(kFrames, false);
  auto look = [&](const PacketBuf& pkt) {
    ++received;
    const std::uint32_t id = frame_id(pkt);
    if (id >= kFrames || bytes_of(pkt) != numbered_bytes(id)) {
      ++damaged;
    } else {
      seen[id] = true;
    }
  };
  Instant now{};
  for (std::uint32_t sent = 0; sent < kFrames; sent += 50) {
    REQUIRE(send(inj, sent, 50, now) == 50);
    drain(link.b(), now, look);
    now += microseconds(20);
  }
  now += milliseconds(2);
  inj.tx_burst({}, now);
  drain(link.b(), now, look);

  const auto& s = inj.tx_stats();
  const std::uint64_t survivors = kFrames - s.lost;
  check_rate(s.lost, kFrames, 0.05);
  check_rate(s.duplicated, survivors, 0.02);
  check_rate(s.corrupted, survivors, 0.01);
  check_rate(s.reordered, survivors, 0.10);
  CHECK(received == survivors + s.duplicated);
  CHECK(damaged == s.corrupted);  // only originals are damaged: copies come first
  const auto intact = static_cast<std::uint64_t>(std::count(seen.begin(), seen.end(), true));
  CHECK(intact + s.lost + s.corrupted >= kFrames);  // a damaged original may have a clean copy
  CHECK(link.buffers_in_use() == 0);
}

// ---- corruption ----------------------------------------------------------------------

int bits_changed(const std::vector<std::uint8_t>& a, const std::vector<std::uint8_t>& b) {
  int bits = 0;
  for (std::size_t i = 0; i < a.size(); ++i) bits += std::popcount(std::uint8_t(a[i] ^ b[i]));
  return bits;
}

TEST_CASE("corruption changes exactly one bit", "[fault]") {
  MemoryLink link({});
  FaultInjector inj(link.a(), tx_only({.corrupt = 1.0}));
  std::vector<std::vector<std::uint8_t>> got;
  for (std::uint32_t i = 0; i < 300; ++i) {
    const std::uint32_t len = 60 + i * 4;
    REQUIRE(send(inj, i, 1, Instant{}, len) == 1);
    drain(link.b(), Instant{}, [&](const PacketBuf& pkt) { got.push_back(bytes_of(pkt)); });
    REQUIRE(got.size() == i + 1);
    CHECK(got.back().size() == len);
    CHECK(bits_changed(got.back(), numbered_bytes(i, len)) == 1);
  }
  CHECK(inj.tx_stats().corrupted == 300);
}

TEST_CASE("TX corruption lands after the checksums the device fills", "[fault]") {
  MemoryLinkConfig cfg;
  cfg.caps_template.tx_ip_checksum = cfg.caps_template.tx_l4_checksum = true;
  MemoryLink link(cfg);
  FaultInjector inj(link.a(), tx_only({.corrupt = 1.0}));
  for (int i = 0; i < 200; ++i) {
    PacketBuf* pkt = inj.alloc();
    testing::write_tcp_frame(*pkt, {.payload = 200, .ip_checksum = false, .tcp_checksum = false});
    REQUIRE(inj.tx_burst(std::span(&pkt, 1), Instant{}) == 1);
    drain(link.b(), Instant{}, [&](const PacketBuf& rx) {
      const bool in_ethernet = std::memcmp(rx.data + 12, "\x08\x00", 2) != 0 ||
                               std::memcmp(rx.data, "\x02\x02\x02\x02\x02\x02", 6) != 0 ||
                               std::memcmp(rx.data + 6, "\x04\x04\x04\x04\x04\x04", 6) != 0;
      // Outside the Ethernet header (which an FCS would guard) a checksum catches it.
      CHECK((in_ethernet || !testing::ip_checksum_valid(rx) || !testing::tcp_checksum_valid(rx)));
    });
  }
}

TEST_CASE("RX corruption withdraws the device's checksum verdicts", "[fault]") {
  MemoryLinkConfig cfg;
  cfg.caps_template.rx_ip_checksum = cfg.caps_template.rx_l4_checksum = true;
  MemoryLink link(cfg);
  FaultInjector inj(link.b(), rx_only({.corrupt = 1.0}));
  PacketBuf* pkt = link.a().alloc();
  testing::write_tcp_frame(*pkt, {});
  REQUIRE(link.a().tx_burst(std::span(&pkt, 1), Instant{}) == 1);
  int frames = 0;
  drain(inj, Instant{}, [&](const PacketBuf& rx) {
    ++frames;
    CHECK_FALSE(rx.rx_ip_checksum_ok);
    CHECK_FALSE(rx.rx_l4_checksum_ok);
  });
  CHECK(frames == 1);
  CHECK(inj.rx_stats().corrupted == 1);
}

// ---- delay and reordering ------------------------------------------------------------

TEST_CASE("TX delay holds frames until now reaches their due time", "[fault]") {
  MemoryLink link({});
  FaultInjector inj(link.a(), tx_only({.delay = milliseconds(10)}));
  REQUIRE(send(inj, 0, 3, at(milliseconds(0))) == 3);
  REQUIRE(send(inj, 3, 1, at(milliseconds(4))) == 1);
  CHECK(inj.next_deadline() == at(milliseconds(10)));
  CHECK(drain_ids(link.b(), at(milliseconds(9))).empty());

  inj.tx_burst({}, at(milliseconds(10)) - Duration(1));
  CHECK(drain_ids(link.b(), at(milliseconds(10))).empty());

  std::array<PacketBuf*, 1> none{};
  inj.rx_burst(none, at(milliseconds(10)));  // rx_burst flushes TX too
  CHECK(drain_ids(link.b(), at(milliseconds(10))) == std::vector<std::uint32_t>{0, 1, 2});
  CHECK(inj.next_deadline() == at(milliseconds(14)));
  inj.tx_burst({}, at(milliseconds(14)));
  CHECK(drain_ids(link.b(), at(milliseconds(14))) == std::vector<std::uint32_t>{3});
  CHECK(inj.next_deadline() == kNever);
  CHECK(inj.tx_stats().delayed == 4);
}

TEST_CASE("RX delay holds received frames and next_deadline reports them", "[fault]") {
  MemoryLink link({});
  FaultInjector inj(link.b(), rx_only({.delay = milliseconds(5)}));
  REQUIRE(send(link.a(), 0, 2, Instant{}) == 2);
  CHECK(drain_ids(inj, at(milliseconds(0))).empty());
  CHECK(inj.held_count() == 2);
  CHECK(inj.next_deadline() == at(milliseconds(5)));
  CHECK(drain_ids(inj, at(milliseconds(5)) - Duration(1)).empty());
  CHECK(drain_ids(inj, at(milliseconds(5))) == std::vector<std::uint32_t>{0, 1});
  CHECK(inj.next_deadline() == kNever);
}

TEST_CASE("a reordered frame is overtaken by later ones", "[fault]") {
  MemoryLink link({});
  FaultInjector inj(link.a(),
                    tx_only({.reorder = 0.3, .reorder_delay = milliseconds(1)}, 5));
  std::vector<std::uint32_t> ids;
  Instant now{};
  for (std::uint32_t i = 0; i < 200; ++i) {
    REQUIRE(send(inj, i, 1, now) == 1);
    for (auto id : drain_ids(link.b(), now)) ids.push_back(id);
    now += microseconds(100);
  }
  now += milliseconds(1);
  inj.tx_burst({}, now);
  for (auto id : drain_ids(link.b(), now)) ids.push_back(id);

  REQUIRE(ids.size() == 200);
  CHECK_FALSE(std::is_sorted(ids.begin(), ids.end()));
  std::vector<std::uint32_t> sorted = ids;
  std::sort(sorted.begin(), sorted.end());
  std::vector<std::uint32_t> all(200);
  std::iota(all.begin(), all.end(), 0u);
  CHECK(sorted == all);  // reordered, none lost or repeated
  CHECK(inj.tx_stats().reordered > 0);
  // A frame held 1 ms longer than the 100 µs pacing lets about ten later ones pass.
  const auto first_late = std::adjacent_find(ids.begin(), ids.end(),
                                             [](auto a, auto b) { return a > b; });
  REQUIRE(first_late != ids.end());
  CHECK(*first_late - *(first_late + 1) >= 9);
}

// ---- bounds, refusal, ownership ------------------------------------------------------

TEST_CASE("frames inner refuses stay held, in order, and go later", "[fault]") {
  MemoryLink link({.queue_limit = 4});
  FaultInjector inj(link.a(), tx_only({.delay = microseconds(1)}));
  REQUIRE(send(inj, 0, 10, Instant{}) == 10);
  const Instant t1 = at(microseconds(1));
  std::vector<std::uint32_t> ids;
  for (int round = 0; round < 3; ++round) {
    inj.tx_burst({}, t1);
    for (auto id : drain_ids(link.b(), t1)) ids.push_back(id);
  }
  CHECK(ids == std::vector<std::uint32_t>{0, 1, 2, 3, 4, 5, 6, 7, 8, 9});
  CHECK(inj.held_count() == 0);
  CHECK(link.buffers_in_use() == 0);
}

TEST_CASE("a full hold refuses TX and leaves RX frames in the device", "[fault]") {
  MemoryLink link({});
  const FaultConfig small{.delay = milliseconds(1), .max_held = 8};
  FaultInjector inj(link.a(), FaultSpec{.rx = small, .tx = small, .seed = 1});

  const std::size_t taken = send(inj, 0, 20, Instant{});
  CHECK(taken < 20);
  CHECK(inj.held_count() <= 8);

  REQUIRE(send(link.b(), 100, 20, Instant{}) == 20);
  std::vector<std::uint32_t> rx_ids;
  for (int i = 0; i < 10; ++i) {
    for (auto id : drain_ids(inj, Instant{})) rx_ids.push_back(id);
    CHECK(inj.held_count() <= 16);
  }
  CHECK(rx_ids.empty());
  Instant now = at(milliseconds(1));
  for (int round = 0; round < 20 && rx_ids.size() < 20; ++round) {
    for (auto id : drain_ids(inj, now)) rx_ids.push_back(id);
    now += milliseconds(1);
  }
  CHECK(rx_ids.size() == 20);  // nothing lost, only slowed
  CHECK(drain_ids(link.b(), now).size() == taken);
  CHECK(link.buffers_in_use() == 0);
}

TEST_CASE("duplication is skipped when inner's pool is empty", "[fault]") {
  MemoryLink link({.pool_size = 4});
  FaultInjector inj(link.a(), tx_only({.duplicate = 1.0}));
  REQUIRE(send(inj, 0, 4, Instant{}) == 4);
  CHECK(inj.tx_stats().duplicated == 0);
  CHECK(drain_ids(link.b(), Instant{}) == std::vector<std::uint32_t>{0, 1, 2, 3});
  REQUIRE(send(inj, 4, 1, Instant{}) == 1);
  CHECK(inj.tx_stats().duplicated == 1);
  CHECK(drain_ids(link.b(), Instant{}) == std::vector<std::uint32_t>{4, 4});
}

TEST_CASE("the destructor frees every held frame through inner", "[fault]") {
  MemoryLink link({});
  {
    const FaultConfig slow{.delay = std::chrono::seconds(1)};
    FaultInjector inj(link.a(), FaultSpec{.rx = slow, .tx = slow, .seed = 1});
    REQUIRE(send(inj, 0, 10, Instant{}) == 10);
    REQUIRE(send(link.b(), 10, 10, Instant{}) == 10);
    CHECK(drain_ids(inj, Instant{}).empty());
    CHECK(inj.held_count() == 20);
    CHECK(link.buffers_in_use() == 20);
  }
  CHECK(link.buffers_in_use() == 0);
}

TEST_CASE("loss frees the lost frames through inner", "[fault]") {
  FaultInjector::Stats stats;
  const auto ids = run_tx(tx_only({.loss = 1.0}), 100, &stats);  // checks buffers_in_use
  CHECK(ids.empty());
  CHECK(stats.lost == 100);
}

}  // namespace
}  // namespace utcp::stack::io
