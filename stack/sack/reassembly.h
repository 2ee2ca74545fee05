// Reassembly: the receiver's map of out-of-order data held past RCV.NXT (the bytes
// themselves live in the receive ByteRing). Read RFC 9293 §3.10.7.4 and RFC 2018 §4.
// Invariants: ranges are disjoint, non-adjacent, sorted, all above the rcv_nxt last
// seen; range_count() <= max_ranges; buffered_bytes() is their total.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "stack/base/seq_num.h"
#include "stack/wire/tcp.h"

namespace utcp::stack::sack {

// Work per insert() and pop_contiguous() is O(max_ranges), per sack_blocks()
// O(out.size() x max_ranges); nothing allocates after construction.
class Reassembly {
 public:
  explicit Reassembly(std::size_t max_ranges);

  // Records [seq, seq+len) received out of order (seq > rcv_nxt); any part at or
  // below rcv_nxt is ignored. Overlapping and adjacent ranges merge. Returns false
  // and records nothing when this would need more than max_ranges separate ranges
  // (the caller drops the segment: bounded work and memory against 100,000
  // alternating one-byte segments) or when len >= 2^31 (cannot fit any window).
  // The caller has already trimmed the segment to the receive window.
  bool insert(SeqNum rcv_nxt, SeqNum seq, std::uint32_t len);

  // RCV.NXT has just advanced to rcv_nxt through in-order data: removes ranges now
  // at or below it and returns how many more bytes from rcv_nxt on are contiguous
  // (the caller advances RCV.NXT by that and commits them in the ring).
  std::uint32_t pop_contiguous(SeqNum rcv_nxt);

  // SACK blocks for an outgoing ACK (RFC 2018 §4): first the range holding the most
  // recently received segment, then the other ranges, most recently touched first;
  // at most out.size() blocks. Returns the count written.
  std::size_t sack_blocks(std::span<wire::SackBlock> out) const;

  bool empty() const { return ranges_.empty(); }
  std::size_t range_count() const { return ranges_.size(); }
  std::size_t max_ranges() const { return max_ranges_; }
  std::uint32_t buffered_bytes() const { return buffered_bytes_; }
  void clear();
  // End of the highest range; meaningful only when !empty().
  SeqNum highest_end() const { return ranges_.back().range.end; }

 private:
  struct Entry {
    SeqRange range;
    std::uint64_t touched = 0;  // insert() stamp of the last segment that landed here
  };

  void drop_at_or_below(SeqNum rcv_nxt);

  std::size_t max_ranges_;
  std::vector<Entry> ranges_;
  std::uint32_t buffered_bytes_ = 0;
  std::uint64_t clock_ = 0;  // counts insert() calls; orders ranges by recency
};

}  // namespace utcp::stack::sack
