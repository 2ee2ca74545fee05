// The Transmission Control Block of one connection: RFC 9293 §3.3.1 variables under
// their RFC names, the RFC 7323 timestamp state and the timer deadlines.
// Invariants: snd_una <= snd_nxt <= snd_max; rcv_nxt <= rcv_adv (the right edge we
// advertised never moves left, RFC 9293 §3.8.6.2.2); a timer is armed iff != kNever.
#pragma once

#include <cstdint>
#include <optional>

#include "stack/base/seq_num.h"
#include "stack/base/time.h"

namespace utcp::stack::tcp {

struct Tcb {
  // --- send sequence variables (RFC 9293 §3.3.1) ---
  SeqNum iss;
  SeqNum snd_una;
  SeqNum snd_nxt;          // next sequence number to send (moves back after an RTO)
  SeqNum snd_max;          // highest sequence number sent + 1 ("SND.NXT" of the RFC checks)
  std::uint32_t snd_wnd = 0;       // peer's window, already scaled
  std::uint32_t max_snd_wnd = 0;   // MAX.SND.WND of RFC 5961 §5.2
  SeqNum snd_wl1;
  SeqNum snd_wl2;
  std::uint8_t snd_wscale = 0;     // shift applied to the peer's window field
  std::uint32_t snd_mss = 536;     // payload bytes per segment (Eff.snd.MSS, RFC 9293 §3.7.1)

  // --- receive sequence variables ---
  SeqNum irs;
  SeqNum rcv_nxt;
  SeqNum rcv_adv;                  // right edge advertised: RCV.NXT + RCV.WND as last sent
  std::uint8_t rcv_wscale = 0;     // shift applied to our window field
  std::uint16_t rcv_mss = 536;     // our MSS option
  std::uint32_t rcv_mss_seen = 536;  // largest segment received (delayed-ACK "full-sized")
  SeqNum last_ack_sent;

  // --- negotiated options ---
  bool ts_ok = false;      // RFC 7323 §3.2
  bool sack_ok = false;    // RFC 2018 §2
  bool wscale_ok = false;  // RFC 7323 §2.2
  std::uint32_t ts_recent = 0;
  Instant ts_recent_age{};
  std::uint32_t ts_offset = 0;     // RFC 7323 §5.4: per-connection TSval offset

  // --- FIN bookkeeping ---
  bool fin_queued = false;         // the application shut the write side
  SeqNum fin_seq;                  // sequence number of our FIN when fin_queued
  std::optional<SeqNum> rcv_fin_seq;  // peer FIN seen beyond RCV.NXT (out of order)
  bool peer_fin = false;           // peer's FIN has been accepted
  bool syn_acked = false;          // SND.UNA has passed ISS: data starts at SND.UNA
};

// Linux tcp_fin_timeout: how long a closed (orphaned) FIN-WAIT-2 waits for the FIN.
inline constexpr Duration kOrphanFinWait2Timeout = std::chrono::seconds(60);

// Deadlines; kNever when not armed. next_deadline() is their minimum.
struct Timers {
  Instant rto = kNever;        // RFC 6298 retransmission timer (also SYN / SYN-ACK)
  Instant persist = kNever;    // RFC 9293 §3.8.6.1 zero-window probes
  Instant delack = kNever;     // RFC 5681 §4.2 / RFC 1122 §4.2.3.2 delayed ACK
  Instant keepalive = kNever;  // RFC 1122 §4.2.3.6
  Instant close = kNever;      // TIME-WAIT 2*MSL, or FIN-WAIT-2 of an orphan
  Instant cork = kNever;       // a partial segment held by TCP_CORK/MSG_MORE goes (kCorkCeiling)
  Instant defer = kNever;      // TCP_DEFER_ACCEPT: hand the connection over without data
};

}  // namespace utcp::stack::tcp
