// StreamApp: write, shut down writing, read to end of stream, close; every step
// driven by an event from Engine::drain_events().
#include "stack/engine/support/stream_app.h"

#include <algorithm>
#include <catch2/catch.hpp>
#include <cerrno>
#include <cstring>

namespace utcp::stack::engine::test {
namespace {

constexpr std::size_t kChunk = 8192;

}  // namespace

StreamApp::StreamApp(Engine& engine, std::uint64_t seed)
    : engine_(engine), seed_(seed), rx_buf_(64 * 1024), events_(256) {}

void StreamApp::listen(std::uint16_t port, int backlog, std::uint64_t reply_bytes) {
  Result<SocketId> id = engine_.socket();
  REQUIRE(id.ok());
  SocketOptions opts;
  opts.reuse_addr = true;
  REQUIRE(engine_.set_options(*id, opts, Instant{}) == 0);
  REQUIRE(engine_.bind(*id, {wire::Ipv4Addr{}, port}) == 0);
  REQUIRE(engine_.listen(*id, backlog) == 0);
  listener_ = *id;
  reply_bytes_ = reply_bytes;
}

void StreamApp::close_listener(Instant now) {
  REQUIRE(engine_.close(listener_, now) == 0);
  listener_ = SocketId{};
}

void StreamApp::connect(wire::Endpoint remote, std::uint64_t send_bytes, Instant now) {
  Result<SocketId> id = engine_.socket();
  REQUIRE(id.ok());
  REQUIRE(engine_.connect(*id, remote, now) == EINPROGRESS);
  Stream& s = add_stream(*id, send_bytes);
  s.tuple.remote = remote;
}

StreamApp::Stream& StreamApp::add_stream(SocketId id, std::uint64_t to_send) {
  Stream& s = streams_[id.raw()];
  s.id = id;
  s.to_send = to_send;
  s.gen = io::Prng(seed_ * 1'000'003 + started_);
  s.chunk.reserve(kChunk);
  ++started_;
  return s;
}

void StreamApp::service(Instant now) {
  for (;;) {
    const std::size_t n = engine_.drain_events(events_);
    if (n == 0) return;
    // Aggregation: within one drain, a socket appears at most once.
    std::unordered_map<std::uint64_t, std::size_t> seen;
    for (std::size_t i = 0; i < n; ++i) {
      max_dup_ = std::max(max_dup_, ++seen[events_[i].id.raw()]);
    }
    for (std::size_t i = 0; i < n; ++i) {
      on_event(events_[i], now);
    }
  }
}

void StreamApp::on_event(const SocketEvent& ev, Instant now) {
  namespace e = tcp::events;
  if (ev.id == listener_) {
    accept_all(now);
    return;
  }
  auto it = streams_.find(ev.id.raw());
  if (it == streams_.end()) return;
  Stream& s = it->second;
  if ((ev.mask & e::kError) != 0) {
    const Result<int> err = engine_.take_error(s.id);
    if (err.ok() && *err != 0) fail(s, *err, now);
  }
  if ((ev.mask & (e::kConnected | e::kWritable)) != 0 && !s.connected) {
    s.connected = true;
    const Result<wire::Endpoint> local = engine_.getsockname(s.id);
    REQUIRE(local.ok());
    s.tuple.local = *local;
  }
  if (s.connected && !s.dead) pump(s, now);
  if ((ev.mask & (e::kReadable | e::kReadHangup | e::kHangup)) != 0 && !s.dead) drain(s, now);
  maybe_finish(s, now);
}

void StreamApp::accept_all(Instant now) {
  for (;;) {
    wire::Endpoint peer;
    Result<SocketId> id = engine_.accept(listener_, &peer);
    if (!id.ok()) {
      REQUIRE(id.err() == EAGAIN);
      return;
    }
    Stream& s = add_stream(*id, reply_bytes_);
    s.connected = true;
    s.tuple.remote = peer;
    const Result<wire::Endpoint> local = engine_.getsockname(s.id);
    REQUIRE(local.ok());
    s.tuple.local = *local;
    pump(s, now);
    if (!s.dead) drain(s, now);
    maybe_finish(s, now);
  }
}

void StreamApp::refill(Stream& s) {
  const auto n = static_cast<std::size_t>(std::min<std::uint64_t>(kChunk, s.to_send - s.sent));
  s.chunk.resize(n);
  for (std::size_t i = 0; i < n; i += 8) {
    const std::uint64_t word = s.gen.next();
    std::memcpy(s.chunk.data() + i, &word, std::min<std::size_t>(8, n - i));
  }
  s.chunk_off = 0;
}

void StreamApp::pump(Stream& s, Instant now) {
  while (s.sent < s.to_send) {
    if (s.chunk_off == s.chunk.size()) refill(s);
    const std::span<const std::uint8_t> rest =
        std::span<const std::uint8_t>(s.chunk).subspan(s.chunk_off);
    const Result<std::size_t> r = engine_.send(s.id, rest, MsgFlags{}, now);
    if (!r.ok()) {
      if (r.err() != EAGAIN) fail(s, r.err(), now);
      return;
    }
    if (*r == 0) return;
    s.sent_sha.update(rest.first(*r));
    s.sent += *r;
    s.chunk_off += *r;
  }
  if (!s.write_shut) {
    const Errno e = engine_.shutdown(s.id, ShutdownHow::kWrite, now);
    if (e != 0) {
      fail(s, e, now);
      return;
    }
    s.write_shut = true;
  }
}

void StreamApp::drain(Stream& s, Instant now) {
  while (!s.eof) {
    const Result<std::size_t> r = engine_.recv(s.id, rx_buf_, MsgFlags{}, now);
    if (!r.ok()) {
      if (r.err() != EAGAIN) fail(s, r.err(), now);
      return;
    }
    if (*r == 0) {
      s.eof = true;
      return;
    }
    s.received_sha.update(std::span<const std::uint8_t>(rx_buf_.data(), *r));
    s.received += *r;
  }
}

void StreamApp::fail(Stream& s, int err, Instant now) {
  ++failures_;
  if (first_error_ == 0) first_error_ = err;
  engine_.close(s.id, now);
  s.dead = true;
}

void StreamApp::maybe_finish(Stream& s, Instant now) {
  if (s.dead) {
    streams_.erase(s.id.raw());
    return;
  }
  if (!s.write_shut || !s.eof) return;
  StreamResult r;
  r.tuple = s.tuple;
  r.sent = s.sent;
  r.received = s.received;
  r.sent_digest = s.sent_sha.finish();
  r.received_digest = s.received_sha.finish();
  // Keyed by the client's (ephemeral, higher) port, the same on both ends.
  results_[std::max(s.tuple.local.port, s.tuple.remote.port)] = r;
  ++finished_;
  bytes_sent_ += s.sent;
  bytes_received_ += s.received;
  REQUIRE(engine_.close(s.id, now) == 0);
  streams_.erase(s.id.raw());
}

}  // namespace utcp::stack::engine::test
