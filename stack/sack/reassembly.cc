// Reassembly: out-of-order ranges above RCV.NXT and the SACK blocks that report them
// (RFC 2018 §4). All comparisons assume the caller's window check: every range lies
// less than 2^31 above rcv_nxt, so SeqNum order is total among them.
#include "stack/sack/reassembly.h"

#include <algorithm>
#include <limits>

namespace utcp::stack::sack {

namespace {

// A segment this long cannot lie inside any window (RFC 7323 §2.3 caps it at 2^30).
constexpr std::uint32_t kMaxLen = 0x80000000u;

}  // namespace

Reassembly::Reassembly(std::size_t max_ranges) : max_ranges_(max_ranges) {
  ranges_.reserve(max_ranges_);
}

bool Reassembly::insert(SeqNum rcv_nxt, SeqNum seq, std::uint32_t len) {
  if (len >= kMaxLen) return false;
  const SeqNum end = seq + len;
  if (end <= rcv_nxt) return true;  // nothing above RCV.NXT: a duplicate, not a drop
  const SeqRange r{seq_max(seq, rcv_nxt), end};
  drop_at_or_below(rcv_nxt);

  // Ranges [first, last) overlap or touch r and merge with it.
  auto first = std::partition_point(ranges_.begin(), ranges_.end(),
                                    [&](const Entry& e) { return e.range.end < r.start; });
  auto last = std::partition_point(first, ranges_.end(),
                                   [&](const Entry& e) { return e.range.start <= r.end; });
  if (first == last) {
    if (ranges_.size() >= max_ranges_) return false;
    first = ranges_.insert(first, Entry{r, 0});
    buffered_bytes_ += r.length();
  } else {
    const SeqRange merged{seq_min(r.start, first->range.start),
                          seq_max(r.end, (last - 1)->range.end)};
    for (auto it = first; it != last; ++it) buffered_bytes_ -= it->range.length();
    buffered_bytes_ += merged.length();
    first->range = merged;
    first = ranges_.erase(first + 1, last) - 1;
  }
  first->touched = ++clock_;
  return true;
}

void Reassembly::drop_at_or_below(SeqNum rcv_nxt) {
  auto first_kept = std::partition_point(ranges_.begin(), ranges_.end(),
                                         [&](const Entry& e) { return e.range.end <= rcv_nxt; });
  for (auto it = ranges_.begin(); it != first_kept; ++it) buffered_bytes_ -= it->range.length();
  ranges_.erase(ranges_.begin(), first_kept);
}

std::uint32_t Reassembly::pop_contiguous(SeqNum rcv_nxt) {
  drop_at_or_below(rcv_nxt);
  if (ranges_.empty() || rcv_nxt < ranges_.front().range.start) return 0;
  // Ranges never touch, so at most the first one continues from rcv_nxt.
  const SeqRange front = ranges_.front().range;
  buffered_bytes_ -= front.length();
  ranges_.erase(ranges_.begin());
  return static_cast<std::uint32_t>(front.end - rcv_nxt);
}

std::size_t Reassembly::sack_blocks(std::span<wire::SackBlock> out) const {
  // RFC 2018 §4: "The first SACK block ... MUST specify the contiguous block of data
  // containing the segment which triggered this ACK"; the rest SHOULD repeat the most
  // recently reported blocks. Stamps are unique, so descending stamps give that order.
  std::uint64_t below = std::numeric_limits<std::uint64_t>::max();
  std::size_t n = 0;
  for (; n < out.size(); ++n) {
    const Entry* next = nullptr;
    for (const Entry& e : ranges_) {
      if (e.touched < below && (next == nullptr || e.touched > next->touched)) next = &e;
    }
    if (next == nullptr) break;
    out[n] = wire::SackBlock{next->range.start, next->range.end};
    below = next->touched;
  }
  return n;
}

void Reassembly::clear() {
  ranges_.clear();
  buffered_bytes_ = 0;
}

}  // namespace utcp::stack::sack
