// Diagnostic services (echo, discard, a fixed-body HTTP server) run inside one engine
// through its socket API only: a listener per service on every engine, each engine
// serving the connections its RSS hash gives it. Read stack/engine/engine.h first.
// Invariants: every connection id is either in conns_ or closed; output is bounded.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "daemon/core/http.h"
#include "stack/base/time.h"
#include "stack/engine/engine.h"

namespace utcp::daemon {

struct ServiceConfig {  // port 0: that service is off
  std::uint16_t echo_port = 0;
  std::uint16_t discard_port = 0;
  std::uint16_t http_port = 0;
};

struct ServiceCounters {
  std::uint64_t accepted = 0;
  std::uint64_t closed = 0;        // by us after the peer finished (or HTTP close)
  std::uint64_t errors = 0;        // reset or timed out
  std::uint64_t aborted = 0;       // reset by abort_all() at shutdown
  std::uint64_t echo_bytes = 0;    // bytes echoed back
  std::uint64_t discard_bytes = 0;
  std::uint64_t http_requests = 0;
  std::uint64_t http_bad_requests = 0;

  template <class Fn>
  void for_each(Fn&& fn) const {
    fn("svc_accepted", accepted);
    fn("svc_closed", closed);
    fn("svc_errors", errors);
    fn("svc_aborted", aborted);
    fn("svc_echo_bytes", echo_bytes);
    fn("svc_discard_bytes", discard_bytes);
    fn("svc_http_requests", http_requests);
    fn("svc_http_bad_requests", http_bad_requests);
  }
};

class Services {
 public:
  enum class Kind : std::uint8_t { kEcho, kDiscard, kHttp };

  // Opens the listeners; a port that cannot be bound is reported in *error (empty on
  // success) and that service stays off.
  Services(stack::engine::Engine& engine, const ServiceConfig& cfg, std::string* error);
  ~Services() = default;
  Services(const Services&) = delete;
  Services& operator=(const Services&) = delete;

  // After engine.poll(): drains the engine's events and serves every socket that
  // changed. Returns the number of sockets served (0: nothing to do).
  std::size_t run(stack::Instant now);
  // Serves one event drained by someone else (utcpd's engine loop, which shares the
  // engine with the shim). False: not one of ours.
  bool handle(const stack::engine::SocketEvent& ev, stack::Instant now);

  // Shutdown: resets every open connection (SO_LINGER 0) and closes the listeners.
  void abort_all(stack::Instant now);

  const ServiceCounters& counters() const { return counters_; }
  std::size_t open_connections() const { return conns_.size(); }

 private:
  struct Conn {
    stack::engine::SocketId id;
    Kind kind = Kind::kEcho;
    std::string out;          // bytes accepted for the peer but not yet in the send buffer
    std::size_t out_at = 0;   // first unsent byte of out
    HttpParser http;
    bool peer_done = false;        // read EOF seen
    bool close_after_out = false;  // HTTP: close once out is sent
  };

  enum class Outcome : std::uint8_t { kKeep, kDone, kFailed };  // kDone: close it orderly

  void open_listener(Kind kind, std::uint16_t port, std::string* error);
  void accept_all(stack::engine::SocketId listener, Kind kind, stack::Instant now);
  // Flushes, reads and answers until the socket would block or is finished.
  Outcome serve(Conn& c, stack::Instant now);
  bool flush(Conn& c, stack::Instant now);  // false: the connection failed
  void consume(Conn& c, std::string_view data);
  void finish(std::uint64_t raw_id, bool failed, stack::Instant now);

  stack::engine::Engine& engine_;
  std::unordered_map<std::uint64_t, Kind> listeners_;  // by SocketId::raw()
  std::unordered_map<std::uint64_t, Conn> conns_;       // by SocketId::raw()
  std::vector<stack::engine::SocketEvent> events_;
  std::vector<std::uint8_t> rx_;
  ServiceCounters counters_;
};

}  // namespace utcp::daemon
