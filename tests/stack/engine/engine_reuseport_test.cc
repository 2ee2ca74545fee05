// SO_REUSEPORT on one local address, as Linux runs it: bind() shares a port only when
// every holder set it, listeners form a group, and each new flow goes to the member its
// four-tuple selects, the same one for its retransmitted SYN and its cookie ACK.
// Closing a member leaves the rest serving; its queued children are reset as before.
#include <catch2/catch.hpp>
#include <cerrno>
#include <map>
#include <set>
#include <vector>

#include "stack/engine/port_table.h"
#include "stack/engine/support/frames.h"
#include "stack/engine/support/sim.h"

namespace utcp::stack::engine::test {
namespace {

namespace ev = tcp::events;
namespace flags = wire::tcp_flags;

constexpr std::uint16_t kPort = 80;

SocketId must(Result<SocketId> r) {
  REQUIRE(r.ok());
  return *r;
}

// A socket with the given SO_REUSEADDR / SO_REUSEPORT, not bound yet.
SocketId socket_with(Engine& e, bool reuse_addr, bool reuse_port, Instant now) {
  const SocketId s = must(e.socket());
  SocketOptions o = e.options(s).value();
  o.reuse_addr = reuse_addr;
  o.reuse_port = reuse_port;
  REQUIRE(e.set_options(s, o, now) == 0);
  return s;
}

SocketId group_listener(Engine& e, Instant now) {
  const SocketId l = socket_with(e, false, true, now);
  REQUIRE(e.bind(l, {wire::Ipv4Addr{}, kPort}) == 0);
  REQUIRE(e.listen(l, 128) == 0);
  return l;
}

// --- two engines: A connects, B listens with a group ---

// Starts n connects from A to B:kPort and runs until every one has reported.
std::vector<SocketId> connect_many(Sim& sim, std::size_t n) {
  std::vector<SocketId> clients;
  for (std::size_t i = 0; i < n; ++i) {
    clients.push_back(must(sim.a().socket()));
    REQUIRE(sim.a().connect(clients.back(), {kIpB, kPort}, sim.now()) == EINPROGRESS);
  }
  const std::set<std::uint32_t> ours = [&] {
    std::set<std::uint32_t> ids;
    for (SocketId c : clients) ids.insert(c.index);
    return ids;
  }();
  std::set<std::uint32_t> reported;
  SocketEvent buf[64];
  REQUIRE(sim.run_until([&] {
    for (std::size_t k; (k = sim.a().drain_events(buf)) > 0;) {
      for (std::size_t i = 0; i < k; ++i) {
        // Earlier clients may still report (a reset, say); only these count.
        if (ours.contains(buf[i].id.index) && (buf[i].mask & (ev::kConnected | ev::kError)) != 0) {
          reported.insert(buf[i].id.index);
        }
      }
    }
    return reported.size() == n;
  }));
  return clients;
}

// Every child queued on the listener, by the client's endpoint.
std::vector<wire::Endpoint> accept_all(Engine& e, SocketId l) {
  std::vector<wire::Endpoint> peers;
  wire::Endpoint peer;
  for (Result<SocketId> s = e.accept(l, &peer); s.ok(); s = e.accept(l, &peer)) {
    peers.push_back(peer);
  }
  CHECK(e.accept(l, nullptr).err() == EAGAIN);
  return peers;
}

std::set<wire::Endpoint> names_of(Engine& e, const std::vector<SocketId>& clients) {
  std::set<wire::Endpoint> names;
  for (SocketId c : clients) names.insert(e.getsockname(c).value());
  return names;
}

// --- one engine driven by a raw neighbour ---

std::optional<wire::TcpRepr> raw_syn(RawPeer& p, std::uint16_t src_port, std::uint32_t isn) {
  wire::TcpRepr syn;
  syn.src_port = src_port;
  syn.dst_port = kPort;
  syn.seq = SeqNum(isn);
  syn.flags = flags::kSyn;
  syn.window = 65535;
  syn.options.mss = 1460;
  p.send_tcp(syn);
  for (const Frame& f : p.exchange()) {
    if (const auto t = as_tcp(f); t && t->tcp.flags == (flags::kSyn | flags::kAck)) return t->tcp;
  }
  return std::nullopt;
}

void raw_ack(RawPeer& p, const wire::TcpRepr& syn_ack, std::uint32_t isn) {
  wire::TcpRepr ack;
  ack.src_port = syn_ack.dst_port;
  ack.dst_port = kPort;
  ack.seq = SeqNum(isn + 1);
  ack.ack = syn_ack.seq + 1;
  ack.flags = flags::kAck;
  ack.window = 65535;
  p.send_tcp(ack);
  p.exchange();
}

// A full handshake from src_port; returns which of `listeners` accepted it. The
// connection is then reset by the peer and closed, so the tuple can be used again.
std::size_t handshake_lands_on(RawPeer& p, const std::vector<SocketId>& listeners,
                               std::uint16_t src_port, std::uint32_t isn) {
  Engine& e = p.engine();
  const std::optional<wire::TcpRepr> syn_ack = raw_syn(p, src_port, isn);
  REQUIRE(syn_ack);
  raw_ack(p, *syn_ack, isn);
  std::optional<std::size_t> which;
  for (std::size_t i = 0; i < listeners.size(); ++i) {
    wire::Endpoint peer;
    const Result<SocketId> s = e.accept(listeners[i], &peer);
    if (!s.ok()) continue;
    REQUIRE_FALSE(which);  // accepted exactly once
    CHECK(peer.port == src_port);
    which = i;
    wire::TcpRepr rst;
    rst.src_port = src_port;
    rst.dst_port = kPort;
    rst.seq = SeqNum(isn + 1);  // rcv_nxt exactly (RFC 5961 §3.2)
    rst.flags = flags::kRst;
    p.send_tcp(rst);
    p.exchange();
    REQUIRE(e.close(*s, p.now()) == 0);
  }
  REQUIRE(which);
  CHECK(e.counters().connections == 0);
  return *which;
}

}  // namespace

TEST_CASE("reuseport: port table: a holder without SO_REUSEPORT must pass SO_REUSEADDR's test",
          "[engine][reuseport][port_table]") {
  PortTable p;
  p.add(80, bind_ref(false, true));
  CHECK(p.can_bind(80, false, true));
  CHECK(p.can_bind(80, true, true));
  CHECK_FALSE(p.can_bind(80, false, false));
  CHECK_FALSE(p.can_bind(80, true, false));  // the holder did not set SO_REUSEADDR
  CHECK_FALSE(p.unused(80));                  // nor is it an ephemeral port
  CHECK_FALSE(p.connectable(80));

  // A plain connection left behind (TIME-WAIT) only lets SO_REUSEADDR through; a
  // group listener's child set SO_REUSEPORT and lets the group's sockets through.
  p.add(80, PortRef::kConnection);
  CHECK_FALSE(p.can_bind(80, false, true));
  CHECK(p.can_bind(80, true, true));
  p.remove(80, PortRef::kConnection);
  p.add(80, connection_ref(true));
  CHECK(p.can_bind(80, false, true));

  // Both options next to a plain SO_REUSEADDR bind: shared while nobody listens.
  p.add(81, bind_ref(true, false));
  CHECK(p.can_bind(81, true, true));
  CHECK_FALSE(p.can_bind(81, false, true));
  p.add(81, bind_ref(true, true));
  CHECK(p.can_bind(81, true, false));

  // Listeners: a group of two, picked by the hash's high bits.
  CHECK(p.can_listen(80, true));
  p.add_listener(80, 1, true);
  p.add_listener(80, 2, true);
  CHECK(p.has_group(80));
  CHECK_FALSE(p.can_listen(80, false));
  CHECK(p.can_listen(80, true));
  CHECK_FALSE(p.can_bind(80, true, false));
  CHECK(p.listener(80, 0) == 1u);
  CHECK(p.listener(80, 0xffffffffu) == 2u);
  p.remove_listener(80, 1);
  CHECK(p.listener(80, 0) == 2u);
  CHECK(p.listener(80, 0xffffffffu) == 2u);
  p.remove_listener(80, 2);
  CHECK_FALSE(p.has_group(80));
  CHECK(p.listener(80) == kNoIndex);

  p.remove(80, connection_ref(true));
  p.remove(80, bind_ref(false, true));
  p.remove(81, bind_ref(true, false));
  p.remove(81, bind_ref(true, true));
  CHECK(p.unused(80));
  CHECK(p.unused(81));
}

TEST_CASE("reuseport: port table: a group is one uid's (Linux's sk_uid)",
          "[engine][reuseport][port_table][uid]") {
  constexpr std::uint32_t kRoot = 0, kNobody = 65534;
  PortTable p;
  p.add(80, bind_ref(false, true), kRoot);
  CHECK(p.can_bind(80, false, true, kRoot));
  CHECK_FALSE(p.can_bind(80, false, true, kNobody));
  CHECK_FALSE(p.can_bind(80, true, true, kNobody));  // SO_REUSEADDR does not help either
  p.add_listener(80, 1, true);
  CHECK(p.can_listen(80, true, kRoot));
  CHECK_FALSE(p.can_listen(80, true, kNobody));
  // The uid belongs to the port's SO_REUSEPORT holders: once they are gone, another
  // uid may start a group of its own.
  p.remove_listener(80, 1);
  p.remove(80, bind_ref(false, true));
  CHECK(p.unused(80));
  p.add(80, bind_ref(false, true), kNobody);
  CHECK(p.can_bind(80, false, true, kNobody));
  CHECK_FALSE(p.can_bind(80, false, true, kRoot));
  p.remove(80, bind_ref(false, true));

  // SO_REUSEADDR alone never looks at uids (inet_bind_conflict has no uid test there).
  p.add(81, bind_ref(true, false), kRoot);
  CHECK(p.can_bind(81, true, false, kNobody));
  p.remove(81, bind_ref(true, false));
}

TEST_CASE("reuseport: a socket of another uid cannot join a group; the same uid can",
          "[engine][reuseport][uid]") {
  Sim sim;
  Engine& e = sim.b();
  const Instant now = sim.now();
  const auto with_uid = [&](std::uint32_t uid) {
    const SocketId s = socket_with(e, false, true, now);
    SocketOptions o = e.options(s).value();
    o.uid = uid;
    REQUIRE(e.set_options(s, o, now) == 0);
    return s;
  };
  const SocketId root = with_uid(0);
  REQUIRE(e.bind(root, {wire::Ipv4Addr{}, kPort}) == 0);
  REQUIRE(e.listen(root, 16) == 0);
  CHECK(e.bind(with_uid(65534), {wire::Ipv4Addr{}, kPort}) == EADDRINUSE);
  const SocketId again = with_uid(0);
  CHECK(e.bind(again, {wire::Ipv4Addr{}, kPort}) == 0);
  CHECK(e.listen(again, 16) == 0);
  CHECK(e.counters().listeners == 2);
}

TEST_CASE("reuseport: two SO_REUSEPORT sockets bind and listen on one port",
          "[engine][reuseport]") {
  Sim sim;
  Engine& e = sim.b();
  const SocketId l1 = group_listener(e, sim.now());
  const SocketId l2 = group_listener(e, sim.now());
  CHECK(e.counters().listeners == 2);
  CHECK(e.getsockname(l1).value().port == kPort);
  CHECK(e.getsockname(l2).value().port == kPort);
  CHECK(e.info(l2).value().state == tcp::State::kListen);
}

TEST_CASE("reuseport: a socket without SO_REUSEPORT cannot join a group",
          "[engine][reuseport]") {
  Sim sim;
  Engine& e = sim.b();
  group_listener(e, sim.now());
  group_listener(e, sim.now());
  const SocketId plain = socket_with(e, false, false, sim.now());
  CHECK(e.bind(plain, {wire::Ipv4Addr{}, kPort}) == EADDRINUSE);
  // SO_REUSEADDR does not help: the holders are listening.
  const SocketId reuse_addr = socket_with(e, true, false, sim.now());
  CHECK(e.bind(reuse_addr, {wire::Ipv4Addr{}, kPort}) == EADDRINUSE);
  // Not even before anyone listens: a plain bind needs the port to itself.
  const SocketId bound = socket_with(e, false, true, sim.now());
  REQUIRE(e.bind(bound, {wire::Ipv4Addr{}, 81}) == 0);
  CHECK(e.bind(plain, {wire::Ipv4Addr{}, 81}) == EADDRINUSE);
  CHECK(e.counters().listeners == 2);
}

TEST_CASE("reuseport: a SO_REUSEPORT socket cannot join a port held by a plain listener",
          "[engine][reuseport]") {
  Sim sim;
  Engine& e = sim.b();
  const Instant now = sim.now();
  SECTION("at bind") {
    const SocketId plain = socket_with(e, true, false, now);
    REQUIRE(e.bind(plain, {wire::Ipv4Addr{}, kPort}) == 0);
    REQUIRE(e.listen(plain, 16) == 0);
    CHECK(e.bind(socket_with(e, false, true, now), {wire::Ipv4Addr{}, kPort}) == EADDRINUSE);
    CHECK(e.bind(socket_with(e, true, true, now), {wire::Ipv4Addr{}, kPort}) == EADDRINUSE);
  }
  SECTION("at listen, after both shared the port by SO_REUSEADDR") {
    const SocketId plain = socket_with(e, true, false, now);
    const SocketId shared = socket_with(e, true, true, now);
    REQUIRE(e.bind(plain, {wire::Ipv4Addr{}, kPort}) == 0);
    REQUIRE(e.bind(shared, {wire::Ipv4Addr{}, kPort}) == 0);
    REQUIRE(e.listen(plain, 16) == 0);
    CHECK(e.listen(shared, 16) == EADDRINUSE);
  }
  SECTION("and a plain socket cannot listen where a group does") {
    const SocketId shared = socket_with(e, true, true, now);
    const SocketId plain = socket_with(e, true, false, now);
    REQUIRE(e.bind(shared, {wire::Ipv4Addr{}, kPort}) == 0);
    REQUIRE(e.bind(plain, {wire::Ipv4Addr{}, kPort}) == 0);
    REQUIRE(e.listen(shared, 16) == 0);
    CHECK(e.listen(plain, 16) == EADDRINUSE);
  }
  CHECK(e.counters().listeners == 1);
}

TEST_CASE("reuseport: a port held with SO_REUSEPORT is not handed out as ephemeral",
          "[engine][reuseport]") {
  SimOptions o;
  o.a.ephemeral_lo = 40000;
  o.a.ephemeral_hi = 40000;
  Sim sim(o);
  Engine& e = sim.a();
  const SocketId held = socket_with(e, true, true, sim.now());
  REQUIRE(e.bind(held, {wire::Ipv4Addr{}, 40000}) == 0);
  const SocketId autobound = socket_with(e, true, true, sim.now());
  CHECK(e.bind(autobound, {wire::Ipv4Addr{}, 0}) == EADDRINUSE);
  CHECK(e.listen(autobound, 16) == EADDRINUSE);
  CHECK(e.connect(must(e.socket()), {kIpB, kPort}, sim.now()) == EADDRNOTAVAIL);
}

TEST_CASE("reuseport: 64 connections spread over the group, each accepted exactly once",
          "[engine][reuseport]") {
  Sim sim;
  const SocketId l1 = group_listener(sim.b(), sim.now());
  const SocketId l2 = group_listener(sim.b(), sim.now());
  const std::vector<SocketId> clients = connect_many(sim, 64);
  for (SocketId c : clients) CHECK(sim.a().info(c).value().state == tcp::State::kEstablished);

  const std::vector<wire::Endpoint> on1 = accept_all(sim.b(), l1);
  const std::vector<wire::Endpoint> on2 = accept_all(sim.b(), l2);
  CHECK(on1.size() >= 1);
  CHECK(on2.size() >= 1);
  CHECK(on1.size() + on2.size() == 64);
  std::set<wire::Endpoint> accepted(on1.begin(), on1.end());
  accepted.insert(on2.begin(), on2.end());
  CHECK(accepted == names_of(sim.a(), clients));  // no duplicates, none missing
  CHECK(sim.b().counters().tcp.passive_opens == 64);
}

TEST_CASE("reuseport: closing one listener leaves the others serving", "[engine][reuseport]") {
  Sim sim;
  Engine& b = sim.b();
  const SocketId l1 = group_listener(b, sim.now());
  const SocketId l2 = group_listener(b, sim.now());

  // Queued on l1 when it closes: reset, as for any listener. Queued on l2: kept.
  const std::vector<SocketId> first = connect_many(sim, 16);
  REQUIRE(b.close(l1, sim.now()) == 0);
  sim.run_for(std::chrono::milliseconds(10));
  std::set<wire::Endpoint> survivors;
  std::size_t reset = 0;
  for (SocketId c : first) {
    if (sim.a().info(c).value().state == tcp::State::kEstablished) {
      survivors.insert(sim.a().getsockname(c).value());
    } else {
      CHECK(sim.a().take_error(c).value() == ECONNRESET);
      ++reset;
    }
  }
  CHECK(reset >= 1);  // l1 had some of them
  CHECK(survivors.size() >= 1);
  const std::vector<wire::Endpoint> kept = accept_all(b, l2);
  CHECK(std::set<wire::Endpoint>(kept.begin(), kept.end()) == survivors);
  CHECK(b.counters().listeners == 1);

  // New connections all reach the remaining listener; none is refused.
  const std::uint64_t refused = b.counters().rst_sent_no_socket;
  const std::vector<SocketId> second = connect_many(sim, 32);
  for (SocketId c : second) CHECK(sim.a().info(c).value().state == tcp::State::kEstablished);
  const std::vector<wire::Endpoint> on2 = accept_all(b, l2);
  CHECK(std::set<wire::Endpoint>(on2.begin(), on2.end()) == names_of(sim.a(), second));
  CHECK(b.accept(l1, nullptr).err() == EBADF);
  CHECK(b.counters().rst_sent_no_socket == refused);
}

TEST_CASE("reuseport: the same four-tuple always maps to the same listener",
          "[engine][reuseport]") {
  RawPeer p;
  p.exchange();
  p.introduce();
  const std::vector<SocketId> group = {group_listener(p.engine(), p.now()),
                                       group_listener(p.engine(), p.now())};
  std::map<std::uint16_t, std::size_t> first;
  for (std::uint16_t port = 1001; port <= 1016; ++port) {
    first[port] = handshake_lands_on(p, group, port, 1000u * port);
  }
  // Spread: the sixteen tuples do not all hash to one member.
  std::set<std::size_t> used;
  for (const auto& [port, which] : first) used.insert(which);
  CHECK(used.size() == 2);
  // Same tuple, new incarnations (other ISNs): the same member every time.
  for (std::uint32_t round = 1; round <= 3; ++round) {
    for (const auto& [port, which] : first) {
      CHECK(handshake_lands_on(p, group, port, 1000u * port + 77777u * round) == which);
    }
  }
}

TEST_CASE("reuseport: a SYN cookie's final ACK reaches the listener that sent the cookie",
          "[engine][reuseport][cookies]") {
  EngineConfig cfg = RawPeer::default_config();
  cfg.syn_queue_limit = 1;
  RawPeer p(cfg);
  p.exchange();
  p.introduce();
  Engine& e = p.engine();
  const std::vector<SocketId> group = {group_listener(e, p.now()), group_listener(e, p.now())};
  // Two source ports that land on the first member.
  std::vector<std::uint16_t> on_first;
  for (std::uint16_t port = 2001; on_first.size() < 2; ++port) {
    REQUIRE(port < 2100);
    if (handshake_lands_on(p, group, port, port) == 0) on_first.push_back(port);
  }
  // The first SYN fills that member's one-entry SYN queue, the second gets a cookie.
  REQUIRE(raw_syn(p, on_first[0], 10));
  const std::optional<wire::TcpRepr> cookie = raw_syn(p, on_first[1], 20);
  REQUIRE(cookie);
  CHECK(e.counters().syn_cookies_sent == 1);
  // Only the member that overflowed checks cookies: any other would reset this ACK.
  raw_ack(p, *cookie, 20);
  CHECK(e.counters().syn_cookies_ok == 1);
  wire::Endpoint peer;
  const Result<SocketId> s = e.accept(group[0], &peer);
  REQUIRE(s.ok());
  CHECK(peer.port == on_first[1]);
  CHECK(e.accept(group[1], nullptr).err() == EAGAIN);
}

}  // namespace utcp::stack::engine::test
