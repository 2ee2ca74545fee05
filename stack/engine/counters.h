// EngineCounters: what one engine counts, for `utcp stat` (DESIGN.md §4). Every dropped
// frame lands in exactly one counter, by wire::ParseError class or by reason; gauges
// (connections per state, sockets, buffers held) are kept current as things change.
// One core owns the struct: plain integers, no atomics.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "stack/tcp/connection.h"
#include "stack/tcp/tcp_counters.h"
#include "stack/wire/parse_error.h"

namespace utcp::stack::engine {

inline constexpr std::size_t kStateCount = static_cast<std::size_t>(tcp::State::kTimeWait) + 1;
inline constexpr std::size_t kParseErrorCount = static_cast<std::size_t>(wire::ParseError::kCount);

struct EngineCounters {
  // --- the link ---
  std::uint64_t frames_in = 0;
  std::uint64_t frames_out = 0;           // accepted by tx_burst
  std::uint64_t bytes_in = 0;
  std::uint64_t bytes_out = 0;

  // --- drops by parse class (index: wire::ParseError), any layer ---
  std::array<std::uint64_t, kParseErrorCount> parse_drops{};

  // --- drops by reason ---
  std::uint64_t drop_mac_not_for_us = 0;  // unicast frame to another MAC
  std::uint64_t drop_ip_not_for_us = 0;   // IPv4 destination is not our address
  std::uint64_t drop_bad_source = 0;      // broadcast/multicast/our own source address
  std::uint64_t drop_rst_no_socket = 0;   // RST for no connection: never answered
  std::uint64_t rst_sent_no_socket = 0;   // segment for no connection/listener: RST sent
  std::uint64_t drop_syn_queue_full = 0;  // SYN queue full and SYN cookies off
  std::uint64_t drop_accept_queue_full = 0;  // Linux's ListenOverflows
  std::uint64_t drop_flow_table_full = 0; // max_connections reached
  std::uint64_t drop_listen_invalid = 0;  // to a listener: no SYN, no ACK (RFC 9293 §3.10.7.2)
  std::uint64_t drop_no_route = 0;        // segment for an address with no route
  std::uint64_t drop_icmp_unhandled = 0;  // ICMP types we do not act on
  std::uint64_t drop_arp_pending = 0;     // frames the ARP queue gave up on
  std::uint64_t tx_refused = 0;           // frames tx_burst did not take (retried later)
  std::uint64_t tx_freed = 0;             // refused frames finally freed
  std::uint64_t alloc_failures = 0;       // PacketIo::alloc returned nullptr
  std::uint64_t tx_frame_too_big = 0;     // a segment did not fit a device buffer

  // --- ARP ---
  std::uint64_t arp_requests_in = 0;
  std::uint64_t arp_replies_in = 0;
  std::uint64_t arp_for_others = 0;       // requests for another address (not answered)
  std::uint64_t arp_requests_out = 0;
  std::uint64_t arp_replies_out = 0;
  std::uint64_t arp_gratuitous_out = 0;

  // --- ICMP ---
  std::uint64_t icmp_echo_in = 0;
  std::uint64_t icmp_echo_out = 0;
  std::uint64_t icmp_echo_requests_out = 0;  // ping() (diagnostics)
  std::uint64_t icmp_echo_replies_in = 0;    // answers to them (any ident)
  std::uint64_t icmp_errors_accepted = 0; // quoted a flow we have: handed to it
  std::uint64_t icmp_errors_rejected = 0; // quoted nothing we know

  // --- listeners ---
  std::uint64_t syn_cookies_sent = 0;
  std::uint64_t syn_cookies_ok = 0;
  std::uint64_t syn_cookies_failed = 0;
  std::uint64_t time_wait_reused = 0;     // SYN took over a TIME-WAIT tuple (RFC 6191)
  std::uint64_t time_wait_overflow = 0;   // closed at once: max_time_wait reached

  tcp::TcpCounters tcp;

  // --- gauges ---
  std::array<std::uint64_t, kStateCount> connections_by_state{};  // index: tcp::State
  std::uint64_t connections = 0;          // flow-table entries
  std::uint64_t listeners = 0;
  std::uint64_t sockets = 0;              // socket-table slots in use
  std::uint64_t timers_armed = 0;
  std::uint64_t buffers_held = 0;         // PacketBufs waiting for TX or for ARP

  // Calls fn(std::string_view name, std::uint64_t value) for every counter and
  // gauge, in a fixed order, with stable names ("tcp_retransmits",
  // "conn_established", "drop_parse_bad_checksum", ...).
  template <class Fn>
  void for_each(Fn&& fn) const;

  std::uint64_t drops(wire::ParseError e) const {
    return parse_drops[static_cast<std::size_t>(e)];
  }
  std::uint64_t in_state(tcp::State s) const {
    return connections_by_state[static_cast<std::size_t>(s)];
  }
};

// The non-template half of for_each: a visitor interface, so the list of names lives
// in one .cc file.
class CounterVisitor {
 public:
  virtual void visit(std::string_view name, std::uint64_t value) = 0;

 protected:
  ~CounterVisitor() = default;
};

void visit_counters(const EngineCounters& c, CounterVisitor& v);

template <class Fn>
void EngineCounters::for_each(Fn&& fn) const {
  struct Adapter final : CounterVisitor {
    explicit Adapter(Fn& f) : f_(f) {}
    void visit(std::string_view name, std::uint64_t value) override { f_(name, value); }
    Fn& f_;
  };
  Adapter adapter(fn);
  visit_counters(*this, adapter);
}

}  // namespace utcp::stack::engine
