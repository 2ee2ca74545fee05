// SocketTable ids and generations, PortTable conflict rules, Listener queue sizes
// (Linux: accept queue holds backlog + 1), and the counter names `utcp stat` prints.
#include <catch2/catch.hpp>
#include <set>
#include <string>

#include "stack/engine/counters.h"
#include "stack/engine/listener.h"
#include "stack/engine/port_table.h"
#include "stack/engine/socket_table.h"

namespace utcp::stack::engine {

TEST_CASE("socket table: a released slot's old id is stale", "[engine][socket_table]") {
  SocketTable t(2);
  const auto a = t.allocate();
  REQUIRE(a);
  const SocketId id = t.id_of(*a);
  CHECK(t.find(id) == &t.at(*a));
  t.release(*a);
  CHECK(t.find(id) == nullptr);
  const auto again = t.allocate();
  REQUIRE(again);
  CHECK(*again == *a);  // same slot ...
  CHECK(t.find(id) == nullptr);  // ... new generation
  CHECK(t.find(t.id_of(*again)) != nullptr);
}

TEST_CASE("socket table: retiring an id keeps the slot in use", "[engine][socket_table]") {
  SocketTable t(1);
  const auto a = t.allocate();
  REQUIRE(a);
  const SocketId id = t.id_of(*a);
  t.retire_id(*a);
  CHECK(t.find(id) == nullptr);
  CHECK(t.in_use() == 1);
  CHECK_FALSE(t.allocate());
}

TEST_CASE("socket table: zero and out-of-range ids name nothing", "[engine][socket_table]") {
  SocketTable t(1);
  REQUIRE(t.allocate());
  CHECK(t.find(SocketId{}) == nullptr);
  CHECK(t.find(SocketId{5, 1}) == nullptr);
  CHECK(SocketId::from_raw(SocketId{3, 9}.raw()) == SocketId{3, 9});
}

TEST_CASE("port table: bind conflicts follow Linux", "[engine][port_table]") {
  PortTable p;
  CHECK(p.can_bind(80, false));
  p.add(80, PortRef::kBindExclusive);
  CHECK_FALSE(p.can_bind(80, false));
  CHECK_FALSE(p.can_bind(80, true));
  CHECK_FALSE(p.connectable(80));
  p.remove(80, PortRef::kBindExclusive);

  // Connections left behind (TIME-WAIT) block a plain bind but not SO_REUSEADDR.
  p.add(80, PortRef::kConnection);
  CHECK_FALSE(p.can_bind(80, false));
  CHECK(p.can_bind(80, true));
  CHECK(p.connectable(80));
  CHECK_FALSE(p.unused(80));

  p.set_listener(80, 3);
  CHECK_FALSE(p.can_bind(80, true));
  CHECK(p.listener(80) == 3u);
  p.set_listener(80, kNoIndex);
  p.remove(80, PortRef::kConnection);
  CHECK(p.unused(80));
}

TEST_CASE("listener: accept queue holds backlog + 1, SYN queue min(limit, backlog + 1)",
          "[engine][listener]") {
  Listener l(2, 4096, 100);
  for (std::uint32_t i = 0; i < 3; ++i) {
    CHECK_FALSE(l.accept_queue_full());
    CHECK(l.push_accepted(i));
  }
  CHECK(l.accept_queue_full());
  CHECK(l.pop_accepted() == 0u);
  CHECK(l.pop_accepted() == 1u);
  CHECK(l.pop_accepted() == 2u);
  CHECK_FALSE(l.pop_accepted());

  for (int i = 0; i < 3; ++i) l.syn_added();
  CHECK(l.syn_queue_full());
  l.set_backlog(10);
  CHECK_FALSE(l.syn_queue_full());
}

TEST_CASE("listener: the backlog is capped", "[engine][listener]") {
  Listener l(100000, 8, 100);
  CHECK(l.backlog() == 8);
}

TEST_CASE("counters: every name is unique and snake_case", "[engine][counters]") {
  EngineCounters c;
  c.tcp.retransmits = 5;
  c.parse_drops[static_cast<std::size_t>(wire::ParseError::kBadChecksum)] = 2;
  std::set<std::string> names;
  std::uint64_t retransmits = 0, bad_checksum = 0;
  c.for_each([&](std::string_view name, std::uint64_t value) {
    CHECK(names.insert(std::string(name)).second);
    for (const char ch : name) {
      CHECK(((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '_'));
    }
    if (name == "tcp_retransmits") retransmits = value;
    if (name == "drop_parse_bad_checksum") bad_checksum = value;
  });
  CHECK(retransmits == 5);
  CHECK(bad_checksum == 2);
  CHECK(names.count("conn_established") == 1);
  CHECK(names.count("drop_parse_none") == 0);
}

}  // namespace utcp::stack::engine
