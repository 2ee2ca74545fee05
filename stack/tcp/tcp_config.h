// Configuration of the TCP layer: engine-wide defaults (TcpConfig, immutable, passed
// to constructors) and per-socket options the application sets (SocketOptions).
// Defaults follow Linux where a program could notice the difference.
#pragma once

#include <cstdint>
#include <optional>

#include "stack/base/time.h"
#include "stack/cc/algorithm.h"

namespace utcp::stack::tcp {

struct TcpConfig {
  std::uint16_t mtu = 1500;              // IPv4 MTU of the wire; MSS = mtu - 40
  std::uint32_t default_rcvbuf = 256 * 1024;
  std::uint32_t default_sndbuf = 256 * 1024;
  std::uint32_t max_buf = 16 * 1024 * 1024;
  bool window_scaling = true;            // RFC 7323 §2
  bool timestamps = true;                // RFC 7323 §3-5
  bool sack = true;                      // RFC 2018
  cc::Algorithm cc = cc::Algorithm::kCubic;
  std::uint32_t initial_cwnd_segments = 10;  // RFC 6928
  Duration initial_rto = std::chrono::seconds(1);     // RFC 6298 §2.1
  Duration min_rto = std::chrono::milliseconds(200);  // Linux's floor, configurable
  Duration max_rto = std::chrono::seconds(120);
  Duration delayed_ack = std::chrono::milliseconds(40);  // RFC 1122: < 500 ms
  Duration msl = std::chrono::seconds(30);               // TIME-WAIT lasts 2*MSL
  Duration persist_min = std::chrono::milliseconds(200);
  Duration persist_max = std::chrono::seconds(60);
  std::uint32_t syn_retries = 6;         // Linux tcp_syn_retries
  std::uint32_t synack_retries = 5;      // Linux tcp_synack_retries
  std::uint32_t max_retransmits = 15;    // Linux tcp_retries2: then the connection times out
  std::uint32_t max_ooo_ranges = 64;     // bound on out-of-order holes a receiver tracks
  std::uint32_t challenge_ack_per_second = 10;  // RFC 5961 §7, per connection
  // At most one ACK per interval answers an unacceptable or PAWS-failed segment without
  // data (Linux tcp_invalid_ratelimit): two desynchronized ends would otherwise ACK each
  // other's ACKs at the round-trip rate (RFC 5961 §7: "throttle").
  Duration invalid_ack_interval = std::chrono::milliseconds(500);
  std::uint32_t dup_thresh = 3;          // RFC 5681 / RFC 6675 DupThresh
};

// Per-socket options, settable by the application (setsockopt).
struct SocketOptions {
  bool nodelay = false;  // TCP_NODELAY: disable Nagle (RFC 1122 §4.2.3.4)
  bool cork = false;     // TCP_CORK: only full segments until uncorked
  bool keepalive = false;
  Duration keepalive_idle = std::chrono::seconds(7200);
  Duration keepalive_interval = std::chrono::seconds(75);
  std::uint32_t keepalive_count = 9;
  bool linger = false;   // SO_LINGER on ...
  Duration linger_time{0};  // ... with 0: close() sends RST (abortive close)
  std::uint32_t rcvbuf = 0;  // 0: TcpConfig default
  std::uint32_t sndbuf = 0;
  std::uint16_t user_mss = 0;  // TCP_MAXSEG; 0: from the MTU
  std::uint8_t tos = 0;        // IP_TOS: the TOS byte of every segment (ECN bits clear)
  std::uint8_t ttl = 64;       // IP_TTL (Linux's ip_default_ttl when unset)
  // TCP_USER_TIMEOUT: data (or a SYN) unacknowledged this long aborts the connection
  // with ETIMEDOUT, whatever the retry count says (RFC 5482); 0: the retries decide.
  Duration user_timeout{0};
  std::optional<cc::Algorithm> congestion;  // TCP_CONGESTION; none: TcpConfig::cc
  // TCP_QUICKACK's mode as getsockopt reports it (Linux: not in "pingpong" mode).
  // Stored: our delayed-ACK rule (every second full segment, 40 ms) is the same in
  // both modes; setting it to 1 sends a pending ACK at once (Connection::push).
  bool quickack = true;
  // TCP_DEFER_ACCEPT on a listener: a connection whose handshake completed waits
  // this long for its first data (or FIN) before accept() gets it; 0: at once.
  Duration defer_accept{0};
};

// Linux's ceiling on how long TCP_CORK (and MSG_MORE) hold a partial segment (tcp(7)).
inline constexpr Duration kCorkCeiling = std::chrono::milliseconds(200);

}  // namespace utcp::stack::tcp
