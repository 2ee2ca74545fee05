// The region layout both sides compute from one Geometry (shim/protocol.h): every part
// 64-byte aligned, inside total_bytes and disjoint from every other; the sizes the two
// sides rely on; Geometry::valid's bounds; what RegionView::init writes.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cstdlib>
#include <memory>
#include <type_traits>
#include <vector>

#include "shim/protocol.h"

namespace utcp::shim::test {
namespace {

struct Part {
  std::size_t begin;
  std::size_t end;
  const char* what;
};

// Every part of the region as [begin, end), from the Layout's own offsets and the
// sizes of what lives there.
std::vector<Part> parts(const Layout& l) {
  const Geometry& g = l.geometry();
  std::vector<Part> out;
  out.push_back({0, sizeof(RegionHeader), "header"});
  for (std::uint32_t e = 0; e < g.engines; ++e) {
    out.push_back({l.engine_flag(e), l.engine_flag(e) + sizeof(SleepFlag), "engine flag"});
  }
  for (std::uint32_t c = 0; c < g.channels; ++c) {
    out.push_back({l.channel(c), l.channel(c) + sizeof(ChannelBlock), "channel"});
    for (std::uint32_t e = 0; e < g.engines; ++e) {
      out.push_back({l.command_ring(c, e), l.command_ring(c, e) + CommandRing::bytes_for(g.command_capacity),
                     "command ring"});
      out.push_back({l.reply_ring(c, e), l.reply_ring(c, e) + ReplyRing::bytes_for(g.reply_capacity),
                     "reply ring"});
      out.push_back({l.event_ring(c, e), l.event_ring(c, e) + EventRing::bytes_for(g.event_capacity),
                     "event ring"});
    }
  }
  for (std::uint32_t s = 0; s < g.sockets; ++s) {
    out.push_back({l.socket(s), l.socket(s) + sizeof(SocketBlock), "socket block"});
    out.push_back({l.tx_stream(s), l.tx_stream(s) + ByteStream::bytes_for(g.stream_capacity), "tx stream"});
    out.push_back({l.rx_stream(s), l.rx_stream(s) + ByteStream::bytes_for(g.stream_capacity), "rx stream"});
  }
  return out;
}

Geometry odd_geometry() {
  Geometry g;
  g.engines = 3;
  g.channels = 5;
  g.sockets = 7;
  g.command_capacity = 2;
  g.reply_capacity = 8;
  g.event_capacity = 32;
  g.stream_capacity = 64;
  return g;
}

Geometry wide_geometry() {
  Geometry g;
  g.engines = kMaxEngines;
  g.channels = kMaxChannels;
  g.sockets = 3;
  g.command_capacity = 16;
  g.reply_capacity = 16;
  g.event_capacity = 16;
  g.stream_capacity = 4096;
  return g;
}

}  // namespace

TEST_CASE("layout: every part is 64-byte aligned, inside the region, and disjoint",
          "[shim][protocol]") {
  const Geometry g = GENERATE(Geometry{}, odd_geometry(), wide_geometry());
  REQUIRE(g.valid());
  const Layout l(g);
  std::vector<Part> all = parts(l);
  for (const Part& p : all) {
    INFO(p.what << " at " << p.begin);
    CHECK(p.begin % 64 == 0);
    CHECK(p.end <= l.total_bytes());
  }
  std::sort(all.begin(), all.end(), [](const Part& x, const Part& y) { return x.begin < y.begin; });
  for (std::size_t i = 1; i < all.size(); ++i) {
    INFO(all[i - 1].what << " [" << all[i - 1].begin << ", " << all[i - 1].end << ") vs " << all[i].what
                         << " at " << all[i].begin);
    CHECK(all[i - 1].end <= all[i].begin);
  }
  // Page-sized: the daemon maps and seals whole pages; socket slots start on a page.
  CHECK(l.total_bytes() % 4096 == 0);
  CHECK(l.socket(0) % 4096 == 0);
}

TEST_CASE("layout: the same geometry gives the same offsets on both sides", "[shim][protocol]") {
  const Layout daemon(odd_geometry()), app(odd_geometry());
  CHECK(daemon.total_bytes() == app.total_bytes());
  CHECK(daemon.event_ring(4, 2) == app.event_ring(4, 2));
  CHECK(daemon.rx_stream(6) == app.rx_stream(6));
}

TEST_CASE("protocol: entry sizes and alignment both sides rely on", "[shim][protocol]") {
  CHECK(sizeof(Command) == 64);
  CHECK(sizeof(RegionHeader) % 64 == 0);
  CHECK(sizeof(ChannelBlock) % 64 == 0);
  CHECK(sizeof(SocketBlock) % 64 == 0);
  CHECK(alignof(SocketBlock) == 64);
  CHECK(std::is_trivially_copyable_v<Command>);
  CHECK(std::is_trivially_copyable_v<Reply>);
  CHECK(std::is_trivially_copyable_v<Event>);
}

TEST_CASE("geometry: valid() accepts the bounds and rejects what lies outside", "[shim][protocol]") {
  CHECK(Geometry{}.valid());
  CHECK(odd_geometry().valid());
  CHECK(wide_geometry().valid());

  const auto with = [](auto change) {
    Geometry g;
    change(g);
    return g.valid();
  };
  // Bounds that are still valid.
  CHECK(with([](Geometry& g) { g.sockets = 1u << 20; }));
  CHECK(with([](Geometry& g) { g.sockets = 1; }));
  CHECK(with([](Geometry& g) { g.stream_capacity = 1u << 30; }));
  CHECK(with([](Geometry& g) { g.command_capacity = 2; }));

  CHECK_FALSE(with([](Geometry& g) { g.engines = 0; }));
  CHECK_FALSE(with([](Geometry& g) { g.engines = kMaxEngines + 1; }));
  CHECK_FALSE(with([](Geometry& g) { g.channels = 0; }));
  CHECK_FALSE(with([](Geometry& g) { g.channels = kMaxChannels + 1; }));
  CHECK_FALSE(with([](Geometry& g) { g.sockets = 0; }));
  CHECK_FALSE(with([](Geometry& g) { g.sockets = (1u << 20) + 1; }));
  CHECK_FALSE(with([](Geometry& g) { g.command_capacity = 0; }));
  CHECK_FALSE(with([](Geometry& g) { g.command_capacity = 1; }));
  CHECK_FALSE(with([](Geometry& g) { g.command_capacity = 48; }));       // not a power of two
  CHECK_FALSE(with([](Geometry& g) { g.command_capacity = 1u << 25; }));
  CHECK_FALSE(with([](Geometry& g) { g.reply_capacity = 100; }));
  CHECK_FALSE(with([](Geometry& g) { g.event_capacity = 0; }));
  CHECK_FALSE(with([](Geometry& g) { g.stream_capacity = 32; }));         // below 64
  CHECK_FALSE(with([](Geometry& g) { g.stream_capacity = 1000; }));
  CHECK_FALSE(with([](Geometry& g) { g.stream_capacity = 1u << 31; }));
}

TEST_CASE("region view: init writes the header and empty rings", "[shim][protocol]") {
  const Geometry g = odd_geometry();
  const Layout l(g);
  struct Free {
    void operator()(void* p) const { std::free(p); }
  };
  std::unique_ptr<void, Free> mem(std::aligned_alloc(4096, l.total_bytes()));
  REQUIRE(mem);
  std::fill_n(static_cast<unsigned char*>(mem.get()), l.total_bytes(), 0xa5);  // not a fresh memfd
  RegionView v(mem.get(), g);
  v.init();
  CHECK(v.header().magic == kRegionMagic);
  CHECK(v.header().version == kProtocolVersion);
  CHECK(v.header().geometry.engines == g.engines);
  CHECK(v.header().geometry.stream_capacity == g.stream_capacity);
  for (std::uint32_t e = 0; e < g.engines; ++e) CHECK(v.engine_flag(e).asleep.load() == 0);
  for (std::uint32_t c = 0; c < g.channels; ++c) {
    CHECK(v.channel(c).event_overflow.load() == 0);
    CHECK(v.channel(c).app_asleep.asleep.load() == 0);
    for (std::uint32_t e = 0; e < g.engines; ++e) {
      CommandRing commands(v.command_ring(c, e), g.command_capacity);
      ReplyRing replies(v.reply_ring(c, e), g.reply_capacity);
      EventRing events(v.event_ring(c, e), g.event_capacity);
      CHECK_FALSE(commands.poisoned());
      CHECK(commands.readable() == 0);
      CHECK(replies.readable() == 0);
      CHECK(events.readable() == 0);
      CHECK_FALSE(events.poisoned());
    }
  }
}

}  // namespace utcp::shim::test
