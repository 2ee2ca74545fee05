// Scoreboard: RFC 6675 sender-side SACK state (IsLost §4, SetPipe §4, NextSeg §4).
// All comparisons assume what on_ack() enforces: every range lies in
// [snd_una, snd_nxt], less than 2^31 wide, so SeqNum order is total among them.
#include "stack/sack/scoreboard.h"

#include <algorithm>

namespace utcp::stack::sack {

namespace {

// Octets of [lo, hi) as an unsigned count; 0 when hi <= lo.
std::uint32_t span_len(SeqNum lo, SeqNum hi) {
  return hi <= lo ? 0 : static_cast<std::uint32_t>(hi - lo);
}

SeqNum clamp_seq(SeqNum x, SeqNum lo, SeqNum hi) { return seq_min(seq_max(x, lo), hi); }

// Larger than any window: SeqNum order holds only between numbers < 2^31 apart.
constexpr std::uint32_t kMaxWindow = 0x7fffffffu;

}  // namespace

Scoreboard::Scoreboard(std::size_t max_ranges) : max_ranges_(std::max<std::size_t>(max_ranges, 1)) {
  // One slot of slack: add() inserts first and then drops the furthest range.
  ranges_.reserve(max_ranges_ + 1);
}

std::uint32_t Scoreboard::on_ack(SeqNum snd_una, SeqNum snd_nxt,
                                 std::span<const wire::SackBlock> blocks) {
  trim_below(snd_una);
  const std::uint32_t before = sacked_bytes_;
  // Offsets from snd_una in unsigned arithmetic, so that a block more than 2^31
  // away (which SeqNum comparison would misorder) is rejected too.
  const std::uint32_t wnd = snd_nxt.raw() - snd_una.raw();
  for (const wire::SackBlock& b : blocks) {
    const std::uint32_t lo = b.left.raw() - snd_una.raw();
    const std::uint32_t hi = b.right.raw() - snd_una.raw();
    if (wnd > kMaxWindow || lo >= hi || hi > wnd) {
      ++ignored_blocks_;
      continue;
    }
    add(SeqRange{b.left, b.right});
  }
  return sacked_bytes_ > before ? sacked_bytes_ - before : 0;
}

void Scoreboard::trim_below(SeqNum snd_una) {
  auto first_kept = std::partition_point(ranges_.begin(), ranges_.end(),
                                         [&](const SeqRange& r) { return r.end <= snd_una; });
  for (auto it = ranges_.begin(); it != first_kept; ++it) sacked_bytes_ -= it->length();
  ranges_.erase(ranges_.begin(), first_kept);
  if (!ranges_.empty() && ranges_.front().start < snd_una) {
    sacked_bytes_ -= span_len(ranges_.front().start, snd_una);
    ranges_.front().start = snd_una;
  }
}

void Scoreboard::add(SeqRange r) {
  // Ranges [first, last) overlap or touch r and merge with it.
  auto first = std::partition_point(ranges_.begin(), ranges_.end(),
                                    [&](const SeqRange& x) { return x.end < r.start; });
  auto last = std::partition_point(first, ranges_.end(),
                                   [&](const SeqRange& x) { return x.start <= r.end; });
  if (first == last) {
    ranges_.insert(first, r);
    sacked_bytes_ += r.length();
  } else {
    SeqRange merged{seq_min(r.start, first->start), seq_max(r.end, (last - 1)->end)};
    for (auto it = first; it != last; ++it) sacked_bytes_ -= it->length();
    sacked_bytes_ += merged.length();
    *first = merged;
    ranges_.erase(first + 1, last);
  }
  if (ranges_.size() > max_ranges_) drop_furthest();
}

void Scoreboard::drop_furthest() {
  // RFC 2018 §8: the receiver may discard SACKed data, so the sender must not rely
  // on it; forgetting a range only makes the sender retransmit more than needed.
  sacked_bytes_ -= ranges_.back().length();
  ranges_.pop_back();
}

void Scoreboard::clear() {
  ranges_.clear();
  sacked_bytes_ = 0;
}

bool Scoreboard::is_sacked(SeqNum seq) const {
  auto it = std::partition_point(ranges_.begin(), ranges_.end(),
                                 [&](const SeqRange& r) { return r.end <= seq; });
  return it != ranges_.end() && it->start <= seq;
}

bool Scoreboard::is_lost(SeqNum seq, std::uint32_t smss, std::uint32_t dup_thresh) const {
  std::uint32_t above = 0;    // SACKed ranges starting above seq
  std::uint64_t octets = 0;   // SACKed octets above seq
  for (auto it = ranges_.rbegin(); it != ranges_.rend() && seq < it->end; ++it) {
    if (seq < it->start) {
      ++above;
      octets += it->length();
    } else {
      octets += span_len(seq + 1, it->end);
    }
  }
  // RFC 6675 §4 IsLost: "DupThresh discontiguous SACKed sequences have arrived above
  // 'SeqNum' or more than (DupThresh - 1) * SMSS bytes ... have been SACKed".
  const std::uint64_t byte_limit = std::uint64_t{dup_thresh > 0 ? dup_thresh - 1 : 0} * smss;
  return above >= dup_thresh || octets > byte_limit;
}

std::optional<SeqNum> Scoreboard::lost_end(std::uint32_t smss, std::uint32_t dup_thresh) const {
  // IsLost() only grows as seq falls (more ranges and octets lie above it), so the
  // lost unSACKed octets are exactly those below the start of the highest range i
  // for which ranges i..n-1 already satisfy IsLost() for the gap just below i.
  const std::uint64_t byte_limit = std::uint64_t{dup_thresh > 0 ? dup_thresh - 1 : 0} * smss;
  std::uint32_t above = 0;
  std::uint64_t octets = 0;
  for (auto it = ranges_.rbegin(); it != ranges_.rend(); ++it) {
    ++above;
    octets += it->length();
    if (above >= dup_thresh || octets > byte_limit) return it->start;
  }
  return std::nullopt;
}

std::optional<SeqNum> Scoreboard::lost_end(std::uint32_t smss, std::uint32_t dup_thresh,
                                           std::optional<SeqNum> lost_below) const {
  const std::optional<SeqNum> by_sack = lost_end(smss, dup_thresh);
  if (!lost_below) return by_sack;
  if (!by_sack) return lost_below;
  return seq_max(*by_sack, *lost_below);
}

std::uint32_t Scoreboard::sacked_within(SeqNum lo, SeqNum hi) const {
  std::uint32_t n = 0;
  for (const SeqRange& r : ranges_) n += span_len(seq_max(r.start, lo), seq_min(r.end, hi));
  return n;
}

std::uint32_t Scoreboard::pipe(SeqNum snd_una, SeqNum snd_nxt, SeqNum high_rxt,
                               std::uint32_t smss, std::uint32_t dup_thresh,
                               std::optional<SeqNum> lost_below) const {
  if (snd_nxt <= snd_una) return 0;
  // RFC 6675 §4 SetPipe, for each unSACKed octet S1 in [HighACK, HighData):
  // "(a) If IsLost (S1) returns false: Pipe is incremented by 1 octet.
  //  (b) If S1 <= HighRxt: Pipe is incremented by 1 octet."
  const SeqNum lost =
      clamp_seq(lost_end(smss, dup_thresh, lost_below).value_or(snd_una), snd_una, snd_nxt);
  const std::uint32_t not_lost = span_len(lost, snd_nxt) - sacked_within(lost, snd_nxt);
  const SeqNum rxt = clamp_seq(high_rxt, snd_una, snd_nxt);
  const std::uint32_t retransmitted = span_len(snd_una, rxt) - sacked_within(snd_una, rxt);
  return not_lost + retransmitted;
}

std::optional<SeqRange> Scoreboard::first_hole(SeqNum from, SeqNum limit, std::uint32_t smss) const {
  auto it = std::partition_point(ranges_.begin(), ranges_.end(),
                                 [&](const SeqRange& r) { return r.end <= from; });
  if (it != ranges_.end() && it->start <= from) {
    // Ranges never touch, so the octet right after a range is unSACKed.
    from = it->end;
    ++it;
  }
  if (smss == 0 || limit <= from) return std::nullopt;
  SeqNum end = seq_min(from + smss, limit);
  if (it != ranges_.end()) end = seq_min(end, it->start);
  return SeqRange{from, end};
}

std::optional<SeqRange> Scoreboard::next_lost(SeqNum snd_una, SeqNum high_rxt, std::uint32_t smss,
                                              std::uint32_t dup_thresh,
                                              std::optional<SeqNum> lost_below) const {
  // RFC 6675 §4 NextSeg (1): "(1.a) S2 is greater than HighRxt. (1.b) S2 is less than
  // the highest octet covered by any received SACK. (1.c) IsLost (S2) returns true."
  // lost_end() is the start of a SACKed range, so it implies (1.b); after an RTO,
  // lost_below (HighData then) replaces (1.b): everything sent before is presumed lost.
  const std::optional<SeqNum> lost = lost_end(smss, dup_thresh, lost_below);
  if (!lost) return std::nullopt;
  return first_hole(seq_max(snd_una, high_rxt), *lost, smss);
}

std::optional<SeqRange> Scoreboard::next_unsacked(SeqNum snd_una, SeqNum high_rxt,
                                                  std::uint32_t smss) const {
  // RFC 6675 §4 NextSeg (3): "an unSACKed sequence number 'S3' that meets the criteria
  // for detecting loss given in steps (1.a) and (1.b) above (specifically excluding
  // step (1.c))".
  if (ranges_.empty()) return std::nullopt;
  return first_hole(seq_max(snd_una, high_rxt), highest_sacked(), smss);
}

}  // namespace utcp::stack::sack
