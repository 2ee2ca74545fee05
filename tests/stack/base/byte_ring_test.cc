// ByteRing: FIFO order across wrap-around, random access, and out-of-order writes past
// the tail (RFC 9293 §3.10.7.4), checked against a std::deque model.
#include <catch2/catch.hpp>

#include <cstdint>
#include <deque>
#include <random>
#include <vector>

#include "stack/base/byte_ring.h"

using utcp::stack::ByteRing;

namespace {

std::vector<std::uint8_t> iota_bytes(std::size_t n, std::uint8_t first) {
  std::vector<std::uint8_t> v(n);
  for (std::size_t i = 0; i < n; ++i) v[i] = static_cast<std::uint8_t>(first + i);
  return v;
}

std::vector<std::uint8_t> joined(const std::pair<ByteRing::Piece, ByteRing::Piece>& pieces) {
  std::vector<std::uint8_t> out(pieces.first.begin(), pieces.first.end());
  out.insert(out.end(), pieces.second.begin(), pieces.second.end());
  return out;
}

}  // namespace

TEST_CASE("ByteRing default-constructed has no capacity and takes nothing", "[byte_ring]") {
  ByteRing ring;
  CHECK(ring.capacity() == 0);
  CHECK(ring.empty());
  CHECK(ring.free_space() == 0);
  CHECK(ring.push(iota_bytes(4, 0)) == 0);
  std::uint8_t out[4];
  CHECK(ring.pop(out) == 0);
  CHECK(ring.write_at(0, iota_bytes(4, 0)) == 0);
  CHECK(ring.view(0, 4).first.empty());
}

TEST_CASE("ByteRing push stops at capacity and pop returns bytes in order", "[byte_ring]") {
  ByteRing ring(10);
  CHECK(ring.push(iota_bytes(7, 0)) == 7);
  CHECK(ring.push(iota_bytes(7, 7)) == 3);
  CHECK(ring.size() == 10);
  CHECK(ring.free_space() == 0);
  std::vector<std::uint8_t> out(12);
  CHECK(ring.pop(out) == 10);
  out.resize(10);
  CHECK(out == iota_bytes(10, 0));
  CHECK(ring.empty());
}

TEST_CASE("ByteRing with a non-power-of-two capacity wraps and views in two pieces",
          "[byte_ring]") {
  ByteRing ring(7);
  REQUIRE(ring.push(iota_bytes(5, 0)) == 5);
  ring.consume(4);
  REQUIRE(ring.push(iota_bytes(6, 5)) == 6);  // bytes 4..10, physically wrapped
  const auto pieces = ring.view(0, 100);
  CHECK(pieces.first.size() == 3);
  CHECK(pieces.second.size() == 4);
  CHECK(joined(pieces) == iota_bytes(7, 4));
  CHECK(joined(ring.view(2, 3)) == iota_bytes(3, 6));
  CHECK(ring.view(7, 1).first.empty());
}

TEST_CASE("ByteRing peek copies from an offset without consuming", "[byte_ring]") {
  ByteRing ring(8);
  ring.push(iota_bytes(6, 10));
  std::vector<std::uint8_t> out(10);
  CHECK(ring.peek(2, out) == 4);
  CHECK(std::vector<std::uint8_t>(out.begin(), out.begin() + 4) == iota_bytes(4, 12));
  CHECK(ring.peek(6, out) == 0);
  CHECK(ring.size() == 6);
}

TEST_CASE("ByteRing write_at stores past the tail and commit makes it readable",
          "[byte_ring]") {
  ByteRing ring(16);
  ring.push(iota_bytes(4, 0));
  // Bytes 8..11 arrive before 4..7: stored, not readable.
  CHECK(ring.write_at(4, iota_bytes(4, 8)) == 4);
  CHECK(ring.size() == 4);
  CHECK(ring.write_at(0, iota_bytes(4, 4)) == 4);
  ring.commit(8);
  CHECK(ring.size() == 12);
  CHECK(joined(ring.view(0, 12)) == iota_bytes(12, 0));
}

// Regression: draining the readable bytes used to move the head back to 0, so bytes
// already stored past the tail (a TCP receiver's out-of-order data) were read from
// the wrong place once the hole filled.
TEST_CASE("ByteRing keeps bytes stored past the tail when the readable part drains",
          "[byte_ring]") {
  ByteRing ring(16);
  ring.push(iota_bytes(6, 0));
  CHECK(ring.write_at(2, iota_bytes(3, 8)) == 3);  // 8..10 arrive before 6..7
  std::vector<std::uint8_t> out(6);
  CHECK(ring.pop(out) == 6);  // the application reads everything in order
  CHECK(ring.empty());
  CHECK(ring.write_at(0, iota_bytes(2, 6)) == 2);  // the hole fills
  ring.commit(5);
  CHECK(joined(ring.view(0, 5)) == iota_bytes(5, 6));
}

TEST_CASE("ByteRing write_at clamps to free space", "[byte_ring]") {
  ByteRing ring(10);
  ring.push(iota_bytes(4, 0));
  CHECK(ring.write_at(4, iota_bytes(5, 0)) == 2);
  CHECK(ring.write_at(6, iota_bytes(1, 0)) == 0);
  CHECK(ring.write_at(100, iota_bytes(1, 0)) == 0);
}

TEST_CASE("ByteRing reset drops contents and release frees storage", "[byte_ring]") {
  ByteRing ring(4);
  ring.push(iota_bytes(3, 0));
  ring.reset(9);
  CHECK(ring.capacity() == 9);
  CHECK(ring.empty());
  ring.release();
  CHECK(ring.capacity() == 0);
  CHECK(ring.push(iota_bytes(1, 0)) == 0);
}

TEST_CASE("ByteRing matches a deque model under random operations", "[byte_ring]") {
  std::mt19937 rng(12345);
  for (const std::size_t capacity : {1u, 7u, 64u, 100u}) {
    ByteRing ring(capacity);
    std::deque<std::uint8_t> model;
    std::uint8_t next = 0;
    for (int step = 0; step < 5000; ++step) {
      const std::size_t n = rng() % (capacity + 3);
      switch (rng() % 4) {
        case 0: {
          const auto data = iota_bytes(n, next);
          const std::size_t taken = ring.push(data);
          REQUIRE(taken == std::min(n, capacity - model.size()));
          model.insert(model.end(), data.begin(), data.begin() + static_cast<long>(taken));
          next = static_cast<std::uint8_t>(next + taken);
          break;
        }
        case 1: {
          std::vector<std::uint8_t> out(n);
          const std::size_t got = ring.pop(out);
          REQUIRE(got == std::min(n, model.size()));
          for (std::size_t i = 0; i < got; ++i) {
            REQUIRE(out[i] == model.front());
            model.pop_front();
          }
          break;
        }
        case 2: {
          // Out-of-order write then commit, as reassembly does when a gap fills.
          const std::size_t gap = rng() % 3;
          const auto late = iota_bytes(n, static_cast<std::uint8_t>(next + gap));
          const std::size_t stored = ring.write_at(gap, late);
          const auto early = iota_bytes(gap, next);
          if (stored > 0 && ring.write_at(0, early) == gap) {
            ring.commit(gap + stored);
            model.insert(model.end(), early.begin(), early.end());
            model.insert(model.end(), late.begin(), late.begin() + static_cast<long>(stored));
            next = static_cast<std::uint8_t>(next + gap + stored);
          }
          break;
        }
        default: {
          const std::size_t offset = model.empty() ? 0 : rng() % model.size();
          const auto seen = joined(ring.view(offset, n));
          REQUIRE(seen.size() == std::min(n, model.size() - std::min(offset, model.size())));
          for (std::size_t i = 0; i < seen.size(); ++i) REQUIRE(seen[i] == model[offset + i]);
          break;
        }
      }
      REQUIRE(ring.size() == model.size());
      REQUIRE(ring.free_space() == capacity - model.size());
    }
  }
}
