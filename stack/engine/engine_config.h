// EngineConfig: everything one per-core engine is told at construction, immutable
// afterwards (STYLE.md: no config read from everywhere). Defaults follow Linux
// where a program could tell (ephemeral range, somaxconn, SYN cookies on).
// The caller supplies the randomness (isn::Secret): the stack reads no entropy.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>

#include "stack/arp/arp_cache.h"
#include "stack/base/time.h"
#include "stack/isn/isn.h"
#include "stack/rss/rss.h"
#include "stack/tcp/tcp_config.h"
#include "stack/wire/addresses.h"

namespace utcp::stack::engine {

struct EngineConfig {
  // --- addressing ---
  wire::Ipv4Addr ip;
  int prefix_len = 24;
  std::optional<wire::Ipv4Addr> gateway;  // off-subnet destinations; none: ENETUNREACH

  tcp::TcpConfig tcp;
  arp::ArpConfig arp;

  // --- RSS: connect() picks local ports whose reply hash lands on engine_index ---
  std::uint16_t engine_index = 0;
  std::uint16_t engine_count = 1;
  rss::Key rss_key = rss::symmetric_key();
  rss::Reta reta;  // default: one entry, queue 0

  // Linux's net.ipv4.ip_local_port_range.
  std::uint16_t ephemeral_lo = 32768;
  std::uint16_t ephemeral_hi = 60999;

  isn::Secret secret{};  // keys ISNs (RFC 6528), port offsets (RFC 6056), SYN cookies

  // --- bounds ---
  std::uint32_t max_connections = 65536;  // flow-table entries
  std::uint32_t max_sockets = 0;          // socket ids; 0: max_connections + 1024
  // Connections kept in TIME-WAIT; beyond, a connection entering it closes at once
  // (Linux's tcp_max_tw_buckets, half its established hash). 0: max_connections / 2,
  // so a close-heavy load leaves room in the flow table for new connections.
  std::uint32_t max_time_wait = 0;
  std::uint32_t somaxconn = 4096;         // listen() backlog cap
  std::uint32_t syn_queue_limit = 4096;   // per listener, also capped by backlog + 1
  bool syn_cookies = true;                // when the SYN queue is full (RFC 4987 §3.6)

  // --- batching and time ---
  std::uint16_t rx_burst = 32;
  std::uint32_t tx_hold = 1024;           // frames kept when tx_burst refuses them
  std::uint32_t tx_stall_polls = 8;       // polls without TX progress, then held frames are freed
  Duration timer_tick = std::chrono::milliseconds(1);
  std::size_t timer_slots = 4096;

  std::uint32_t time_wait_limit() const {
    return max_time_wait != 0 ? max_time_wait : max_connections / 2;
  }
  std::uint32_t socket_capacity() const {
    return max_sockets != 0 ? max_sockets : max_connections + 1024;
  }
};

}  // namespace utcp::stack::engine
