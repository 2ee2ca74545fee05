// Listener: one listening socket's queues (RFC 9293 §3.10.1): the count of children in
// SYN-RECEIVED and, oldest first, the completed ones accept() has not taken. Linux
// sizes: accept queue full at backlog + 1, SYN queue at min(limit, backlog + 1).
// Invariant: the accept ring never allocates after construction.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <vector>

#include "stack/base/time.h"

namespace utcp::stack::engine {

class Listener {
 public:
  // backlog_cap: the largest backlog listen() may set later (somaxconn).
  Listener(std::uint32_t backlog, std::uint32_t backlog_cap, std::uint32_t syn_limit);

  // listen() on a listening socket changes only the backlog, as on Linux.
  void set_backlog(std::uint32_t backlog);
  std::uint32_t backlog() const { return backlog_; }

  // --- SYN queue (children in SYN-RECEIVED) ---
  bool syn_queue_full() const { return syn_count_ >= syn_capacity(); }
  std::uint32_t syn_count() const { return syn_count_; }
  void syn_added() { ++syn_count_; }
  void syn_removed() { --syn_count_; }

  // --- accept queue (children ESTABLISHED or later, oldest first) ---
  bool accept_queue_full() const { return accept_count_ >= accept_capacity(); }
  bool accept_queue_empty() const { return accept_count_ == 0; }
  std::uint32_t accept_count() const { return accept_count_; }
  // False when full (the caller checked accept_queue_full first).
  bool push_accepted(std::uint32_t socket_index);
  std::optional<std::uint32_t> pop_accepted();

  // When the queue last overflowed: SYN cookies are only checked in the cookie
  // lifetime after an overflow (Linux's tcp_synq_no_recent_overflow).
  void note_overflow(Instant now) { last_overflow_ = now; }
  Instant last_overflow() const { return last_overflow_; }

 private:
  std::uint32_t accept_capacity() const { return backlog_ + 1; }
  std::uint32_t syn_capacity() const;

  std::uint32_t backlog_;
  std::uint32_t syn_limit_;
  std::uint32_t syn_count_ = 0;
  std::vector<std::uint32_t> ring_;  // backlog_cap + 1 slots, allocated once
  std::uint32_t head_ = 0;
  std::uint32_t accept_count_ = 0;
  Instant last_overflow_ = Instant::min();
};

}  // namespace utcp::stack::engine
