// Scoreboard: the sender's record of SACKed sequence space for loss recovery.
// Read RFC 6675 §2-§5 (IsLost, SetPipe, NextSeg) and RFC 2018 §8 (SACK is advisory).
// Invariants: ranges are disjoint, non-adjacent, sorted, all above the last snd_una
// given to on_ack(); range_count() <= max_ranges; sacked_bytes() is their total.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <vector>

#include "stack/base/seq_num.h"
#include "stack/wire/tcp.h"

namespace utcp::stack::sack {

// "high_rxt" in this API is the retransmission frontier: one past the highest octet
// retransmitted during the current recovery (RFC 6675's HighRxt + 1). Every rule
// that reads "S > HighRxt" is tested here as "S >= max(snd_una, high_rxt)". When
// nothing has been retransmitted yet, pass snd_una (any value at or below snd_una
// means the same).
//
// Work per call is O(blocks x max_ranges) or O(max_ranges); nothing allocates after
// construction.
class Scoreboard {
 public:
  static constexpr std::size_t kDefaultMaxRanges = 64;

  // Bounded: when full, the ranges furthest from SND.UNA are dropped (SACK
  // information is advisory: RFC 2018 §8 lets the receiver renege). At least 1.
  explicit Scoreboard(std::size_t max_ranges = kDefaultMaxRanges);

  // Records the SACK blocks of an ACK whose cumulative ack is snd_una. Blocks with
  // left >= right, or not inside [snd_una, snd_nxt], are ignored and counted (so are
  // D-SACK blocks below snd_una, RFC 2883). Drops all state below snd_una.
  // Returns the net growth of sacked_bytes() above snd_una caused by the blocks
  // (0 when they brought nothing new, or when bounding dropped more than they added).
  std::uint32_t on_ack(SeqNum snd_una, SeqNum snd_nxt, std::span<const wire::SackBlock> blocks);

  std::uint64_t ignored_blocks() const { return ignored_blocks_; }
  bool is_sacked(SeqNum seq) const;

  // RFC 6675 §4 IsLost(SeqNum): DupThresh discontiguous SACKed ranges lie entirely
  // above seq, or more than (DupThresh - 1) * SMSS SACKed octets lie above seq.
  bool is_lost(SeqNum seq, std::uint32_t smss, std::uint32_t dup_thresh) const;

  // RFC 6675 §4 SetPipe: octets in [snd_una, snd_nxt) that are not SACKed count once
  // if not lost and once more if retransmitted (below high_rxt). lost_below: after an
  // RTO every unSACKed octet below it is lost too (Linux's tcp_enter_loss).
  std::uint32_t pipe(SeqNum snd_una, SeqNum snd_nxt, SeqNum high_rxt, std::uint32_t smss,
                     std::uint32_t dup_thresh,
                     std::optional<SeqNum> lost_below = std::nullopt) const;

  // NextSeg() rule (1): the first unSACKed octet S2 >= max(snd_una, high_rxt) below
  // highest_sacked() with IsLost(S2); the range is at most smss octets and stops at
  // the next SACKed range.
  // With lost_below, unSACKed octets below it count as lost (see pipe()).
  std::optional<SeqRange> next_lost(SeqNum snd_una, SeqNum high_rxt, std::uint32_t smss,
                                    std::uint32_t dup_thresh,
                                    std::optional<SeqNum> lost_below = std::nullopt) const;

  // NextSeg() rule (3): as rule (1) but without the IsLost() condition.
  std::optional<SeqRange> next_unsacked(SeqNum snd_una, SeqNum high_rxt, std::uint32_t smss) const;

  // One past the highest SACKed octet; meaningful only when !empty().
  SeqNum highest_sacked() const { return ranges_.back().end; }
  std::uint32_t sacked_bytes() const { return sacked_bytes_; }
  std::size_t range_count() const { return ranges_.size(); }
  std::size_t max_ranges() const { return max_ranges_; }
  bool empty() const { return ranges_.empty(); }
  // Discards all SACK state (e.g. when the receiver seems to have reneged).
  void clear();

 private:
  void trim_below(SeqNum snd_una);
  void add(SeqRange r);
  void drop_furthest();
  // Start of the lowest SACKed range such that every unSACKed octet below it is
  // lost and none above it is; nullopt when no octet is lost.
  std::optional<SeqNum> lost_end(std::uint32_t smss, std::uint32_t dup_thresh) const;
  // lost_end() raised to lost_below when that is higher.
  std::optional<SeqNum> lost_end(std::uint32_t smss, std::uint32_t dup_thresh,
                                 std::optional<SeqNum> lost_below) const;
  // SACKed octets inside [lo, hi).
  std::uint32_t sacked_within(SeqNum lo, SeqNum hi) const;
  // First unSACKed octet at or above `from` that lies below `limit`, with the range
  // it starts (at most smss octets, not crossing a SACKed range).
  std::optional<SeqRange> first_hole(SeqNum from, SeqNum limit, std::uint32_t smss) const;

  std::size_t max_ranges_;
  std::vector<SeqRange> ranges_;
  std::uint32_t sacked_bytes_ = 0;
  std::uint64_t ignored_blocks_ = 0;
};

}  // namespace utcp::stack::sack
