// Reassembly: out-of-order ranges above RCV.NXT — hole filling, overlap, SACK block
// order (RFC 2018 §4), the bound on ranges against hostile one-byte segments, and
// wrap-around.
#include <catch2/catch.hpp>

#include <array>
#include <cstdint>
#include <span>
#include <vector>

#include "stack/sack/reassembly.h"

using utcp::stack::SeqNum;
using utcp::stack::sack::Reassembly;
using utcp::stack::wire::SackBlock;

namespace {

SackBlock block(std::uint32_t left, std::uint32_t right) {
  return SackBlock{SeqNum(left), SeqNum(right)};
}

std::vector<SackBlock> blocks_of(const Reassembly& r, std::size_t room) {
  std::vector<SackBlock> out(room);
  out.resize(r.sack_blocks(out));
  return out;
}

}  // namespace

// ---------------------------------------------------------------- holes and overlap

TEST_CASE("pop_contiguous releases the data a filled hole joins", "[sack][reassembly]") {
  Reassembly r(8);
  SeqNum rcv_nxt(1000);
  CHECK(r.insert(rcv_nxt, SeqNum(2000), 1000));
  CHECK(r.insert(rcv_nxt, SeqNum(3000), 500));  // adjacent: merges
  CHECK(r.insert(rcv_nxt, SeqNum(4000), 1000));
  CHECK(r.range_count() == 2);
  CHECK(r.buffered_bytes() == 2500);
  CHECK(r.highest_end() == SeqNum(5000));
  CHECK(r.pop_contiguous(rcv_nxt) == 0);  // the hole [1000, 2000) is still open

  rcv_nxt += 1000;  // in-order segment [1000, 2000) arrived
  const std::uint32_t more = r.pop_contiguous(rcv_nxt);
  CHECK(more == 1500);
  rcv_nxt += more;
  CHECK(r.range_count() == 1);
  CHECK(r.buffered_bytes() == 1000);
  CHECK(r.pop_contiguous(rcv_nxt) == 0);

  rcv_nxt += 500;  // in-order segment [3500, 4000)
  CHECK(r.pop_contiguous(rcv_nxt) == 1000);
  CHECK(r.empty());
  CHECK(r.buffered_bytes() == 0);
}

TEST_CASE("pop_contiguous counts only what lies past rcv_nxt", "[sack][reassembly]") {
  Reassembly r(8);
  CHECK(r.insert(SeqNum(1000), SeqNum(2000), 1000));
  CHECK(r.insert(SeqNum(1000), SeqNum(4000), 100));
  // An in-order segment overlapped the first range: RCV.NXT is now 2500.
  CHECK(r.pop_contiguous(SeqNum(2500)) == 500);
  // RCV.NXT jumped past the second range entirely: it is just dropped.
  CHECK(r.pop_contiguous(SeqNum(5000)) == 0);
  CHECK(r.empty());
  CHECK(r.buffered_bytes() == 0);
}

TEST_CASE("overlapping and duplicate segments merge without double counting",
          "[sack][reassembly]") {
  Reassembly r(8);
  const SeqNum rcv_nxt(1000);
  CHECK(r.insert(rcv_nxt, SeqNum(2000), 1000));
  CHECK(r.insert(rcv_nxt, SeqNum(2000), 1000));  // exact duplicate
  CHECK(r.buffered_bytes() == 1000);
  CHECK(r.insert(rcv_nxt, SeqNum(2500), 1000));  // overlaps the tail
  CHECK(r.buffered_bytes() == 1500);
  CHECK(r.insert(rcv_nxt, SeqNum(5000), 1000));
  CHECK(r.range_count() == 2);
  CHECK(r.insert(rcv_nxt, SeqNum(3200), 2000));  // bridges both ranges
  CHECK(r.range_count() == 1);
  CHECK(r.buffered_bytes() == 4000);
  CHECK(r.insert(rcv_nxt, SeqNum(1500), 5000));  // covers everything
  CHECK(r.buffered_bytes() == 5000);
  CHECK(r.highest_end() == SeqNum(6500));
}

TEST_CASE("insert ignores the part of a segment at or below rcv_nxt", "[sack][reassembly]") {
  Reassembly r(8);
  const SeqNum rcv_nxt(1000);
  CHECK(r.insert(rcv_nxt, SeqNum(500), 400));  // wholly old: accepted, nothing kept
  CHECK(r.empty());
  CHECK(r.insert(rcv_nxt, SeqNum(1000), 0));
  CHECK(r.empty());
  CHECK(r.insert(rcv_nxt, SeqNum(500), 1000));  // straddles: only [1000, 1500) kept
  CHECK(r.buffered_bytes() == 500);
  CHECK(r.pop_contiguous(rcv_nxt) == 500);
}

TEST_CASE("insert rejects a length no window can hold", "[sack][reassembly]") {
  Reassembly r(8);
  CHECK_FALSE(r.insert(SeqNum(0), SeqNum(10), 0x80000000u));
  CHECK(r.empty());
}

TEST_CASE("clear forgets every range", "[sack][reassembly]") {
  Reassembly r(8);
  CHECK(r.insert(SeqNum(0), SeqNum(10), 10));
  CHECK(r.insert(SeqNum(0), SeqNum(30), 10));
  r.clear();
  CHECK(r.empty());
  CHECK(r.buffered_bytes() == 0);
  CHECK(blocks_of(r, 4).empty());
}

// ---------------------------------------------------------------- SACK blocks

TEST_CASE("SACK blocks: the latest segment's range first, then most recently touched",
          "[sack][reassembly]") {
  Reassembly r(8);
  const SeqNum rcv_nxt(1000);
  for (std::uint32_t left : {2000u, 3000u, 4000u, 5000u, 6000u}) {
    CHECK(r.insert(rcv_nxt, SeqNum(left), 100));
  }
  CHECK(blocks_of(r, 4) == std::vector<SackBlock>{block(6000, 6100), block(5000, 5100),
                                                  block(4000, 4100), block(3000, 3100)});

  // RFC 2018 §4: the first block holds the segment that triggered this ACK, even a
  // duplicate one.
  CHECK(r.insert(rcv_nxt, SeqNum(3000), 50));
  CHECK(blocks_of(r, 4) == std::vector<SackBlock>{block(3000, 3100), block(6000, 6100),
                                                  block(5000, 5100), block(4000, 4100)});

  // A segment joining two ranges reports the merged range first.
  CHECK(r.insert(rcv_nxt, SeqNum(4100), 900));
  CHECK(blocks_of(r, 3) == std::vector<SackBlock>{block(4000, 5100), block(3000, 3100),
                                                  block(6000, 6100)});
  CHECK(blocks_of(r, 0).empty());
  CHECK(blocks_of(r, 10).size() == 4);
}

// ---------------------------------------------------------------- hostile peers

TEST_CASE("100,000 alternating one-byte segments stay within max_ranges", "[sack][reassembly]") {
  constexpr std::size_t kMax = 64;
  Reassembly r(kMax);
  const SeqNum rcv_nxt(0x7ffffff0u);
  std::size_t accepted = 0;
  std::size_t first_refused = 0;
  for (std::uint32_t i = 0; i < 100000; ++i) {
    const bool ok = r.insert(rcv_nxt, rcv_nxt + 1 + 2 * i, 1);  // every other byte
    if (ok) ++accepted;
    if (!ok && first_refused == 0) first_refused = i;
    REQUIRE(r.range_count() <= kMax);
  }
  CHECK(accepted == kMax);
  CHECK(first_refused == kMax);
  CHECK(r.range_count() == kMax);
  CHECK(r.buffered_bytes() == kMax);
  CHECK(r.highest_end() == rcv_nxt + 2 * kMax);

  // Full, yet segments that extend or join existing ranges are still accepted.
  CHECK(r.insert(rcv_nxt, rcv_nxt + 2, 1));  // joins the first two ranges
  CHECK(r.range_count() == kMax - 1);
  CHECK(r.insert(rcv_nxt, rcv_nxt + 2 * kMax, 5));  // extends the last range
  CHECK(r.insert(rcv_nxt, rcv_nxt + 1, 1));  // duplicate
  CHECK(r.range_count() == kMax - 1);
  const std::uint32_t before = r.buffered_bytes();
  CHECK(r.insert(rcv_nxt, rcv_nxt + 100000, 1));  // room for exactly one new range
  CHECK_FALSE(r.insert(rcv_nxt, rcv_nxt + 200000, 1));
  CHECK(r.buffered_bytes() == before + 1);
}

TEST_CASE("filling every hole of a full map releases it all at once", "[sack][reassembly]") {
  constexpr std::size_t kMax = 16;
  Reassembly r(kMax);
  SeqNum rcv_nxt(5000);
  for (std::uint32_t i = 0; i < kMax; ++i) CHECK(r.insert(rcv_nxt, rcv_nxt + 1 + 2 * i, 1));
  for (std::uint32_t i = 1; i < kMax; ++i) CHECK(r.insert(rcv_nxt, rcv_nxt + 2 * i, 1));
  CHECK(r.range_count() == 1);
  rcv_nxt += 1;  // the in-order first byte
  CHECK(r.pop_contiguous(rcv_nxt) == 2 * kMax - 1);
  CHECK(r.empty());
}

// ---------------------------------------------------------------- wrap-around

TEST_CASE("reassembly works across the 2^32 wrap", "[sack][reassembly]") {
  Reassembly r(8);
  SeqNum rcv_nxt(0xffffff00u);
  CHECK(r.insert(rcv_nxt, SeqNum(0xffffff80u), 0x100));  // [..ff80, 0x80) crosses 0
  CHECK(r.insert(rcv_nxt, SeqNum(0x80), 0x80));            // adjacent past the wrap
  CHECK(r.insert(rcv_nxt, SeqNum(0x200), 0x10));
  CHECK(r.range_count() == 2);
  CHECK(r.highest_end() == SeqNum(0x210));
  CHECK(blocks_of(r, 4) == std::vector<SackBlock>{block(0x200, 0x210), block(0xffffff80u, 0x100)});

  rcv_nxt += 0x80;
  const std::uint32_t more = r.pop_contiguous(rcv_nxt);
  CHECK(more == 0x180);
  rcv_nxt += more;
  CHECK(rcv_nxt == SeqNum(0x100));
  CHECK(r.buffered_bytes() == 0x10);
}
