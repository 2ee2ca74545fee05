// The engine side of the app channel (read shim_server.h first): control messages,
// the round, streams, closing, publishing. Commands: shim_commands.cc; options: shim_options.cc.
#include "daemon/core/shim_server.h"

#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

namespace utcp::daemon {
namespace {

using stack::Instant;
using stack::engine::SocketId;
namespace events = stack::tcp::events;
namespace st = shim::state;

constexpr std::size_t kCommandBurst = 64;   // per channel per round: fairness between apps
constexpr std::size_t kEventBatch = 256;
constexpr std::size_t kScratch = 64 * 1024;

std::uint64_t bit(std::uint32_t c) { return std::uint64_t{1} << c; }

}  // namespace

ShimServer::ShimServer(stack::engine::Engine& engine, std::uint32_t engine_index, OtherEvents other,
                       std::uint32_t unprivileged_port_start)
    : engine_(engine), e_(engine_index), unprivileged_port_start_(unprivileged_port_start),
      other_(std::move(other)), events_(kEventBatch),
      scratch_(kScratch), commands_(kCommandBurst) {}

ShimServer::~ShimServer() = default;

ShimServer::RegionState* ShimServer::region_state(const std::shared_ptr<Region>& region) {
  for (auto& r : regions_) {
    if (r->region == region) return r.get();
  }
  auto r = std::make_unique<RegionState>();
  r->region = region;
  r->g = region->geometry();
  r->commands.resize(r->g.channels);
  r->replies.resize(r->g.channels);
  r->events.resize(r->g.channels);
  r->slots.resize(r->g.sockets);
  for (std::uint32_t s = r->g.sockets; s-- > 0;) {
    if (s % r->g.engines == e_) r->free.push_back(s);
  }
  regions_.push_back(std::move(r));
  return regions_.back().get();
}

// --- control thread messages ---

void ShimServer::deliver(const EngineMsg& msg, Instant now) {
  if (msg.kind == EngineMsg::Kind::kFamilyOver) {
    // Usually this engine has forgotten the region already: no view to make for it.
    for (auto& r : regions_) {
      if (r->region == msg.region) family_over(*r, now);
    }
    return;
  }
  RegionState& r = *region_state(msg.region);
  const shim::RegionView& v = r.region->view();
  switch (msg.kind) {
    case EngineMsg::Kind::kChannelUp: {
      const std::uint32_t c = msg.channel;
      if (c >= r.g.channels) return;
      r.commands[c].emplace(v.command_ring(c, e_), r.g.command_capacity);
      r.replies[c].emplace(v.reply_ring(c, e_), r.g.reply_capacity);
      r.events[c].emplace(v.event_ring(c, e_), r.g.event_capacity);
      r.live |= bit(c);
      return;
    }
    case EngineMsg::Kind::kPlaceholder:
    case EngineMsg::Kind::kRelease: {
      if (msg.slot >= r.g.sockets) return;
      Slot& s = r.slots[msg.slot];
      if (!s.used || s.generation != msg.generation) return;
      if (msg.kind == EngineMsg::Kind::kPlaceholder) {
        s.registered = true;
        s.pending_channel = kNoChannel;
      } else {
        release(r, msg.slot, now);
      }
      return;
    }
    case EngineMsg::Kind::kChannelGone:
      channel_gone(r, msg.channel, now);
      msg.region->channel_pending(msg.channel).fetch_sub(1);
      return;
    case EngineMsg::Kind::kFamilyOver:
      return;  // handled above
  }
}

// Every process of the family is gone and every placeholder's release came before this
// (one mailbox, in order), so a slot still used here is one nothing will ever release:
// a listener share a kListen made for a slot its owner never registered (an app may ask
// for any slot and generation). Releasing it frees its port and lets the region go.
void ShimServer::family_over(RegionState& r, Instant now) {
  for (std::uint32_t s = 0; s < r.g.sockets; ++s) {
    if (!r.slots[s].used || r.slots[s].released) continue;
    ++counters_.released_at_family_end;
    release(r, s, now);
  }
}

void ShimServer::channel_gone(RegionState& r, std::uint32_t c, Instant now) {
  if (c >= r.g.channels) return;
  ++counters_.channels_gone;
  // What the process queued before it died and needs no answer still happens: a kick
  // whose data is already in a stream (the process wrote, kicked and exited at once:
  // its socket lives on in another process, whose writes would otherwise wait for a
  // kick flag nobody clears), a close, an option.
  if (r.commands[c] && (r.live & bit(c))) {
    for (std::size_t n; (n = r.commands[c]->pop_burst(commands_)) > 0;) {
      for (std::size_t i = 0; i < n; ++i) {
        const shim::Command& cmd = commands_[i];
        const bool no_reply = cmd.op == shim::Op::kKick || cmd.op == shim::Op::kClose ||
                              cmd.op == shim::Op::kSendMore || cmd.op == shim::Op::kRecordEnd ||
                              (cmd.op == shim::Op::kSetOption && (cmd.flags & shim::kNoReply));
        if (no_reply) execute(r, c, cmd, now);
      }
    }
  }
  r.live &= ~bit(c);
  r.commands[c].reset();
  r.replies[c].reset();
  r.events[c].reset();
  for (std::uint32_t s = 0; s < r.g.sockets; ++s) {
    Slot& slot = r.slots[s];
    if (!slot.used) continue;
    if (slot.watchers & bit(c)) {
      // The process may have died between raising the kick flag and queueing the
      // kick: clear it and move what is in the streams, so the socket's other users
      // are not left waiting on a kick that never comes.
      r.region->view().socket(s).kick.store(0, std::memory_order_seq_cst);
      transfer(r, s, now);
    }
    slot.watchers &= ~bit(c);
    // A slot handed to this process and never registered: nobody else can name it.
    if (!slot.registered && slot.pending_channel == c) {
      ++counters_.released_by_death;
      release(r, s, now);
    }
  }
  // With its last process gone and its sockets closed, forget_finished_regions()
  // drops the region from this engine.
}

// --- the round ---

std::size_t ShimServer::run(Instant now, Mailbox& mail) {
  work_ = 0;
  std::vector<Barrier> due;
  due.swap(barriers_);
  for (const EngineMsg& msg : mail.take()) {
    deliver(msg, now);
    ++work_;
  }
  answer_barriers(due);
  for (auto& r : regions_) {
    std::uint64_t live = r->live;
    while (live != 0) {
      const auto c = static_cast<std::uint32_t>(__builtin_ctzll(live));
      live &= live - 1;
      serve_channel(*r, c, now);
    }
  }
  for (;;) {
    const std::size_t n = engine_.drain_events(events_);
    for (std::size_t i = 0; i < n; ++i) on_engine_event(events_[i], now);
    work_ += n;
    if (n < events_.size()) break;
  }
  for (auto& r : regions_) {
    publish_events(*r);
    wake_apps(*r);
  }
  forget_finished_regions();
  return work_;
}

// A family with no process left and no socket still closing here is over for this
// engine: its view goes, and with the last view the region's memory.
void ShimServer::forget_finished_regions() {
  std::erase_if(regions_, [](const std::unique_ptr<RegionState>& r) {
    return r->live == 0 && r->used == 0 && r->dirty.empty();
  });
}

void ShimServer::serve_channel(RegionState& r, std::uint32_t c, Instant now) {
  auto& ring = r.commands[c];
  if (!ring) return;
  // commands_ is reused: a local array of Commands (64 B each, with default member
  // initializers) was zeroed for every live channel on every round.
  const std::size_t n = ring->pop_burst(commands_);
  if (ring->poisoned()) {
    // The app broke its own channel; it is detached here (its process keeps its
    // control socket, whose death will clean up the rest).
    ++counters_.poisoned_channels;
    r.live &= ~bit(c);
    return;
  }
  for (std::size_t i = 0; i < n; ++i) execute(r, c, commands_[i], now);
  work_ += n;
}

std::optional<std::uint32_t> ShimServer::open_slot(RegionState& r, std::uint32_t c, SocketId id) {
  if (r.free.empty()) return std::nullopt;
  const std::uint32_t s = r.free.back();
  r.free.pop_back();
  Slot& slot = r.slots[s];
  const shim::RegionView& v = r.region->view();
  shim::SocketBlock& block = v.socket(s);
  // The generation is the daemon's own count: whatever the app wrote into the block
  // does not matter.
  std::uint32_t generation = slot.generation + 1;
  if (generation == 0) generation = 1;
  slot = Slot{};
  ++r.used;
  slot.used = true;
  slot.owner = true;
  slot.pending_channel = c;
  slot.watchers = bit(c);
  slot.id = id;
  slot.generation = generation;
  shim::ByteStream::init(v.tx_stream(s), r.g.stream_capacity);
  shim::ByteStream::init(v.rx_stream(s), r.g.stream_capacity);
  slot.tx.emplace(v.tx_stream(s), r.g.stream_capacity);
  slot.rx.emplace(v.rx_stream(s), r.g.stream_capacity);
  block.state.store(0, std::memory_order_relaxed);
  block.error.store(0, std::memory_order_relaxed);
  block.acceptable.store(0, std::memory_order_relaxed);
  block.rx_blocked.store(0, std::memory_order_relaxed);
  block.kick.store(0, std::memory_order_relaxed);
  block.generation.store(slot.generation, std::memory_order_release);
  by_socket_[id.raw()] = {&r, s};
  ++counters_.sockets_opened;
  ++counters_.open_slots;
  return s;
}

void ShimServer::reply(RegionState& r, std::uint32_t c, const shim::Reply& rep) {
  if (r.replies[c] && r.replies[c]->push(rep)) {
    r.to_wake |= bit(c);
  }
  // A full reply ring means the app queued more requests than it may have in flight:
  // its own bug, and the reply is lost to it.
}

// --- engine events and the streams ---

void ShimServer::on_engine_event(const stack::engine::SocketEvent& ev, Instant now) {
  const auto it = by_socket_.find(ev.id.raw());
  if (it == by_socket_.end()) {
    if (other_) other_(ev);
    return;
  }
  RegionState& r = *it->second.first;
  const std::uint32_t s = it->second.second;
  Slot& slot = r.slots[s];
  shim::SocketBlock& b = r.region->view().socket(s);
  if (slot.listener) {
    if (ev.mask & events::kReadable) {
      b.acceptable.fetch_or(bit(e_), std::memory_order_release);
      mark(r, s);
    }
    return;
  }
  if (ev.mask & events::kConnected) {
    b.state.fetch_or(st::kConnected, std::memory_order_relaxed);
    b.state.fetch_and(~st::kConnecting, std::memory_order_release);
  }
  if (ev.mask & events::kError) {
    auto err = engine_.take_error(slot.id);
    if (err && *err != 0) note_error(r, s, *err);
  }
  if (ev.mask & events::kHangup) b.state.fetch_or(st::kHangup, std::memory_order_release);
  transfer(r, s, now);
  mark(r, s);
}

void ShimServer::note_error(RegionState& r, std::uint32_t s, int err) {
  shim::SocketBlock& b = r.region->view().socket(s);
  r.slots[s].so_error = err;
  b.error.store(err, std::memory_order_relaxed);
  b.state.fetch_and(~st::kConnecting, std::memory_order_relaxed);
  b.state.fetch_or(st::kError | st::kTxShut, std::memory_order_release);
}

void ShimServer::transfer(RegionState& r, std::uint32_t s, Instant now) {
  pump_tx(r, s, now);
  pump_rx(r, s, now);
  const Slot& slot = r.slots[s];
  if (slot.used && !slot.listener) {
    r.region->view().socket(s).notsent.store(engine_.unsent_bytes(slot.id), std::memory_order_relaxed);
  }
  maybe_finish_close(r, s, now);
}

std::uint32_t ShimServer::next_record_end(Slot& slot) {
  auto& ends = slot.record_ends;
  while (!ends.empty()) {
    // App-written: an end behind the read position, or further than a stream can
    // hold, is no record end we can honour.
    const std::uint32_t ahead = ends.front() - slot.tx->consumed();
    if (ahead != 0 && ahead <= slot.tx->capacity()) return ahead;
    ends.erase(ends.begin());
  }
  return 0;
}

void ShimServer::pump_tx(RegionState& r, std::uint32_t s, Instant now) {
  Slot& slot = r.slots[s];
  if (!slot.used || slot.listener || !slot.tx) return;
  shim::ByteStream& tx = *slot.tx;
  bool moved = false;
  for (;;) {
    const std::uint32_t to_end = next_record_end(slot);
    std::size_t n = tx.peek(std::as_writable_bytes(std::span(scratch_)));
    if (n == 0) break;
    const bool eor = to_end != 0 && to_end <= n;
    if (eor) n = to_end;  // the record's last byte ends this send: MSG_EOR reaches the engine
    auto sent = engine_.send(slot.id, std::span(scratch_.data(), n),
                             {.peek = false, .more = slot.more, .eor = eor}, now);
    slot.tx_refused = !sent && sent.err() != EAGAIN;
    if (!sent) {
      if (sent.err() == EPIPE) {
        // The connection sends no more (closed or shut down): writes fail with EPIPE,
        // but that is no error of the connection; reads still see its FIN or data.
        r.region->view().socket(s).state.fetch_or(st::kTxShut, std::memory_order_release);
      } else if (sent.err() != EAGAIN) {
        note_error(r, s, sent.err());  // the reset or timeout, reported once
      }
      break;
    }
    // The engine's unsent count goes up before tx goes down: an app checking
    // TCP_NOTSENT_LOWAT in between counts these bytes twice, never zero times.
    r.region->view().socket(s).notsent.store(engine_.unsent_bytes(slot.id), std::memory_order_release);
    tx.consume(*sent);
    counters_.bytes_from_apps += *sent;
    moved = *sent > 0;
    if (*sent < n) break;
  }
  if (slot.shut_wr_pending && tx.readable() == 0) {
    slot.shut_wr_pending = false;
    (void)engine_.shutdown(slot.id, stack::engine::ShutdownHow::kWrite, now);
  }
  if (moved) mark(r, s);  // room in tx: a writer may be waiting
}

void ShimServer::pump_rx(RegionState& r, std::uint32_t s, Instant now) {
  Slot& slot = r.slots[s];
  if (!slot.used || slot.listener || !slot.rx) return;
  shim::ByteStream& rx = *slot.rx;
  shim::SocketBlock& b = r.region->view().socket(s);
  for (;;) {
    const std::uint32_t room = rx.writable();
    if (room == 0) {
      // Ask for a kick when the app makes room: the engine holds on to the rest (and
      // its receive window closes, which is the flow control the peer should see).
      b.rx_blocked.store(1, std::memory_order_seq_cst);
      if (rx.writable() == 0) return;
      continue;
    }
    auto got = engine_.recv(slot.id, std::span(scratch_.data(), std::min<std::size_t>(room, scratch_.size())),
                            {}, now);
    if (!got) {
      if (got.err() != EAGAIN && got.err() != ENOTCONN) note_error(r, s, got.err());
      return;
    }
    if (*got == 0) {
      // The end of the stream: the peer's FIN, unless the connection failed (after a
      // reset the engine reads as closed, which is no FIN; apps must see the error).
      if (!(b.state.load(std::memory_order_relaxed) & st::kError)) {
        b.state.fetch_or(st::kRxEof, std::memory_order_release);
      }
      return;
    }
    rx.write(std::as_bytes(std::span(scratch_.data(), *got)));
    counters_.bytes_to_apps += *got;
    mark(r, s);
  }
}

void ShimServer::mark(RegionState& r, std::uint32_t s) {
  Slot& slot = r.slots[s];
  if (!slot.dirty) {
    slot.dirty = true;
    r.dirty.push_back(s);
  }
}

// --- closing ---

void ShimServer::release(RegionState& r, std::uint32_t s, Instant now) {
  Slot& slot = r.slots[s];
  if (!slot.used || slot.released) return;
  slot.released = true;
  slot.watchers = 0;
  if (slot.listener || !slot.owner) {
    (void)engine_.close(slot.id, now);
    free_slot(r, s);
    return;
  }
  // Linux's tcp_close: unread data means the app lost bytes the peer thinks were
  // delivered, so the peer gets RST instead of FIN.
  if (slot.rx && slot.rx->writable() < r.g.stream_capacity) {
    (void)engine_.abort(slot.id, now);
    free_slot(r, s);
    return;
  }
  pump_tx(r, s, now);
  maybe_finish_close(r, s, now);
}

void ShimServer::maybe_finish_close(RegionState& r, std::uint32_t s, Instant now) {
  Slot& slot = r.slots[s];
  if (!slot.used || !slot.released) return;
  // What the app queued before closing goes out first, unless the connection failed.
  const shim::SocketBlock& b = r.region->view().socket(s);
  // What the engine refused (a socket that never connected, data after SHUT_WR, a failed
  // connection) will never go: waiting for it would keep the slot, its engine socket and
  // the region forever. The daemon's own record decides, not the app-writable state.
  const bool failed = (b.state.load(std::memory_order_relaxed) & st::kError) != 0;
  if (!failed && !slot.tx_refused && slot.tx && slot.tx->readable() > 0) return;
  (void)engine_.close(slot.id, now);
  free_slot(r, s);
}

void ShimServer::free_slot(RegionState& r, std::uint32_t s) {
  Slot& slot = r.slots[s];
  by_socket_.erase(slot.id.raw());
  const bool owner = slot.owner;
  // Views an app may still hold (an fd it kept while the last reference went) see
  // the generation change. The next owner counts on from here.
  const std::uint32_t generation = slot.generation + 1;
  if (owner) {
    shim::SocketBlock& b = r.region->view().socket(s);
    b.generation.store(generation, std::memory_order_release);
    b.state.store(0, std::memory_order_release);
  }
  slot = Slot{};
  slot.generation = generation;
  --r.used;
  if (owner) {
    r.free.push_back(s);
    ++counters_.sockets_released;
    --counters_.open_slots;
  }
}

// --- publishing ---

void ShimServer::publish_events(RegionState& r) {
  // Orders this round's state stores before the event_overflow loads below: an app
  // that clears the flag and then rescans must see them, or get an event.
  if (!r.dirty.empty()) std::atomic_thread_fence(std::memory_order_seq_cst);
  for (const std::uint32_t s : r.dirty) {
    Slot& slot = r.slots[s];
    slot.dirty = false;
    std::uint64_t w = slot.watchers & r.live;
    while (w != 0) {
      const auto c = static_cast<std::uint32_t>(__builtin_ctzll(w));
      w &= w - 1;
      auto& ring = r.events[c];
      if (!ring) continue;
      auto& overflow = r.region->view().channel(c).event_overflow;
      if (overflow.load(std::memory_order_relaxed) != 0) {
        // Already told to rescan all its sockets: no event is needed until it has (a
        // process that never waits, such as nginx's master, stays in this state).
        r.to_wake |= bit(c);
        continue;
      }
      if (!ring->push({s, slot.generation})) {
        // The app falls behind: it rescans all its sockets instead.
        overflow.store(1, std::memory_order_release);
        ++counters_.event_overflows;
      }
      ++counters_.events;
      r.to_wake |= bit(c);
    }
  }
  r.dirty.clear();
}

void ShimServer::wake_apps(RegionState& r) {
  std::uint64_t w = r.to_wake & r.live;
  r.to_wake = 0;
  while (w != 0) {
    const auto c = static_cast<std::uint32_t>(__builtin_ctzll(w));
    w &= w - 1;
    if (!shim::needs_wakeup(r.region->view().channel(c).app_asleep)) continue;
    const int fd = r.region->wake_fd(c);
    if (fd < 0) continue;
    const std::uint64_t one = 1;
    [[maybe_unused]] const ssize_t n = ::write(fd, &one, sizeof one);
    ++counters_.app_wakeups;
  }
}

void ShimServer::answer_barriers(const std::vector<Barrier>& due) {
  for (const Barrier& b : due) {
    for (auto& r : regions_) {
      if (r->region.get() == b.region && (r->live & bit(b.channel))) reply(*r, b.channel, b.reply);
    }
  }
}

bool ShimServer::prepare_sleep() {
  if (!barriers_.empty()) return false;  // they are answered next round
  for (auto& r : regions_) shim::announce_sleep(r->region->view().engine_flag(e_));
  for (auto& r : regions_) {
    for (std::uint32_t c = 0; c < r->g.channels; ++c) {
      if (r->commands[c] && r->commands[c]->readable() > 0) {
        finish_sleep();
        return false;
      }
    }
  }
  return true;
}

void ShimServer::finish_sleep() {
  for (auto& r : regions_) shim::end_sleep(r->region->view().engine_flag(e_));
}

void ShimServer::abort_all(Instant now) {
  for (auto& r : regions_) {
    for (std::uint32_t s = 0; s < r->g.sockets; ++s) {
      Slot& slot = r->slots[s];
      if (!slot.used) continue;
      (void)engine_.abort(slot.id, now);
      note_error(*r, s, ENETDOWN);
      mark(*r, s);
    }
    publish_events(*r);
    r->to_wake = r->live;
    wake_apps(*r);
  }
}

}  // namespace utcp::daemon
