// Engine-wide TCP counters, shared by all connections of one engine (one core, so
// plain integers). Every dropped or rejected segment class has its own counter.
#pragma once

#include <cstdint>

namespace utcp::stack::tcp {

struct TcpCounters {
  std::uint64_t segs_in = 0;
  std::uint64_t segs_out = 0;
  std::uint64_t bytes_in = 0;              // payload bytes accepted in order
  std::uint64_t bytes_out = 0;             // payload bytes sent (incl. retransmissions)
  std::uint64_t active_opens = 0;          // connect()
  std::uint64_t passive_opens = 0;         // SYN accepted by a listener
  std::uint64_t established = 0;           // handshakes completed
  std::uint64_t attempt_fails = 0;         // SYN-SENT/SYN-RECEIVED -> CLOSED
  std::uint64_t resets_in = 0;             // acceptable RSTs received
  std::uint64_t resets_out = 0;
  std::uint64_t retransmits = 0;           // segments retransmitted (any cause)
  std::uint64_t fast_retransmits = 0;      // entries into fast recovery
  std::uint64_t rto_timeouts = 0;
  std::uint64_t timeouts = 0;              // connections dropped after max retransmits / keepalive
  std::uint64_t dup_acks_in = 0;
  std::uint64_t ooo_segments = 0;          // received above RCV.NXT and kept
  std::uint64_t ooo_dropped = 0;           // out-of-order range limit reached
  std::uint64_t out_of_window = 0;         // unacceptable segments (RFC 9293 §3.10.7.4 first check)
  std::uint64_t paws_rejected = 0;         // RFC 7323 §5
  std::uint64_t challenge_acks = 0;        // RFC 5961 §3-5
  std::uint64_t challenge_acks_suppressed = 0;  // RFC 5961 §7 rate limit
  std::uint64_t invalid_acks_suppressed = 0;    // dup ACKs for unacceptable segments skipped
  std::uint64_t sack_blocks_ignored = 0;   // outside [SND.UNA, SND.NXT]
  std::uint64_t dsacks_in = 0;             // D-SACK blocks received (RFC 2883): a duplicate arrived
  std::uint64_t dsacks_out = 0;            // D-SACK blocks sent: we received a duplicate
  std::uint64_t zero_window_probes = 0;
  std::uint64_t keepalive_probes = 0;
  std::uint64_t delayed_acks = 0;          // ACKs sent by the delayed-ACK timer
  std::uint64_t icmp_unreachable = 0;      // accepted ICMP errors
  std::uint64_t icmp_rejected = 0;         // ICMP quoting a sequence number outside the window
  std::uint64_t emit_failures = 0;         // SegmentSink had no buffer
};

}  // namespace utcp::stack::tcp
