// NewReno window arithmetic: RFC 5681 §3.1 slow start and congestion avoidance with
// RFC 3465 byte counting (§2.1 in congestion avoidance, §2.2 L = 2*SMSS in slow start).
// Invariant: bytes_acked_ < cwnd between ACKs; the RFC 6582 recovery steps are the sender's.
#pragma once

#include <cstdint>

#include "stack/cc/congestion.h"

namespace utcp::stack::cc {

class NewReno final : public CongestionControl {
 public:
  NewReno(std::uint32_t smss, std::uint32_t initial_window_segments);

  Algorithm algorithm() const override { return Algorithm::kNewReno; }
  const char* name() const override { return "newreno"; }

  void on_ack(const AckSample& s) override;
  void on_congestion_event(std::uint32_t flight_size, Instant now) override;
  void on_rto(std::uint32_t flight_size, Instant now) override;

  // RFC 3465 §2.1 "bytes_acked": bytes counted toward the next +SMSS in congestion
  // avoidance.
  std::uint32_t ca_bytes_acked() const { return bytes_acked_; }

 private:
  void congestion_avoidance(std::uint32_t bytes_acked);

  std::uint32_t bytes_acked_ = 0;
};

}  // namespace utcp::stack::cc
