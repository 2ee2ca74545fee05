// Test harness for TcpConnection, after smoltcp's socket tests: a recording sink,
// virtual time, a template segment from the peer (seg()) and one for what we expect
// the connection to send (out()), and fixtures that drive a connection into each
// state with real segments. Tests copy a template and change only what matters.
#pragma once

#include <catch2/catch.hpp>

#include <cstdint>
#include <deque>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "stack/tcp/connection.h"
#include "stack/tcp/handshake.h"

namespace utcp::stack::tcp::test {

namespace flags = wire::tcp_flags;
using namespace std::chrono_literals;

struct Sent {
  wire::TcpRepr repr;
  std::vector<std::uint8_t> payload;
  IpFields ip;
};

class RecordingSink final : public SegmentSink {
 public:
  bool emit(const wire::FourTuple& tuple, const IpFields& ip, const wire::TcpRepr& repr,
            std::span<const std::uint8_t> payload1,
            std::span<const std::uint8_t> payload2) override;

  std::deque<Sent> sent;
  wire::FourTuple last_tuple;
  bool fail = false;  // pretend no buffer is available
};

// What the peer offers in its SYN or SYN-ACK.
struct PeerOptions {
  std::optional<std::uint16_t> mss = 1460;
  std::optional<std::uint8_t> window_scale;
  bool sack = false;
  bool timestamps = false;
};

std::vector<std::uint8_t> bytes(std::string_view s);
std::vector<std::uint8_t> pattern(std::size_t n, std::uint32_t seed = 0);

class Harness {
 public:
  Harness();

  // --- the peer's side ---
  wire::TcpRepr seg() const;  // ACK from the peer at remote_seq, acking local_seq
  void inject(const wire::TcpRepr& r, std::span<const std::uint8_t> payload = {});
  // Sends `data` in order from the peer (one segment) and advances remote_seq.
  void peer_send(std::span<const std::uint8_t> data, std::uint8_t extra_flags = 0);
  void peer_ack(SeqNum ack, std::uint16_t window = 65535);

  // --- what we expect ---
  wire::TcpRepr out() const;  // ACK from us at local_seq, acking remote_seq, full window
  std::uint32_t our_tsval() const { return timestamp_clock(now) + ts_offset; }
  Initial initial() const { return Initial{local_iss, ts_offset}; }
  Sent pop();
  void expect_sent(const wire::TcpRepr& r, std::span<const std::uint8_t> payload = {});
  void expect_nothing_sent();
  std::size_t sent_count() const { return sink.sent.size(); }
  void drop_sent() { sink.sent.clear(); }

  // --- time ---
  // Moves virtual time forward by d, firing every deadline that falls on the way.
  void advance(Duration d);
  // Jumps to the next deadline (which must exist) and fires it.
  void fire_next_timer();

  // --- application ---
  std::size_t app_send(std::span<const std::uint8_t> data, bool more = false);
  std::string app_recv_all();

  // --- fixtures: each leaves the sink empty and events cleared ---
  void syn_sent();
  void established_active();
  void syn_received();
  void established();
  // Time between our SYN-ACK and the peer's ACK in established(): the handshake's
  // RTT sample (RFC 6298 §2.2).
  Duration handshake_rtt{0};
  void fin_wait_1();
  void fin_wait_2();
  void close_wait();
  void last_ack();
  void closing();
  void time_wait();

  State state() const { return conn->state(); }

  TcpConfig cfg;
  SocketOptions opts;
  TcpCounters counters;
  RecordingSink sink;
  ConnectionContext ctx;
  wire::FourTuple tuple;
  Instant now = instant_from_us(1'000'000'000);
  SeqNum local_iss{10000};
  SeqNum remote_iss{50000};
  PeerOptions peer;
  std::uint16_t peer_window = 65535;
  ConnectionPtr conn;

  SeqNum local_seq;        // our next sequence number as the peer sees it
  SeqNum remote_seq;       // the peer's next sequence number
  std::uint32_t peer_tsval = 5000;
  std::uint32_t last_tsval_seen = 0;  // the last TSval we sent (the peer echoes it)
  std::uint32_t ts_offset = 0;
  bool ts_on = false;
  bool sack_on = false;
  std::uint8_t our_wscale = 0;  // applied to out().window expectations
  std::uint16_t full_window = 65535;
};

}  // namespace utcp::stack::tcp::test

namespace Catch {
template <>
struct StringMaker<utcp::stack::wire::TcpRepr> {
  static std::string convert(const utcp::stack::wire::TcpRepr& r);
};
}  // namespace Catch
