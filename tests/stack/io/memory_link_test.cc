// MemoryLink: frames cross intact both ways, the bounds refuse instead of growing,
// offloads advertised are performed, and every buffer comes home.
#include <catch2/catch.hpp>

#include <array>
#include <vector>

#include "stack/io/memory_link.h"
#include "test_frames.h"

namespace utcp::stack::io {
namespace {

using testing::frame_id;
using testing::numbered_bytes;
using testing::numbered_frame;

const Instant kT0{};

std::vector<std::uint8_t> bytes_of(const PacketBuf& pkt) {
  return {pkt.data, pkt.data + pkt.len};
}

// Receives everything waiting at `io`, frees it, and returns the frame numbers.
std::vector<std::uint32_t> drain_ids(PacketIo& io) {
  std::vector<std::uint32_t> ids;
  std::array<PacketBuf*, 16> burst{};
  while (const std::size_t n = io.rx_burst(burst, kT0)) {
    for (std::size_t i = 0; i < n; ++i) {
      ids.push_back(frame_id(*burst[i]));
      io.free(burst[i]);
    }
  }
  return ids;
}

TEST_CASE("frames cross the link both ways intact", "[memory_link]") {
  MemoryLink link({});
  PacketBuf* to_b = numbered_frame(link.a(), 1, 100);
  PacketBuf* to_a = numbered_frame(link.b(), 2, 1514);
  REQUIRE(link.a().tx_burst(std::span(&to_b, 1), kT0) == 1);
  REQUIRE(link.b().tx_burst(std::span(&to_a, 1), kT0) == 1);

  std::array<PacketBuf*, 4> got{};
  REQUIRE(link.b().rx_burst(got, kT0) == 1);
  CHECK(bytes_of(*got[0]) == numbered_bytes(1, 100));
  CHECK_FALSE(got[0]->rss_hash_valid);
  link.b().free(got[0]);
  REQUIRE(link.a().rx_burst(got, kT0) == 1);
  CHECK(bytes_of(*got[0]) == numbered_bytes(2, 1514));
  link.a().free(got[0]);

  CHECK(link.b().rx_burst(got, kT0) == 0);
  CHECK(link.stats().a_to_b == 1);
  CHECK(link.stats().b_to_a == 1);
  CHECK(link.stats().refused == 0);
  CHECK(link.buffers_in_use() == 0);
}

TEST_CASE("each end advertises its own MAC and the configured MTU", "[memory_link]") {
  MemoryLinkConfig cfg;
  cfg.mtu = 9000;
  cfg.caps_template.rx_l4_checksum = true;
  cfg.caps_template.mtu = 1;
  MemoryLink link(cfg);
  CHECK(link.a().capabilities().mac == cfg.mac_a);
  CHECK(link.b().capabilities().mac == cfg.mac_b);
  CHECK(link.a().capabilities().mtu == 9000);
  CHECK(link.b().capabilities().rx_l4_checksum);
}

TEST_CASE("frames keep their order within a burst and across bursts", "[memory_link]") {
  MemoryLink link({});
  std::vector<PacketBuf*> frames;
  for (std::uint32_t id = 0; id < 40; ++id) frames.push_back(numbered_frame(link.a(), id));
  REQUIRE(link.a().tx_burst(std::span(frames).first(25), kT0) == 25);
  REQUIRE(link.a().tx_burst(std::span(frames).subspan(25), kT0) == 15);
  const auto ids = drain_ids(link.b());
  REQUIRE(ids.size() == 40);
  for (std::uint32_t id = 0; id < 40; ++id) CHECK(ids[id] == id);
}

TEST_CASE("tx_burst takes only what fits under queue_limit", "[memory_link]") {
  MemoryLink link({.queue_limit = 4});
  std::vector<PacketBuf*> frames;
  for (std::uint32_t id = 0; id < 6; ++id) frames.push_back(numbered_frame(link.a(), id));

  CHECK(link.a().tx_burst(frames, kT0) == 4);
  CHECK(link.stats().refused == 2);

  CHECK(drain_ids(link.b()) == std::vector<std::uint32_t>{0, 1, 2, 3});
  CHECK(link.a().tx_burst(std::span(frames).subspan(4), kT0) == 2);
  CHECK(drain_ids(link.b()) == std::vector<std::uint32_t>{4, 5});
  CHECK(link.buffers_in_use() == 0);
}

TEST_CASE("alloc returns nullptr once the pool is empty", "[memory_link]") {
  MemoryLink link({.pool_size = 3, .buffer_size = 256});
  std::vector<PacketBuf*> held;
  for (int i = 0; i < 3; ++i) {
    PacketBuf* pkt = link.a().alloc();
    REQUIRE(pkt != nullptr);
    CHECK(pkt->capacity == 256);
    CHECK(pkt->len == 0);
    held.push_back(pkt);
  }
  CHECK(link.a().alloc() == nullptr);
  CHECK(link.b().alloc() != nullptr);  // each end has its own pool
  CHECK(link.buffers_in_use() == 4);

  link.a().free(held.back());
  held.pop_back();
  CHECK(link.a().alloc() != nullptr);
}

TEST_CASE("buffers_in_use counts frames in flight and returns to zero", "[memory_link]") {
  MemoryLink link({});
  std::vector<PacketBuf*> frames;
  for (std::uint32_t id = 0; id < 10; ++id) frames.push_back(numbered_frame(link.a(), id));
  REQUIRE(link.a().tx_burst(frames, kT0) == 10);
  CHECK(link.buffers_in_use() == 10);

  // b echoes what it got, as a forwarding engine would; a frees the echoes.
  std::array<PacketBuf*, 16> got{};
  const std::size_t n = link.b().rx_burst(got, kT0);
  REQUIRE(n == 10);
  REQUIRE(link.b().tx_burst(std::span(got).first(n), kT0) == 10);
  CHECK(link.buffers_in_use() == 10);
  CHECK(drain_ids(link.a()).size() == 10);
  CHECK(link.buffers_in_use() == 0);
}

TEST_CASE("received frames carry no transmit requests", "[memory_link]") {
  MemoryLink link({});
  PacketBuf* pkt = numbered_frame(link.a(), 1);
  pkt->tso_segsz = 1000;
  pkt->tx_l4_checksum = true;
  pkt->rss_hash = 42;
  REQUIRE(link.a().tx_burst(std::span(&pkt, 1), kT0) == 1);
  std::array<PacketBuf*, 1> got{};
  REQUIRE(link.b().rx_burst(got, kT0) == 1);
  CHECK(got[0]->tso_segsz == 0);
  CHECK_FALSE(got[0]->tx_l4_checksum);
  CHECK(got[0]->rss_hash == 0);
  CHECK(bytes_of(*got[0]) == numbered_bytes(1));
  link.b().free(got[0]);
}

}  // namespace
}  // namespace utcp::stack::io
