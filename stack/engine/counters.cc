// The names `utcp stat` prints. Names are part of the operator interface: change
// one only together with docs and the scripts that read `utcp stat --json`.
#include "stack/engine/counters.h"

namespace utcp::stack::engine {
namespace {

// Index: wire::ParseError.
constexpr std::array<std::string_view, kParseErrorCount> kParseDropNames = {
    "drop_parse_none",          "drop_parse_truncated",    "drop_parse_bad_version",
    "drop_parse_bad_header_len", "drop_parse_bad_total_len", "drop_parse_bad_checksum",
    "drop_parse_fragment",      "drop_parse_bad_option",   "drop_parse_unsupported",
};

// Index: tcp::State.
constexpr std::array<std::string_view, kStateCount> kStateNames = {
    "conn_closed",     "conn_listen",    "conn_syn_sent",  "conn_syn_received",
    "conn_established", "conn_fin_wait1", "conn_fin_wait2", "conn_close_wait",
    "conn_closing",    "conn_last_ack",  "conn_time_wait",
};

void visit_link(const EngineCounters& c, CounterVisitor& v) {
  v.visit("frames_in", c.frames_in);
  v.visit("frames_out", c.frames_out);
  v.visit("bytes_in", c.bytes_in);
  v.visit("bytes_out", c.bytes_out);
}

void visit_drops(const EngineCounters& c, CounterVisitor& v) {
  // kNone is never a drop; start after it.
  for (std::size_t i = 1; i < kParseErrorCount; ++i) {
    v.visit(kParseDropNames[i], c.parse_drops[i]);
  }
  v.visit("drop_mac_not_for_us", c.drop_mac_not_for_us);
  v.visit("drop_ip_not_for_us", c.drop_ip_not_for_us);
  v.visit("drop_bad_source", c.drop_bad_source);
  v.visit("drop_rst_no_socket", c.drop_rst_no_socket);
  v.visit("rst_sent_no_socket", c.rst_sent_no_socket);
  v.visit("drop_syn_queue_full", c.drop_syn_queue_full);
  v.visit("drop_accept_queue_full", c.drop_accept_queue_full);
  v.visit("drop_flow_table_full", c.drop_flow_table_full);
  v.visit("drop_listen_invalid", c.drop_listen_invalid);
  v.visit("drop_no_route", c.drop_no_route);
  v.visit("drop_icmp_unhandled", c.drop_icmp_unhandled);
  v.visit("drop_arp_pending", c.drop_arp_pending);
  v.visit("tx_refused", c.tx_refused);
  v.visit("tx_freed", c.tx_freed);
  v.visit("alloc_failures", c.alloc_failures);
  v.visit("tx_frame_too_big", c.tx_frame_too_big);
}

void visit_arp_icmp(const EngineCounters& c, CounterVisitor& v) {
  v.visit("arp_requests_in", c.arp_requests_in);
  v.visit("arp_replies_in", c.arp_replies_in);
  v.visit("arp_for_others", c.arp_for_others);
  v.visit("arp_requests_out", c.arp_requests_out);
  v.visit("arp_replies_out", c.arp_replies_out);
  v.visit("arp_gratuitous_out", c.arp_gratuitous_out);
  v.visit("icmp_echo_in", c.icmp_echo_in);
  v.visit("icmp_echo_out", c.icmp_echo_out);
  v.visit("icmp_echo_requests_out", c.icmp_echo_requests_out);
  v.visit("icmp_echo_replies_in", c.icmp_echo_replies_in);
  v.visit("icmp_errors_accepted", c.icmp_errors_accepted);
  v.visit("icmp_errors_rejected", c.icmp_errors_rejected);
}

void visit_listen(const EngineCounters& c, CounterVisitor& v) {
  v.visit("syn_cookies_sent", c.syn_cookies_sent);
  v.visit("syn_cookies_ok", c.syn_cookies_ok);
  v.visit("syn_cookies_failed", c.syn_cookies_failed);
  v.visit("time_wait_reused", c.time_wait_reused);
  v.visit("time_wait_overflow", c.time_wait_overflow);
}

void visit_tcp(const tcp::TcpCounters& t, CounterVisitor& v) {
  v.visit("tcp_segs_in", t.segs_in);
  v.visit("tcp_segs_out", t.segs_out);
  v.visit("tcp_bytes_in", t.bytes_in);
  v.visit("tcp_bytes_out", t.bytes_out);
  v.visit("tcp_active_opens", t.active_opens);
  v.visit("tcp_passive_opens", t.passive_opens);
  v.visit("tcp_established", t.established);
  v.visit("tcp_attempt_fails", t.attempt_fails);
  v.visit("tcp_resets_in", t.resets_in);
  v.visit("tcp_resets_out", t.resets_out);
  v.visit("tcp_retransmits", t.retransmits);
  v.visit("tcp_fast_retransmits", t.fast_retransmits);
  v.visit("tcp_rto_timeouts", t.rto_timeouts);
  v.visit("tcp_timeouts", t.timeouts);
  v.visit("tcp_dup_acks_in", t.dup_acks_in);
  v.visit("tcp_ooo_segments", t.ooo_segments);
  v.visit("tcp_ooo_dropped", t.ooo_dropped);
  v.visit("tcp_out_of_window", t.out_of_window);
  v.visit("tcp_paws_rejected", t.paws_rejected);
  v.visit("tcp_challenge_acks", t.challenge_acks);
  v.visit("tcp_challenge_acks_suppressed", t.challenge_acks_suppressed);
  v.visit("tcp_invalid_acks_suppressed", t.invalid_acks_suppressed);
  v.visit("tcp_sack_blocks_ignored", t.sack_blocks_ignored);
  v.visit("tcp_dsacks_in", t.dsacks_in);
  v.visit("tcp_dsacks_out", t.dsacks_out);
  v.visit("tcp_zero_window_probes", t.zero_window_probes);
  v.visit("tcp_keepalive_probes", t.keepalive_probes);
  v.visit("tcp_delayed_acks", t.delayed_acks);
  v.visit("tcp_icmp_unreachable", t.icmp_unreachable);
  v.visit("tcp_icmp_rejected", t.icmp_rejected);
  v.visit("tcp_emit_failures", t.emit_failures);
}

void visit_gauges(const EngineCounters& c, CounterVisitor& v) {
  for (std::size_t i = 0; i < kStateCount; ++i) {
    v.visit(kStateNames[i], c.connections_by_state[i]);
  }
  v.visit("connections", c.connections);
  v.visit("listeners", c.listeners);
  v.visit("sockets", c.sockets);
  v.visit("timers_armed", c.timers_armed);
  v.visit("buffers_held", c.buffers_held);
}

}  // namespace

void visit_counters(const EngineCounters& c, CounterVisitor& v) {
  visit_link(c, v);
  visit_drops(c, v);
  visit_arp_icmp(c, v);
  visit_listen(c, v);
  visit_tcp(c.tcp, v);
  visit_gauges(c, v);
}

}  // namespace utcp::stack::engine
