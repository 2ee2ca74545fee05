// The diagnostic services (read services.h first). Readiness comes from
// drain_events(), which reports changes only, so serve() always runs a socket until it
// would block: flush output, then read only once all output is in the send buffer, so
// a peer that sends without reading closes its own window instead of growing our memory.
#include "daemon/core/services.h"

#include <cerrno>

namespace utcp::daemon {
namespace {

using stack::Instant;
using stack::engine::SocketId;
namespace events = stack::tcp::events;

constexpr std::size_t kEventBatch = 256;
constexpr std::size_t kReadChunk = 64 * 1024;
constexpr int kBacklog = 1024;

const char* kind_name(Services::Kind kind) {
  switch (kind) {
    case Services::Kind::kEcho: return "echo";
    case Services::Kind::kDiscard: return "discard";
    default: return "http";
  }
}

}  // namespace

Services::Services(stack::engine::Engine& engine, const ServiceConfig& cfg, std::string* error)
    : engine_(engine), events_(kEventBatch), rx_(kReadChunk) {
  error->clear();
  if (cfg.echo_port != 0) open_listener(Kind::kEcho, cfg.echo_port, error);
  if (cfg.discard_port != 0) open_listener(Kind::kDiscard, cfg.discard_port, error);
  if (cfg.http_port != 0) open_listener(Kind::kHttp, cfg.http_port, error);
}

void Services::open_listener(Kind kind, std::uint16_t port, std::string* error) {
  auto id = engine_.socket();
  stack::Errno e = id ? 0 : id.err();
  if (e == 0) e = engine_.bind(*id, {engine_.config().ip, port});
  if (e == 0) e = engine_.listen(*id, kBacklog);
  if (e != 0) {
    if (id) (void)engine_.close(*id, Instant{});
    if (!error->empty()) *error += "; ";
    *error += std::string(kind_name(kind)) + " service on port " + std::to_string(port) +
              ": errno " + std::to_string(e);
    return;
  }
  listeners_.emplace(id->raw(), kind);
}

std::size_t Services::run(Instant now) {
  std::size_t served = 0;
  for (;;) {
    const std::size_t n = engine_.drain_events(events_);
    for (std::size_t i = 0; i < n; ++i) {
      (void)handle(events_[i], now);
      ++served;
    }
    if (n < events_.size()) return served;
  }
}

bool Services::handle(const stack::engine::SocketEvent& ev, Instant now) {
  const std::uint64_t raw = ev.id.raw();
  if (auto l = listeners_.find(raw); l != listeners_.end()) {
    if (ev.mask & events::kReadable) accept_all(ev.id, l->second, now);
    return true;
  }
  if (auto c = conns_.find(raw); c != conns_.end()) {
    const Outcome o = serve(c->second, now);
    if (o != Outcome::kKeep) finish(raw, o == Outcome::kFailed, now);
    return true;
  }
  return false;
}

void Services::accept_all(SocketId listener, Kind kind, Instant now) {
  for (;;) {
    auto id = engine_.accept(listener, nullptr);
    if (!id) return;  // EAGAIN: the accept queue is empty
    ++counters_.accepted;
    Conn& c = conns_[id->raw()];
    c.id = *id;
    c.kind = kind;
    // The peer may have sent (even finished) before accept: serve at once, since the
    // events that told of it were the child's, not ours.
    const Outcome o = serve(c, now);
    if (o != Outcome::kKeep) finish(id->raw(), o == Outcome::kFailed, now);
  }
}

Services::Outcome Services::serve(Conn& c, Instant now) {
  for (;;) {
    if (!flush(c, now)) return Outcome::kFailed;
    if (c.out_at < c.out.size()) return Outcome::kKeep;  // wait for kWritable
    if (c.close_after_out || c.peer_done) return Outcome::kDone;
    auto r = engine_.recv(c.id, rx_, {}, now);
    if (!r) return r.err() == EAGAIN ? Outcome::kKeep : Outcome::kFailed;
    if (*r == 0) {
      // Half-close aware: the peer's FIN ends its data; what is queued still goes out,
      // then close() sends our FIN after it.
      c.peer_done = true;
      continue;
    }
    consume(c, std::string_view(reinterpret_cast<const char*>(rx_.data()), *r));
  }
}

bool Services::flush(Conn& c, Instant now) {
  while (c.out_at < c.out.size()) {
    const auto* data = reinterpret_cast<const std::uint8_t*>(c.out.data()) + c.out_at;
    auto r = engine_.send(c.id, {data, c.out.size() - c.out_at}, {}, now);
    if (!r) return r.err() == EAGAIN;
    c.out_at += *r;
  }
  c.out.clear();
  c.out_at = 0;
  return true;
}

void Services::consume(Conn& c, std::string_view data) {
  switch (c.kind) {
    case Kind::kEcho:
      c.out.append(data);
      counters_.echo_bytes += data.size();
      break;
    case Kind::kDiscard:
      counters_.discard_bytes += data.size();
      break;
    case Kind::kHttp:
      c.http.feed(data);
      while (!c.close_after_out) {
        const auto req = c.http.next();
        if (!req) break;
        if (req->status == 200) {
          ++counters_.http_requests;
        } else {
          ++counters_.http_bad_requests;
        }
        c.out += http_response(*req);
        c.close_after_out = !req->keep_alive || req->status != 200;
      }
      break;
  }
}

void Services::finish(std::uint64_t raw_id, bool failed, Instant now) {
  auto it = conns_.find(raw_id);
  if (it == conns_.end()) return;
  (void)engine_.close(it->second.id, now);
  if (!failed) {
    ++counters_.closed;
  } else {
    ++counters_.errors;
  }
  conns_.erase(it);
}

void Services::abort_all(Instant now) {
  for (auto& [raw, c] : conns_) {
    (void)engine_.abort(c.id, now);
    ++counters_.aborted;
  }
  conns_.clear();
  for (const auto& [raw, kind] : listeners_) {
    (void)engine_.close(SocketId::from_raw(raw), now);
  }
  listeners_.clear();
}

}  // namespace utcp::daemon
