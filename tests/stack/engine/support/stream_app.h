// StreamApp: an event-driven app on one engine: listens and/or connects, writes a
// seeded pseudo-random stream, shuts down writing, reads to end of stream, closes,
// hashing both directions (SHA-256) so two apps prove each stream arrived intact.
// Only Engine::drain_events() drives it, so a lost wake-up shows as a stall.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <unordered_map>
#include <vector>

#include "stack/engine/engine.h"
#include "stack/engine/support/sha256.h"
#include "stack/io/prng.h"

namespace utcp::stack::engine::test {

struct StreamResult {
  wire::FourTuple tuple;
  std::uint64_t sent = 0;
  std::uint64_t received = 0;
  Sha256::Digest sent_digest{};
  Sha256::Digest received_digest{};
  int error = 0;
};

class StreamApp {
 public:
  StreamApp(Engine& engine, std::uint64_t seed);

  // Accepted connections send `reply_bytes`.
  void listen(std::uint16_t port, int backlog, std::uint64_t reply_bytes);
  void connect(wire::Endpoint remote, std::uint64_t send_bytes, Instant now);
  void close_listener(Instant now);

  // Drains the engine's events and acts on them.
  void service(Instant now);

  std::size_t started() const { return started_; }
  std::size_t finished() const { return finished_; }
  std::uint64_t bytes_sent() const { return bytes_sent_; }          // by finished streams
  std::uint64_t bytes_received() const { return bytes_received_; }  // by finished streams
  std::size_t open_streams() const { return streams_.size(); }
  std::size_t failures() const { return failures_; }
  int first_error() const { return first_error_; }
  // Events seen per socket per drain_events() call, at most (1 if aggregated).
  std::size_t max_events_per_socket_per_drain() const { return max_dup_; }
  // Finished streams keyed by the client's (ephemeral) port; a port used again
  // keeps its latest stream.
  const std::map<std::uint16_t, StreamResult>& results() const { return results_; }

 private:
  struct Stream {
    SocketId id;
    wire::FourTuple tuple{};
    bool connected = false;
    bool write_shut = false;
    bool eof = false;
    bool dead = false;  // failed and closed; erased once the event is handled
    std::uint64_t to_send = 0;
    std::uint64_t sent = 0;
    std::uint64_t received = 0;
    io::Prng gen{0};
    std::vector<std::uint8_t> chunk;
    std::size_t chunk_off = 0;
    Sha256 sent_sha, received_sha;
  };

  void on_event(const SocketEvent& ev, Instant now);
  void accept_all(Instant now);
  Stream& add_stream(SocketId id, std::uint64_t to_send);
  void pump(Stream& s, Instant now);
  void drain(Stream& s, Instant now);
  void fail(Stream& s, int err, Instant now);
  void maybe_finish(Stream& s, Instant now);
  void refill(Stream& s);

  Engine& engine_;
  std::uint64_t seed_;
  SocketId listener_{};
  std::uint64_t reply_bytes_ = 0;
  std::unordered_map<std::uint64_t, Stream> streams_;  // by SocketId::raw()
  std::map<std::uint16_t, StreamResult> results_;
  std::vector<std::uint8_t> rx_buf_;
  std::vector<SocketEvent> events_;
  std::size_t started_ = 0;
  std::size_t finished_ = 0;
  std::uint64_t bytes_sent_ = 0;
  std::uint64_t bytes_received_ = 0;
  std::size_t failures_ = 0;
  int first_error_ = 0;
  std::size_t max_dup_ = 0;
};

}  // namespace utcp::stack::engine::test
