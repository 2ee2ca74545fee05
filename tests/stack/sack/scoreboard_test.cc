// Scoreboard: RFC 6675 sender-side SACK state — block validation, merging, IsLost,
// SetPipe and NextSeg rules (1) and (3), bounded memory, wrap-around.
// Segments are numbered from 1 as in RFC 6675's prose: segment k is
// [base + (k-1)*kSmss, base + k*kSmss).
#include <catch2/catch.hpp>

#include <array>
#include <cstdint>
#include <random>
#include <vector>

#include "stack/sack/scoreboard.h"

using utcp::stack::SeqNum;
using utcp::stack::SeqRange;
using utcp::stack::sack::Scoreboard;
using utcp::stack::wire::SackBlock;

namespace {

constexpr std::uint32_t kSmss = 1000;
constexpr std::uint32_t kDupThresh = 3;

SeqNum seg_start(SeqNum base, std::uint32_t k) { return base + (k - 1) * kSmss; }
SackBlock segs(SeqNum base, std::uint32_t first, std::uint32_t last) {
  return SackBlock{seg_start(base, first), seg_start(base, last + 1)};
}
SeqRange range(SeqNum a, SeqNum b) { return SeqRange{a, b}; }

// Ten segments outstanding from `base`, with the given SACK blocks recorded.
Scoreboard ten_segments(SeqNum base, std::vector<SackBlock> blocks) {
  Scoreboard sb;
  sb.on_ack(base, base + 10 * kSmss, blocks);
  return sb;
}

}  // namespace

// ---------------------------------------------------------------- recording blocks

TEST_CASE("on_ack merges overlapping and adjacent blocks and returns new bytes", "[sack][scoreboard]") {
  const SeqNum una(1000);
  const SeqNum nxt(11000);
  Scoreboard sb;
  const std::array<SackBlock, 2> adjacent{SackBlock{SeqNum(2000), SeqNum(3000)},
                                          SackBlock{SeqNum(3000), SeqNum(4000)}};
  CHECK(sb.on_ack(una, nxt, adjacent) == 2000);
  CHECK(sb.range_count() == 1);

  const std::array<SackBlock, 2> more{SackBlock{SeqNum(3500), SeqNum(5000)},
                                      SackBlock{SeqNum(6000), SeqNum(7000)}};
  CHECK(sb.on_ack(una, nxt, more) == 2000);
  CHECK(sb.range_count() == 2);
  CHECK(sb.sacked_bytes() == 4000);

  CHECK(sb.on_ack(una, nxt, more) == 0);  // the same blocks again bring nothing new

  const std::array<SackBlock, 1> bridge{SackBlock{SeqNum(1500), SeqNum(6500)}};
  CHECK(sb.on_ack(una, nxt, bridge) == 1500);  // [1500,2000) and [5000,6000)
  CHECK(sb.range_count() == 1);
  CHECK(sb.sacked_bytes() == 5500);
  CHECK(sb.highest_sacked() == SeqNum(7000));
  CHECK(sb.is_sacked(SeqNum(1500)));
  CHECK(sb.is_sacked(SeqNum(6999)));
  CHECK_FALSE(sb.is_sacked(SeqNum(1499)));
  CHECK_FALSE(sb.is_sacked(SeqNum(7000)));
  CHECK(sb.ignored_blocks() == 0);
}

TEST_CASE("on_ack ignores and counts blocks outside [snd_una, snd_nxt], inverted or empty",
          "[sack][scoreboard]") {
  const SeqNum una(1000);
  const SeqNum nxt(11000);
  Scoreboard sb;
  const std::array<SackBlock, 6> bad{
      SackBlock{SeqNum(500), SeqNum(1000)},     // D-SACK below snd_una (RFC 2883)
      SackBlock{SeqNum(900), SeqNum(1100)},     // straddles snd_una
      SackBlock{SeqNum(10500), SeqNum(11001)},  // past snd_nxt
      SackBlock{SeqNum(3000), SeqNum(2000)},    // inverted
      SackBlock{SeqNum(3000), SeqNum(3000)},    // zero length
      SackBlock{SeqNum(0x90000000u), SeqNum(0x90000100u)},  // 2^31 away
  };
  CHECK(sb.on_ack(una, nxt, bad) == 0);
  CHECK(sb.ignored_blocks() == bad.size());
  CHECK(sb.empty());
  CHECK(sb.sacked_bytes() == 0);

  const std::array<SackBlock, 1> whole{SackBlock{una, nxt}};  // both edges are inside
  CHECK(sb.on_ack(una, nxt, whole) == 10000);
  CHECK(sb.ignored_blocks() == bad.size());
}

TEST_CASE("a cumulative ACK trims SACK state below snd_una", "[sack][scoreboard]") {
  const SeqNum nxt(11000);
  Scoreboard sb;
  const std::array<SackBlock, 2> blocks{SackBlock{SeqNum(2000), SeqNum(3000)},
                                        SackBlock{SeqNum(4000), SeqNum(5000)}};
  sb.on_ack(SeqNum(1000), nxt, blocks);

  CHECK(sb.on_ack(SeqNum(2500), nxt, {}) == 0);
  CHECK(sb.range_count() == 2);
  CHECK(sb.sacked_bytes() == 1500);
  CHECK_FALSE(sb.is_sacked(SeqNum(2499)));
  CHECK(sb.is_sacked(SeqNum(2500)));

  sb.on_ack(SeqNum(3000), nxt, {});
  CHECK(sb.range_count() == 1);
  CHECK(sb.sacked_bytes() == 1000);

  sb.on_ack(SeqNum(5000), nxt, {});
  CHECK(sb.empty());
  CHECK(sb.sacked_bytes() == 0);
}

TEST_CASE("clear discards all ranges but keeps the ignored-block counter", "[sack][scoreboard]") {
  const SeqNum base(0);
  Scoreboard sb = ten_segments(base, {segs(base, 2, 4), SackBlock{SeqNum(5), SeqNum(1)}});
  sb.clear();
  CHECK(sb.empty());
  CHECK(sb.sacked_bytes() == 0);
  CHECK_FALSE(sb.is_sacked(seg_start(base, 2)));
  CHECK(sb.ignored_blocks() == 1);
}

// ---------------------------------------------------------------- IsLost

TEST_CASE("IsLost by the DupThresh discontiguous-ranges rule", "[sack][scoreboard]") {
  const SeqNum base(0);
  // Three one-byte ranges: far fewer than (DupThresh - 1) * SMSS octets.
  Scoreboard sb = ten_segments(base, {SackBlock{SeqNum(2000), SeqNum(2001)},
                                      SackBlock{SeqNum(4000), SeqNum(4001)},
                                      SackBlock{SeqNum(6000), SeqNum(6001)}});
  CHECK(sb.is_lost(SeqNum(0), kSmss, kDupThresh));
  CHECK(sb.is_lost(SeqNum(1999), kSmss, kDupThresh));
  CHECK_FALSE(sb.is_lost(SeqNum(2001), kSmss, kDupThresh));  // only two ranges above
  CHECK_FALSE(sb.is_lost(SeqNum(6001), kSmss, kDupThresh));
}

TEST_CASE("IsLost by the (DupThresh - 1) * SMSS bytes rule", "[sack][scoreboard]") {
  const SeqNum base(0);
  // One range: the ranges rule never fires, only the byte count matters.
  Scoreboard exactly = ten_segments(base, {SackBlock{SeqNum(2000), SeqNum(4000)}});
  CHECK_FALSE(exactly.is_lost(SeqNum(0), kSmss, kDupThresh));  // "more than", not "at least"

  Scoreboard more = ten_segments(base, {SackBlock{SeqNum(2000), SeqNum(4001)}});
  CHECK(more.is_lost(SeqNum(0), kSmss, kDupThresh));
  CHECK(more.is_lost(SeqNum(1999), kSmss, kDupThresh));
  // Inside the range only the octets above seq count: 4000 - 2000 = 2000 above 2000.
  CHECK_FALSE(more.is_lost(SeqNum(2000), kSmss, kDupThresh));
  CHECK_FALSE(more.is_lost(SeqNum(4001), kSmss, kDupThresh));
}

// ---------------------------------------------------------------- SetPipe

TEST_CASE("pipe: 10 segments sent, segments 2..4 SACKed (segment 1 lost)", "[sack][scoreboard]") {
  const SeqNum base(50000);
  const SeqNum nxt = base + 10 * kSmss;
  Scoreboard sb = ten_segments(base, {segs(base, 2, 4)});
  // 3 * SMSS SACKed above segment 1 > 2 * SMSS: segment 1 is lost and not in flight;
  // segments 5..10 are neither lost nor SACKed.
  CHECK(sb.is_lost(seg_start(base, 1), kSmss, kDupThresh));
  CHECK(sb.pipe(base, nxt, base, kSmss, kDupThresh) == 6 * kSmss);
  // Once segment 1 is retransmitted it counts again by SetPipe rule (b).
  CHECK(sb.pipe(base, nxt, seg_start(base, 2), kSmss, kDupThresh) == 7 * kSmss);
}

TEST_CASE("pipe: segments 2 and 3 SACKed, nothing lost yet", "[sack][scoreboard]") {
  const SeqNum base(50000);
  const SeqNum nxt = base + 10 * kSmss;
  Scoreboard sb = ten_segments(base, {segs(base, 2, 3)});
  CHECK_FALSE(sb.is_lost(seg_start(base, 1), kSmss, kDupThresh));
  CHECK(sb.pipe(base, nxt, base, kSmss, kDupThresh) == 8 * kSmss);
}

TEST_CASE("pipe: segments 2, 4 and 6 SACKed (only segment 1 lost)", "[sack][scoreboard]") {
  const SeqNum base(50000);
  const SeqNum nxt = base + 10 * kSmss;
  Scoreboard sb = ten_segments(base, {segs(base, 2, 2), segs(base, 4, 4), segs(base, 6, 6)});
  // Segment 1 has three ranges above it; segment 3 only two ranges and 2 * SMSS.
  CHECK(sb.is_lost(seg_start(base, 1), kSmss, kDupThresh));
  CHECK_FALSE(sb.is_lost(seg_start(base, 3), kSmss, kDupThresh));
  // In flight: segments 3, 5, 7, 8, 9, 10.
  CHECK(sb.pipe(base, nxt, base, kSmss, kDupThresh) == 6 * kSmss);
  // Retransmitting through segment 3: segment 1 counts once (b), 3 twice (a and b).
  CHECK(sb.pipe(base, nxt, seg_start(base, 4), kSmss, kDupThresh) == 8 * kSmss);
}

TEST_CASE("pipe without SACK state is the outstanding data", "[sack][scoreboard]") {
  const Scoreboard sb;
  CHECK(sb.pipe(SeqNum(100), SeqNum(5100), SeqNum(100), kSmss, kDupThresh) == 5000);
  CHECK(sb.pipe(SeqNum(100), SeqNum(100), SeqNum(100), kSmss, kDupThresh) == 0);
}

// ---------------------------------------------------------------- NextSeg

TEST_CASE("next_lost (NextSeg rule 1) walks the lost hole in SMSS pieces above HighRxt",
          "[sack][scoreboard]") {
  const SeqNum base(0);
  Scoreboard sb = ten_segments(base, {segs(base, 4, 6)});
  CHECK(sb.next_lost(base, base, kSmss, kDupThresh) == range(SeqNum(0), SeqNum(1000)));
  CHECK(sb.next_lost(base, SeqNum(1000), kSmss, kDupThresh) == range(SeqNum(1000), SeqNum(2000)));
  CHECK(sb.next_lost(base, SeqNum(2500), kSmss, kDupThresh) == range(SeqNum(2500), SeqNum(3000)));
  CHECK_FALSE(sb.next_lost(base, SeqNum(3000), kSmss, kDupThresh));
  // A high_rxt below snd_una means "nothing retransmitted yet".
  CHECK(sb.next_lost(base, base - 1, kSmss, kDupThresh) == range(SeqNum(0), SeqNum(1000)));
}

TEST_CASE("next_lost stops at a SACKed range and resumes after it", "[sack][scoreboard]") {
  const SeqNum base(0);
  Scoreboard sb = ten_segments(base, {SackBlock{SeqNum(500), SeqNum(600)}, segs(base, 4, 6)});
  CHECK(sb.next_lost(base, base, kSmss, kDupThresh) == range(SeqNum(0), SeqNum(500)));
  CHECK(sb.next_lost(base, SeqNum(500), kSmss, kDupThresh) == range(SeqNum(600), SeqNum(1600)));
}

TEST_CASE("next_lost finds nothing above the highest SACKed octet or when nothing is lost",
          "[sack][scoreboard]") {
  const SeqNum base(0);
  Scoreboard sb = ten_segments(base, {segs(base, 5, 5), segs(base, 7, 7)});
  CHECK_FALSE(sb.next_lost(base, base, kSmss, kDupThresh));
  CHECK_FALSE(Scoreboard().next_lost(base, base, kSmss, kDupThresh));
}

TEST_CASE("next_unsacked (NextSeg rule 3) returns unSACKed data below the highest SACK",
          "[sack][scoreboard]") {
  const SeqNum base(0);
  Scoreboard sb = ten_segments(base, {segs(base, 5, 5), segs(base, 7, 7)});
  CHECK(sb.next_unsacked(base, base, kSmss) == range(SeqNum(0), SeqNum(1000)));
  CHECK(sb.next_unsacked(base, SeqNum(3500), kSmss) == range(SeqNum(3500), SeqNum(4000)));
  CHECK(sb.next_unsacked(base, SeqNum(4000), kSmss) == range(SeqNum(5000), SeqNum(6000)));
  CHECK_FALSE(sb.next_unsacked(base, SeqNum(6000), kSmss));  // segment 7 is the top
  CHECK_FALSE(Scoreboard().next_unsacked(base, base, kSmss));
}

// ---------------------------------------------------------------- bounded memory

TEST_CASE("when full, the ranges furthest from snd_una are dropped", "[sack][scoreboard]") {
  const SeqNum base(0);
  Scoreboard sb(3);
  sb.on_ack(base, SeqNum(100000), std::array<SackBlock, 4>{
      SackBlock{SeqNum(1000), SeqNum(1100)}, SackBlock{SeqNum(3000), SeqNum(3100)},
      SackBlock{SeqNum(5000), SeqNum(5100)}, SackBlock{SeqNum(7000), SeqNum(7100)}});
  CHECK(sb.range_count() == 3);
  CHECK(sb.highest_sacked() == SeqNum(5100));
  CHECK(sb.sacked_bytes() == 300);

  // A new low range pushes out the highest one.
  CHECK(sb.on_ack(base, SeqNum(100000), std::array<SackBlock, 1>{
      SackBlock{SeqNum(200), SeqNum(300)}}) == 0);
  CHECK(sb.range_count() == 3);
  CHECK(sb.is_sacked(SeqNum(200)));
  CHECK_FALSE(sb.is_sacked(SeqNum(5000)));
  CHECK(sb.highest_sacked() == SeqNum(3100));
}

TEST_CASE("random hostile blocks never exceed max_ranges and keep the books straight",
          "[sack][scoreboard]") {
  constexpr std::size_t kMax = 8;
  constexpr std::uint32_t kWindow = 3000;
  std::mt19937 rng(20240601);
  std::uniform_int_distribution<std::uint32_t> any;
  std::uniform_int_distribution<std::uint32_t> near(0, kWindow + 200);
  Scoreboard sb(kMax);
  SeqNum una(0xffff0000u);
  for (int round = 0; round < 500; ++round) {
    std::array<SackBlock, 4> blocks{};
    for (SackBlock& b : blocks) {
      // Mostly plausible blocks around the window, some pure garbage.
      const bool garbage = any(rng) % 8 == 0;
      b.left = garbage ? SeqNum(any(rng)) : una - 100 + near(rng);
      b.right = garbage ? SeqNum(any(rng)) : b.left + any(rng) % 400;
    }
    sb.on_ack(una, una + kWindow, blocks);
    REQUIRE(sb.range_count() <= kMax);
    // Walk the window octet by octet: SACKed octets add up to sacked_bytes() and
    // form exactly range_count() separate runs, none outside [snd_una, snd_nxt).
    std::uint32_t sacked = 0;
    std::size_t runs = 0;
    bool prev = sb.is_sacked(una - 1);
    REQUIRE_FALSE(prev);
    for (std::uint32_t off = 0; off <= kWindow; ++off) {
      const bool cur = sb.is_sacked(una + off);
      sacked += cur ? 1 : 0;
      runs += (cur && !prev) ? 1 : 0;
      prev = cur;
    }
    REQUIRE_FALSE(prev);
    REQUIRE(sacked == sb.sacked_bytes());
    REQUIRE(runs == sb.range_count());
    una += any(rng) % 50;
  }
  CHECK(sb.ignored_blocks() > 0);
}

// ---------------------------------------------------------------- wrap-around

TEST_CASE("the scoreboard works across the 2^32 wrap", "[sack][scoreboard]") {
  const SeqNum base(0xffffffffu - 2500);  // segments 3..10 lie past the wrap
  const SeqNum nxt = base + 10 * kSmss;
  Scoreboard sb = ten_segments(base, {segs(base, 2, 3), segs(base, 3, 4)});  // merges across 0
  CHECK(sb.range_count() == 1);
  CHECK(sb.sacked_bytes() == 3 * kSmss);
  CHECK(sb.highest_sacked() == seg_start(base, 5));
  CHECK(sb.is_sacked(SeqNum(0)));
  CHECK(sb.is_lost(base, kSmss, kDupThresh));
  CHECK(sb.pipe(base, nxt, base, kSmss, kDupThresh) == 6 * kSmss);
  CHECK(sb.next_lost(base, base, kSmss, kDupThresh) == range(base, seg_start(base, 2)));

  sb.on_ack(seg_start(base, 3), nxt, {});  // cumulative ACK crosses 0
  CHECK(sb.sacked_bytes() == 2 * kSmss);
  CHECK_FALSE(sb.is_sacked(seg_start(base, 2)));
}

// ---------------------------------------------------------------- after an RTO

TEST_CASE("lost_below: after an RTO every unSACKed segment below it is lost",
          "[sack][scoreboard][rto]") {
  const SeqNum base{5000};
  const SeqNum nxt = base + 10 * kSmss;
  // Only segment 2 SACKed: by RFC 6675's rules nothing is lost yet.
  const Scoreboard sb = ten_segments(base, {segs(base, 2, 2)});
  CHECK_FALSE(sb.next_lost(base, base, kSmss, kDupThresh));
  CHECK(sb.pipe(base, nxt, base, kSmss, kDupThresh) == 9 * kSmss);
  // With lost_below = HighData: nothing is in flight until it is retransmitted, and
  // NextSeg walks the holes, skipping the SACKed segment.
  CHECK(sb.pipe(base, nxt, base, kSmss, kDupThresh, nxt) == 0);
  CHECK(sb.next_lost(base, base, kSmss, kDupThresh, nxt) == range(seg_start(base, 1), seg_start(base, 2)));
  const SeqNum after_first = seg_start(base, 2);
  CHECK(sb.next_lost(base, after_first, kSmss, kDupThresh, nxt) ==
        range(seg_start(base, 3), seg_start(base, 4)));
  CHECK(sb.pipe(base, nxt, after_first, kSmss, kDupThresh, nxt) == kSmss);  // one retransmitted
  // A floor below what the SACK rules already call lost changes nothing.
  const Scoreboard four = ten_segments(base, {segs(base, 5, 5), segs(base, 7, 7), segs(base, 9, 9)});
  CHECK(four.pipe(base, nxt, base, kSmss, kDupThresh, base) ==
        four.pipe(base, nxt, base, kSmss, kDupThresh));
}
