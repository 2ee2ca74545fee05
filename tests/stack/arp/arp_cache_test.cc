// ArpCache: resolution, expiry, bounds and retries, in virtual time (RFC 826, RFC 1122
// §2.3.2). Frames are plain PacketBuf objects the cache only passes around, so every
// test can check by identity which frame came back, and through which door.
#include <catch2/catch.hpp>

#include <array>
#include <vector>

#include "stack/arp/arp_cache.h"

namespace utcp::stack::arp {
namespace {

using io::PacketBuf;
using std::chrono::milliseconds;
using std::chrono::seconds;

wire::Ipv4Addr ip(std::uint8_t n) { return wire::Ipv4Addr::from_octets(198, 18, 0, n); }
wire::MacAddr mac(std::uint8_t n) { return {{0x02, 0, 0, 0, 0, n}}; }
Instant at(Duration d) { return Instant(d); }

struct Fixture {
  explicit Fixture(ArpConfig c = {}) : cache(c) {}
  ArpCache cache;
  std::array<PacketBuf, 64> frames{};
  std::vector<PacketBuf*> ready, dropped;
  std::vector<wire::Ipv4Addr> resend;
};

// ---- resolution ----------------------------------------------------------------------

TEST_CASE("an unknown address parks the frame and asks for a request", "[arp]") {
  Fixture f;
  CHECK_FALSE(f.cache.lookup(ip(1), at(seconds(0))));
  CHECK(f.cache.enqueue(ip(1), &f.frames[0], at(seconds(0)), f.dropped) ==
        ArpCache::Enqueue::kSendRequest);
  CHECK(f.cache.pending_count() == 1);
  CHECK(f.cache.unresolved_count() == 1);
  CHECK(f.dropped.empty());
  CHECK_FALSE(f.cache.lookup(ip(1), at(seconds(0))));
}

TEST_CASE("update resolves and releases parked frames in FIFO order", "[arp]") {
  Fixture f;
  for (int i = 0; i < 3; ++i) f.cache.enqueue(ip(1), &f.frames[i], at(seconds(0)), f.dropped);
  f.cache.enqueue(ip(2), &f.frames[3], at(seconds(0)), f.dropped);

  f.cache.update(ip(1), mac(1), at(milliseconds(5)), f.ready);

  CHECK(f.ready == std::vector<PacketBuf*>{&f.frames[0], &f.frames[1], &f.frames[2]});
  CHECK(f.cache.lookup(ip(1), at(milliseconds(5))) == mac(1));
  CHECK(f.cache.pending_count() == 1);  // ip(2)'s frame still waits
  CHECK(f.cache.unresolved_count() == 1);
  f.ready.clear();
  f.cache.update(ip(1), mac(1), at(milliseconds(6)), f.ready);
  CHECK(f.ready.empty());  // frames are released once
}

TEST_CASE("a request for our address teaches the sender's mapping (RFC 826 merge)", "[arp]") {
  Fixture f;
  f.cache.update(ip(7), mac(7), at(seconds(0)), f.ready);
  CHECK(f.cache.lookup(ip(7), at(seconds(0))) == mac(7));
  CHECK(f.cache.entry_count() == 1);
  CHECK(f.ready.empty());
}

TEST_CASE("refresh_if_present updates known addresses only", "[arp]") {
  Fixture f;
  CHECK_FALSE(f.cache.refresh_if_present(ip(1), mac(1), at(seconds(0)), f.ready));
  CHECK(f.cache.entry_count() == 0);

  f.cache.update(ip(1), mac(1), at(seconds(0)), f.ready);
  CHECK(f.cache.refresh_if_present(ip(1), mac(9), at(seconds(1)), f.ready));
  CHECK(f.cache.lookup(ip(1), at(seconds(1))) == mac(9));

  SECTION("an address being resolved is resolved by it, releasing its frames") {
    f.cache.enqueue(ip(2), &f.frames[0], at(seconds(1)), f.dropped);
    CHECK(f.cache.refresh_if_present(ip(2), mac(2), at(seconds(1)), f.ready));
    CHECK(f.ready == std::vector<PacketBuf*>{&f.frames[0]});
    CHECK(f.cache.lookup(ip(2), at(seconds(1))) == mac(2));
  }
}

TEST_CASE("broadcast, multicast and zero addresses are never learned", "[arp]") {
  Fixture f;
  f.cache.update(ip(1), wire::MacAddr::broadcast(), at(seconds(0)), f.ready);
  f.cache.update(ip(2), wire::MacAddr{{0x01, 0x00, 0x5e, 0, 0, 1}}, at(seconds(0)), f.ready);
  f.cache.update(ip(3), wire::MacAddr{}, at(seconds(0)), f.ready);
  f.cache.update(wire::Ipv4Addr{}, mac(4), at(seconds(0)), f.ready);  // RFC 5227 probe
  f.cache.update(wire::Ipv4Addr::from_octets(224, 0, 0, 1), mac(5), at(seconds(0)), f.ready);
  CHECK(f.cache.entry_count() == 0);

  f.cache.update(ip(6), mac(6), at(seconds(0)), f.ready);
  CHECK(f.cache.refresh_if_present(ip(6), wire::MacAddr::broadcast(), at(seconds(1)), f.ready));
  CHECK(f.cache.lookup(ip(6), at(seconds(1))) == mac(6));
}

// ---- expiry --------------------------------------------------------------------------

TEST_CASE("a mapping is used for entry_ttl, then expires", "[arp]") {
  Fixture f(ArpConfig{.entry_ttl = seconds(60)});
  f.cache.update(ip(1), mac(1), at(seconds(10)), f.ready);
  CHECK(f.cache.next_deadline() == at(seconds(70)));
  CHECK(f.cache.lookup(ip(1), at(seconds(70)) - Duration(1)) == mac(1));
  CHECK_FALSE(f.cache.lookup(ip(1), at(seconds(70))));

  f.cache.on_timer(at(seconds(70)) - Duration(1), f.resend, f.dropped);
  CHECK(f.cache.entry_count() == 1);
  f.cache.on_timer(at(seconds(70)), f.resend, f.dropped);
  CHECK(f.cache.entry_count() == 0);
  CHECK(f.cache.next_deadline() == kNever);
  CHECK(f.resend.empty());
}

TEST_CASE("an update refreshes a mapping's lifetime", "[arp]") {
  Fixture f(ArpConfig{.entry_ttl = seconds(60)});
  f.cache.update(ip(1), mac(1), at(seconds(0)), f.ready);
  f.cache.update(ip(1), mac(1), at(seconds(50)), f.ready);
  f.cache.on_timer(at(seconds(100)), f.resend, f.dropped);
  CHECK(f.cache.lookup(ip(1), at(seconds(100))) == mac(1));
  CHECK(f.cache.next_deadline() == at(seconds(110)));
}

TEST_CASE("enqueue for an expired mapping re-resolves it", "[arp]") {
  Fixture f(ArpConfig{.entry_ttl = seconds(60)});
  f.cache.update(ip(1), mac(1), at(seconds(0)), f.ready);
  CHECK(f.cache.enqueue(ip(1), &f.frames[0], at(seconds(61)), f.dropped) ==
        ArpCache::Enqueue::kSendRequest);
  CHECK(f.cache.unresolved_count() == 1);
  CHECK(f.cache.entry_count() == 1);
  f.cache.update(ip(1), mac(2), at(seconds(61)), f.ready);
  CHECK(f.ready == std::vector<PacketBuf*>{&f.frames[0]});
  CHECK(f.cache.lookup(ip(1), at(seconds(61))) == mac(2));
}

// ---- bounds --------------------------------------------------------------------------

TEST_CASE("a full table evicts the least recently updated entry", "[arp]") {
  Fixture f(ArpConfig{.max_entries = 3});
  f.cache.update(ip(1), mac(1), at(seconds(0)), f.ready);
  f.cache.update(ip(2), mac(2), at(seconds(1)), f.ready);
  f.cache.update(ip(3), mac(3), at(seconds(2)), f.ready);
  f.cache.update(ip(1), mac(1), at(seconds(3)), f.ready);  // ip(2) is now the oldest

  f.cache.update(ip(4), mac(4), at(seconds(4)), f.ready);

  CHECK(f.cache.entry_count() == 3);
  CHECK_FALSE(f.cache.lookup(ip(2), at(seconds(4))));
  CHECK(f.cache.lookup(ip(1), at(seconds(4))) == mac(1));
  CHECK(f.cache.lookup(ip(3), at(seconds(4))) == mac(3));
  CHECK(f.cache.lookup(ip(4), at(seconds(4))) == mac(4));
}

TEST_CASE("a full table gives up resolved entries before addresses with parked frames",
          "[arp]") {
  Fixture f(ArpConfig{.max_entries = 2});
  f.cache.enqueue(ip(1), &f.frames[0], at(seconds(0)), f.dropped);
  f.cache.update(ip(2), mac(2), at(seconds(1)), f.ready);

  SECTION("a learned mapping displaces only a resolved one") {
    f.cache.update(ip(3), mac(3), at(seconds(2)), f.ready);
    CHECK_FALSE(f.cache.lookup(ip(2), at(seconds(2))));
    CHECK(f.cache.pending_count() == 1);
    f.cache.update(ip(4), mac(4), at(seconds(3)), f.ready);
    CHECK(f.cache.lookup(ip(4), at(seconds(3))) == mac(4));
    CHECK(f.cache.pending_count() == 1);
    CHECK(f.dropped.empty());
  }
  SECTION("a new unresolved address evicts the oldest request when nothing else is left") {
    f.cache.enqueue(ip(3), &f.frames[1], at(seconds(2)), f.dropped);  // evicts ip(2)
    CHECK(f.dropped.empty());
    f.cache.enqueue(ip(4), &f.frames[2], at(seconds(3)), f.dropped);  // evicts ip(1)
    CHECK(f.dropped == std::vector<PacketBuf*>{&f.frames[0]});
    CHECK(f.cache.entry_count() == 2);
    CHECK(f.cache.pending_count() == 2);
  }
  SECTION("a learned mapping is not taken in when only unresolved addresses are left") {
    f.cache.enqueue(ip(3), &f.frames[1], at(seconds(2)), f.dropped);
    f.cache.update(ip(5), mac(5), at(seconds(3)), f.ready);
    CHECK_FALSE(f.cache.lookup(ip(5), at(seconds(3))));
    CHECK(f.cache.pending_count() == 2);
  }
}

TEST_CASE("frames beyond max_pending_per_addr push out that address's oldest", "[arp]") {
  Fixture f(ArpConfig{.max_pending_per_addr = 2});
  f.cache.enqueue(ip(1), &f.frames[0], at(seconds(0)), f.dropped);
  f.cache.enqueue(ip(2), &f.frames[1], at(seconds(0)), f.dropped);
  f.cache.enqueue(ip(1), &f.frames[2], at(seconds(0)), f.dropped);
  f.cache.enqueue(ip(1), &f.frames[3], at(seconds(0)), f.dropped);

  CHECK(f.dropped == std::vector<PacketBuf*>{&f.frames[0]});
  CHECK(f.cache.pending_count() == 3);
  f.cache.update(ip(1), mac(1), at(seconds(0)), f.ready);
  CHECK(f.ready == std::vector<PacketBuf*>{&f.frames[2], &f.frames[3]});
}

TEST_CASE("frames beyond max_pending_total push out the oldest of all", "[arp]") {
  Fixture f(ArpConfig{.max_pending_total = 3});
  f.cache.enqueue(ip(1), &f.frames[0], at(seconds(0)), f.dropped);
  f.cache.enqueue(ip(2), &f.frames[1], at(seconds(0)), f.dropped);
  f.cache.enqueue(ip(1), &f.frames[2], at(seconds(0)), f.dropped);
  f.cache.enqueue(ip(3), &f.frames[3], at(seconds(0)), f.dropped);
  f.cache.enqueue(ip(3), &f.frames[4], at(seconds(0)), f.dropped);

  CHECK(f.dropped == std::vector<PacketBuf*>{&f.frames[0], &f.frames[1]});
  CHECK(f.cache.pending_count() == 3);
  std::vector<PacketBuf*> rest;
  f.cache.drain_pending(rest);
  CHECK(rest == std::vector<PacketBuf*>{&f.frames[2], &f.frames[3], &f.frames[4]});
  CHECK(f.cache.pending_count() == 0);
}

// ---- retries -------------------------------------------------------------------------

TEST_CASE("requests for one address go out no faster than retry_interval", "[arp]") {
  Fixture f(ArpConfig{.retry_interval = seconds(1), .max_requests = 3});
  using E = ArpCache::Enqueue;
  CHECK(f.cache.enqueue(ip(1), &f.frames[0], at(milliseconds(0)), f.dropped) == E::kSendRequest);
  CHECK(f.cache.enqueue(ip(1), &f.frames[1], at(milliseconds(999)), f.dropped) == E::kWaiting);
  CHECK(f.cache.next_deadline() == at(seconds(1)));
  CHECK(f.cache.enqueue(ip(1), &f.frames[2], at(milliseconds(1000)), f.dropped) ==
        E::kSendRequest);
  CHECK(f.cache.next_deadline() == at(seconds(2)));

  f.cache.on_timer(at(milliseconds(1999)), f.resend, f.dropped);
  CHECK(f.resend.empty());
  f.cache.on_timer(at(milliseconds(2000)), f.resend, f.dropped);
  CHECK(f.resend == std::vector<wire::Ipv4Addr>{ip(1)});  // the third and last request
  CHECK(f.cache.enqueue(ip(1), &f.frames[3], at(seconds(5)), f.dropped) == E::kWaiting);
  CHECK(f.dropped.empty());
}

TEST_CASE("after max_requests the address is given up and its frames dropped", "[arp]") {
  Fixture f(ArpConfig{.retry_interval = seconds(1), .max_requests = 3});
  f.cache.enqueue(ip(1), &f.frames[0], at(seconds(0)), f.dropped);
  f.cache.enqueue(ip(1), &f.frames[1], at(milliseconds(100)), f.dropped);
  f.cache.enqueue(ip(2), &f.frames[2], at(milliseconds(500)), f.dropped);

  using Ips = std::vector<wire::Ipv4Addr>;
  f.cache.on_timer(at(seconds(1)), f.resend, f.dropped);  // ip(2) is due only at 1.5 s
  CHECK(f.resend == Ips{ip(1)});
  f.resend.clear();
  f.cache.on_timer(at(seconds(2)), f.resend, f.dropped);  // oldest request first
  CHECK(f.resend == Ips{ip(2), ip(1)});
  f.resend.clear();
  CHECK(f.dropped.empty());

  f.cache.on_timer(at(seconds(3)), f.resend, f.dropped);

  CHECK(f.resend == Ips{ip(2)});  // its third request; ip(1) had all three
  CHECK(f.dropped == std::vector<PacketBuf*>{&f.frames[0], &f.frames[1]});
  CHECK_FALSE(f.cache.lookup(ip(1), at(seconds(3))));
  CHECK(f.cache.entry_count() == 1);
  CHECK(f.cache.pending_count() == 1);

  SECTION("a later frame for it starts a new resolution") {
    CHECK(f.cache.enqueue(ip(1), &f.frames[3], at(seconds(3)), f.dropped) ==
          ArpCache::Enqueue::kSendRequest);
  }
}

TEST_CASE("next_deadline is the earliest of expiries and retries", "[arp]") {
  Fixture f(ArpConfig{.entry_ttl = seconds(60), .retry_interval = seconds(1)});
  CHECK(f.cache.next_deadline() == kNever);
  f.cache.update(ip(1), mac(1), at(seconds(0)), f.ready);
  CHECK(f.cache.next_deadline() == at(seconds(60)));
  f.cache.enqueue(ip(2), &f.frames[0], at(seconds(10)), f.dropped);
  CHECK(f.cache.next_deadline() == at(seconds(11)));
  f.cache.update(ip(2), mac(2), at(seconds(10)), f.ready);
  CHECK(f.cache.next_deadline() == at(seconds(60)));
}

TEST_CASE("drain_pending hands back every parked frame, oldest first", "[arp]") {
  Fixture f;
  f.cache.enqueue(ip(1), &f.frames[0], at(seconds(0)), f.dropped);
  f.cache.enqueue(ip(2), &f.frames[1], at(seconds(0)), f.dropped);
  f.cache.enqueue(ip(1), &f.frames[2], at(seconds(0)), f.dropped);
  std::vector<PacketBuf*> out;
  f.cache.drain_pending(out);
  CHECK(out == std::vector<PacketBuf*>{&f.frames[0], &f.frames[1], &f.frames[2]});
  CHECK(f.cache.pending_count() == 0);
  f.cache.update(ip(1), mac(1), at(seconds(0)), f.ready);
  CHECK(f.ready.empty());
}

}  // namespace
}  // namespace utcp::stack::arp
