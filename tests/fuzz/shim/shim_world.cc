// ShimWorld (read shim_world.h): the attacker's operations, the victim, the checks.
// The control thread's part (kChannelUp after reset_channel, kChannelGone with
// channel_pending set, kPlaceholder, kRelease) is played here as control_server.cc
// does it; everything an app process can do is open to the fuzz program.
#include "tests/fuzz/shim/shim_world.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/eventfd.h>
#include <sys/socket.h>

#include <cstring>

#include "tests/fuzz/shim/program.h"
#include "tests/fuzz/support/check.h"

namespace utcp::fuzz {
namespace {

namespace prog = shim_program;
using daemon::EngineMsg;
using stack::wire::Ipv4Addr;

constexpr std::uint16_t kVictimPort = 7000;
constexpr std::size_t kMaxKnown = 32;
constexpr std::size_t kMaxPending = 256;
constexpr std::size_t kMaxClients = 4;

constexpr std::int32_t kLevels[] = {0, 1, 2, SOL_SOCKET, IPPROTO_TCP, 3, -1};
constexpr std::int32_t kNames[] = {0, 1, SO_REUSEADDR, SO_KEEPALIVE, SO_LINGER, SO_RCVBUF,
                                   SO_SNDBUF, SO_ERROR, TCP_NODELAY, TCP_CORK, TCP_KEEPIDLE,
                                   TCP_KEEPINTVL, TCP_KEEPCNT, TCP_MAXSEG, 12345};
constexpr std::uint16_t kPorts[] = {7001, 7002, 0, 80, kVictimPort, 65535};

shim::Geometry geometry(std::uint8_t cfg) {
  namespace c = prog::config;
  shim::Geometry g;
  g.engines = (cfg & c::kTwoEngines) ? 2 : 1;
  g.channels = (cfg & c::kFourChannels) ? 4 : 2;
  g.sockets = ((cfg & c::kFewSockets) ? 4 : 8) * g.engines;
  g.command_capacity = g.reply_capacity = (cfg & c::kSmallRings) ? 4 : 16;
  g.event_capacity = (cfg & c::kSmallRings) ? 8 : 64;
  g.stream_capacity = (cfg & c::kTinyStreams) ? 64 : 4096;
  return g;
}

// A 32-bit index store: the value, a small step, past the capacity, or one back.
void store_index(std::atomic<std::uint32_t>& x, std::uint8_t mode, std::uint32_t value,
                 std::uint32_t capacity) {
  const std::uint32_t cur = x.load(std::memory_order_relaxed);
  switch (mode % 4) {
    case 0: x.store(value); break;
    case 1: x.store(cur + static_cast<std::uint32_t>(static_cast<std::int8_t>(value))); break;
    case 2: x.store(cur + capacity + 1); break;
    default: x.store(cur - 1); break;
  }
}

// Engine B's counters when the rig gives access to it (shim_rig.h may grow a b()).
template <class R>
const stack::engine::EngineCounters* counters_of_b(R& rig) {
  if constexpr (requires { rig.b(); }) {
    return &rig.b().counters();
  } else {
    return nullptr;
  }
}

}  // namespace

ShimWorld::ShimWorld(std::uint8_t config) : g_(geometry(config)), rig_(g_) {
  apps_.resize(g_.channels);
  for (std::uint32_t c = 0; c < g_.channels; ++c) channel_up(c);
  // A sleeping process 0 gets woken through a real eventfd (the region closes it).
  rig_.region().set_wake_fd(0, ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC));
  start_victim();
}

ShimWorld::~ShimWorld() = default;

// --- the control thread's part ---

void ShimWorld::channel_up(std::uint32_t c) {
  if (apps_[c] || rig_.region().channel_pending(c).load() != 0) return;
  rig_.view().reset_channel(c);
  rig_.channel_up(c);
  apps_[c].emplace(rig_.region(), c);
}

void ShimWorld::channel_gone(std::uint32_t c) {
  if (!apps_[c]) return;
  rig_.region().channel_pending(c).store(1);
  rig_.mail(EngineMsg::Kind::kChannelGone, c);
  rig_.round();
  apps_[c].reset();
  std::erase_if(pending_, [&](const auto& p) { return p.second.channel == c; });
}

void ShimWorld::mail(ByteReader& in) {
  const std::uint8_t kind = in.u8(), chan = in.u8(), slot_sel = in.u8(), gen_sel = in.u8();
  const std::uint32_t c = chan % g_.channels;
  const Sock s = resolve(slot_sel, gen_sel);
  switch (kind % 5) {
    case 0:
      rig_.mail(EngineMsg::Kind::kPlaceholder, c, s);
      registered_.insert({s.slot, s.generation});
      return;
    case 1:
      rig_.mail(EngineMsg::Kind::kRelease, c, s);
      registered_.erase({s.slot, s.generation});
      return;
    case 2:  // the process dies and another one takes its channel
      channel_gone(c);
      channel_up(c);
      return;
    case 3: channel_gone(c); return;
    default: channel_up(c); return;
  }
}

// --- the attacker's process ---

Sock ShimWorld::resolve(std::uint8_t slot_sel, std::uint8_t gen_sel) const {
  Sock s{slot_sel & 0x3fu, 1};
  if (slot_sel < 0xc0 && !known_.empty()) s = known_[slot_sel % known_.size()];
  switch (gen_sel % 8) {
    case 4: ++s.generation; break;
    case 5: s.generation = 0; break;
    case 6: --s.generation; break;
    case 7: s.generation = 0xffffffffu; break;
    default: break;
  }
  return s;
}

App* ShimWorld::any_app(std::uint8_t sel) {
  for (std::uint32_t i = 0; i < g_.channels; ++i) {
    auto& app = apps_[(sel + i) % g_.channels];
    if (app) return &*app;
  }
  return nullptr;
}

void ShimWorld::post(ByteReader& in) {
  const std::uint8_t chan = in.u8(), op = in.u8(), slot_sel = in.u8(), gen_sel = in.u8();
  const std::uint8_t a = in.u8(), b = in.u8(), ip = in.u8(), port = in.u8();
  const std::uint16_t value = in.u16();
  const std::uint8_t flags = in.u8();
  auto& app = apps_[chan % g_.channels];
  if (!app) return;
  const Ipv4Addr ips[] = {daemon::test::kIpB, daemon::test::kIpA, Ipv4Addr{},
                          Ipv4Addr::from_octets(10, 1, 2, 3), Ipv4Addr::from_octets(198, 18, 0, 255),
                          Ipv4Addr::from_octets(127, 0, 0, 1)};
  shim::Command cmd;
  cmd.tag = next_tag_++;
  cmd.op = static_cast<shim::Op>(op % 16);
  cmd.flags = flags & shim::kNoReply;
  const Sock s = resolve(slot_sel, gen_sel);
  cmd.slot = s.slot;
  cmd.generation = s.generation;
  cmd.a = a < 0xf0 ? kLevels[a % std::size(kLevels)] : static_cast<std::int8_t>(a);
  cmd.b = b < 0xf0 ? kNames[b % std::size(kNames)] : static_cast<std::int8_t>(b);
  cmd.ip = ips[ip % std::size(ips)].value;
  cmd.port = kPorts[port % std::size(kPorts)];
  cmd.value = static_cast<std::int16_t>(value);
  cmd.value2 = flags >> 1;
  app->post(cmd);  // RigGaveUp when the ring is full or poisoned: the process's own problem
  if (pending_.size() >= kMaxPending) pending_.erase(pending_.begin());
  pending_[cmd.tag] = Pending{chan % g_.channels, cmd.op};
}

void ShimWorld::raw_command(ByteReader& in) {
  const std::uint32_t c = in.u8() % g_.channels;
  const std::uint8_t mode = in.u8();
  const auto bytes = in.bytes(24);
  if (!apps_[c]) return;
  auto* ctl = static_cast<shim::RingControl*>(rig_.view().command_ring(c, 0));
  const std::uint32_t head = ctl->head.value.load(std::memory_order_relaxed);
  shim::Command cmd;
  std::memcpy(&cmd, bytes.data(), bytes.size());
  std::byte* slot = reinterpret_cast<std::byte*>(ctl) + sizeof(shim::RingControl) +
                    std::size_t{head & (g_.command_capacity - 1)} * sizeof(shim::Command);
  std::memcpy(slot, &cmd, sizeof cmd);
  std::uint32_t next = head + 1;
  switch (mode % 5) {
    case 1: next = head + g_.command_capacity + 1; break;  // claims more than the ring holds
    case 2: next = head - 1; break;                        // moves backwards
    case 3: next = head; break;                            // written, never published
    case 4: next = head + (mode >> 3); break;
    default: break;
  }
  ctl->head.value.store(next, std::memory_order_release);
}

void ShimWorld::scribble(ByteReader& in) {
  const std::uint8_t area = in.u8(), idx = in.u8(), mode = in.u8();
  const std::uint32_t value = in.u32();
  const shim::RegionView& v = rig_.view();
  const std::uint32_t c = idx % g_.channels, s = idx % g_.sockets;
  const std::uint32_t caps[] = {g_.command_capacity, g_.reply_capacity, g_.event_capacity};
  const auto ring = [&](std::uint32_t which) -> shim::RingControl* {
    void* r = which == 0 ? v.command_ring(c, 0) : which == 1 ? v.reply_ring(c, 0) : v.event_ring(c, 0);
    return static_cast<shim::RingControl*>(r);
  };
  switch (area % 15) {
    case 0: case 1: case 2: case 3: case 4: case 5: {
      shim::RingControl* r = ring(area / 2u % 3);
      store_index((area & 1) ? r->tail.value : r->head.value, mode, value, caps[area / 2u % 3]);
      return;
    }
    case 6: {
      shim::SocketBlock& b = v.socket(s);
      switch (mode % 6) {
        case 0: b.generation.store(value); break;
        case 1: b.state.store(value); break;
        case 2: b.error.store(static_cast<std::int32_t>(value)); break;
        case 3: b.acceptable.store(value); break;
        case 4: b.rx_blocked.store(value); break;
        default: b.kick.store(value); break;
      }
      return;
    }
    case 7: case 8: case 9: case 10: {
      auto* r = static_cast<shim::RingControl*>(area < 9 ? v.tx_stream(s) : v.rx_stream(s));
      store_index((area % 2 == 0) ? r->tail.value : r->head.value, mode, value, g_.stream_capacity);
      return;
    }
    case 11:
      if (mode & 1) {
        v.channel(c).event_overflow.store(value);
      } else {
        v.channel(c).app_asleep.asleep.store(value);
      }
      return;
    case 12: v.engine_flag(idx % g_.engines).asleep.store(value); return;
    case 13: {
      // Anywhere in the region: header, flags, any channel's rings, any slot.
      const std::size_t total = v.layout().total_bytes();
      const std::size_t at = ((std::size_t{idx} * 256 + mode) * 64 + (value & 60)) % total & ~std::size_t{3};
      std::memcpy(static_cast<std::byte*>(static_cast<void*>(&v.header())) + at, &value, sizeof value);
      return;
    }
    default: {
      auto* data = static_cast<std::byte*>(v.tx_stream(s)) + sizeof(shim::RingControl);
      std::memcpy(data + (std::size_t{mode} * 16) % (g_.stream_capacity - 3), &value, sizeof value);
      return;
    }
  }
}

void ShimWorld::client(ByteReader& in) {
  const std::uint8_t action = in.u8(), port = in.u8(), len = in.u8();
  stack::engine::Engine& a = rig_.a();
  const stack::Instant now = rig_.now();
  if (action % 5 == 0) {
    if (clients_.size() >= kMaxClients) {
      (void)a.close(clients_.front(), now);
      clients_.erase(clients_.begin());
    }
    auto id = a.socket();
    if (!id) return;
    (void)a.connect(*id, {daemon::test::kIpB, kPorts[port % std::size(kPorts)]}, now);
    clients_.push_back(*id);
    return;
  }
  if (clients_.empty()) return;
  const std::size_t i = port % clients_.size();
  switch (action % 5) {
    case 1: {
      const std::string data = daemon::test::pattern(std::size_t{len} * 32 + 1, len);
      (void)a.send(clients_[i], {reinterpret_cast<const std::uint8_t*>(data.data()), data.size()}, {},
                   now);
      return;
    }
    case 2: {
      std::string got;
      bool eof = false;
      int err = 0;
      rig_.drain_a(clients_[i], &got, &eof, &err);
      return;
    }
    case 3: (void)a.close(clients_[i], now); break;
    default: (void)a.abort(clients_[i], now); break;
  }
  clients_.erase(clients_.begin() + static_cast<std::ptrdiff_t>(i));
}

void ShimWorld::collect(std::uint32_t c) {
  if (!apps_[c]) return;
  App& app = *apps_[c];
  for (auto it = pending_.begin(); it != pending_.end();) {
    if (it->second.channel != c) {
      ++it;
      continue;
    }
    const std::optional<shim::Reply> r = app.reply(it->first);
    if (!r) {
      ++it;
      continue;
    }
    if (r->result == 0 && (it->second.op == shim::Op::kSocket || it->second.op == shim::Op::kAccept)) {
      const Sock s = it->second.op == shim::Op::kSocket
                         ? Sock{r->slot, r->generation}
                         : Sock{static_cast<std::uint32_t>(r->value), static_cast<std::uint32_t>(r->value2)};
      if (known_.size() >= kMaxKnown) known_.erase(known_.begin());
      known_.push_back(s);
    }
    it = pending_.erase(it);
  }
  (void)app.events();
}

void ShimWorld::collect_all() {
  for (std::uint32_t c = 0; c < g_.channels; ++c) collect(c);
}

void ShimWorld::execute(std::uint8_t op_byte, ByteReader& in) {
  const auto op = static_cast<prog::Op>(op_byte % static_cast<std::uint8_t>(prog::Op::kCount));
  try {
    switch (op) {
      case prog::Op::kPost: post(in); return;
      case prog::Op::kRawCmd: raw_command(in); return;
      case prog::Op::kScribble: scribble(in); return;
      case prog::Op::kWrite: case prog::Op::kRead: {
        const std::uint8_t slot_sel = in.u8(), len = in.u8();
        App* app = any_app(slot_sel);
        Sock s = resolve(slot_sel, 0);
        s.slot %= g_.sockets;  // the app side's own views stay inside the region
        if (app == nullptr) return;
        if (op == prog::Op::kWrite) {
          (void)app->write(s, daemon::test::pattern(std::size_t{len} * 8 + 1, slot_sel));
        } else {
          std::string got;
          (void)app->read(s, &got, std::size_t{len} * 8 + 1);
        }
        return;
      }
      case prog::Op::kKick: {
        auto& app = apps_[in.u8() % g_.channels];
        Sock s = resolve(in.u8(), 0);
        s.slot %= g_.sockets;
        if (app) app->kick(s);
        return;
      }
      case prog::Op::kMail: mail(in); return;
      case prog::Op::kClient: client(in); return;
      case prog::Op::kStep:
        (void)rig_.run_until([] { return false; }, 1 + in.u8() % 32);
        collect_all();
        return;
      case prog::Op::kSettle:
        rig_.settle(1 + in.u8() % 8);
        collect_all();
        return;
      case prog::Op::kSleep:
        (void)in.u8();
        if (rig_.shim().prepare_sleep()) rig_.shim().finish_sleep();
        return;
      case prog::Op::kVictim: (void)in.u8(); check_victim(); return;
      case prog::Op::kCollect: collect(in.u8() % g_.channels); return;
      case prog::Op::kCount: return;
    }
  } catch (const RigGaveUp&) {
    // The well-behaved app code could not do its part (a ring full or poisoned by the
    // program itself): nothing happened.
  }
}

// --- the victim ---

void ShimWorld::start_victim() {
  std::string error;
  victim_.region = daemon::Region::create(daemon::test::small_geometry(), 2, &error);
  FUZZ_CHECK(victim_.region != nullptr, "victim region: %s\n", error.c_str());
  rig_.shim().deliver({EngineMsg::Kind::kChannelUp, victim_.region, 0, 0, 0}, rig_.now());
  victim_.app.emplace(*victim_.region, 0);
  try {
    victim_.listener = rig_.listener(*victim_.app, kVictimPort);
    victim_.client = rig_.connect_from_a(kVictimPort);
    victim_.child = rig_.accept(*victim_.app, victim_.listener, victim_.client);
  } catch (const RigGaveUp& e) {
    FUZZ_CHECK(false, "victim setup failed: %s\n", e.what());
  }
  check_victim();
}

// A round trip on the victim's connection: both directions carry their bytes intact.
void ShimWorld::check_victim() {
  try {
    round_trip_victim();
  } catch (const RigGaveUp& e) {
    FUZZ_CHECK(false, "the victim's own calls failed: %s\n", e.what());
  }
}

void ShimWorld::round_trip_victim() {
  App& app = *victim_.app;
  ++victim_.round;
  (void)app.events();
  const std::string out = daemon::test::pattern(100 + victim_.round * 37 % 900, victim_.round);
  const auto sent = rig_.a().send(victim_.client,
                                  {reinterpret_cast<const std::uint8_t*>(out.data()), out.size()}, {},
                                  rig_.now());
  FUZZ_CHECK(sent.ok() && *sent == out.size(), "victim's peer cannot send: errno %d\n", sent.err());
  std::string got;
  bool ok = rig_.run_until([&] {
    (void)app.read(victim_.child, &got, 4096);
    return got.size() >= out.size();
  }, 20'000);
  FUZZ_CHECK(ok && got == out, "victim received %zu of %zu bytes (%s)\n", got.size(), out.size(),
             ok ? "wrong bytes" : "stalled");
  const std::string back = daemon::test::pattern(50 + victim_.round * 53 % 700, ~victim_.round);
  FUZZ_CHECK(app.write(victim_.child, back) == back.size(), "victim's tx stream is not empty\n");
  std::string at_a;
  bool eof = false;
  int err = 0;
  ok = rig_.run_until([&] {
    rig_.drain_a(victim_.client, &at_a, &eof, &err);
    return at_a.size() >= back.size() || eof || err != 0;
  }, 20'000);
  FUZZ_CHECK(ok && at_a == back && !eof && err == 0, "victim's peer got %zu of %zu bytes, eof %d, errno %d\n",
             at_a.size(), back.size(), eof, err);
}

void ShimWorld::check() {
  const daemon::ShimCounters& c = rig_.shim().counters();
  FUZZ_CHECK(c.open_slots == c.sockets_opened - c.sockets_released,
             "open_slots %llu, opened %llu, released %llu\n", static_cast<unsigned long long>(c.open_slots),
             static_cast<unsigned long long>(c.sockets_opened),
             static_cast<unsigned long long>(c.sockets_released));
  FUZZ_CHECK(rig_.shim().open_slots() >= c.open_slots, "%zu engine sockets for %llu slots\n",
             rig_.shim().open_slots(), static_cast<unsigned long long>(c.open_slots));
  // Nothing the attacker does reaches the victim's region.
  App& app = *victim_.app;
  FUZZ_CHECK(app.block(victim_.listener).generation.load() == victim_.listener.generation &&
                 app.block(victim_.child).generation.load() == victim_.child.generation,
             "the victim's socket blocks changed generation\n");
  FUZZ_CHECK((app.block(victim_.child).state.load() & shim::state::kError) == 0,
             "the victim's connection failed: errno %d\n", app.block(victim_.child).error.load());
  if (const auto* b = counters_of_b(rig_)) {
    FUZZ_CHECK(b->sockets >= rig_.shim().open_slots(), "engine B has %llu sockets for %zu slots\n",
               static_cast<unsigned long long>(b->sockets), rig_.shim().open_slots());
  }
}

void ShimWorld::finish() {
  check_victim();
  // Every process exits: the control thread releases each registered placeholder and
  // reports each channel gone; the victim's process exits too.
  for (const auto& [slot, generation] : registered_) {
    rig_.mail(EngineMsg::Kind::kRelease, 0, Sock{slot, generation});
  }
  for (std::uint32_t c = 0; c < g_.channels; ++c) channel_gone(c);
  // With no process and no placeholder left the control thread ends the family; that
  // releases whatever the attacker made nobody else can name (listener shares asked
  // for slots and generations no owner registered).
  rig_.mail(EngineMsg::Kind::kFamilyOver, 0);
  victim_.region->channel_pending(0).store(1);
  rig_.shim().deliver({EngineMsg::Kind::kChannelGone, victim_.region, 0, 0, 0}, rig_.now());
  for (const auto id : clients_) (void)rig_.a().close(id, rig_.now());
  (void)rig_.a().close(victim_.client, rig_.now());
  // Every slot an engine handed out goes back, every share too, every connection closes.
  const auto released = [&] {
    const auto* b = counters_of_b(rig_);
    return rig_.shim().counters().open_slots == 0 && rig_.shim().open_slots() == 0 &&
           rig_.a().counters().sockets == 0 && (b == nullptr || b->sockets == 0);
  };
  (void)rig_.run_until(released, 50'000);
  const auto* b = counters_of_b(rig_);
  FUZZ_CHECK(released(),
             "after every process left: %llu slots open, %zu engine sockets held by the shim, "
             "engine A %llu sockets, engine B %lld sockets\n",
             static_cast<unsigned long long>(rig_.shim().counters().open_slots), rig_.shim().open_slots(),
             static_cast<unsigned long long>(rig_.a().counters().sockets),
             b ? static_cast<long long>(b->sockets) : -1LL);
}

}  // namespace utcp::fuzz
