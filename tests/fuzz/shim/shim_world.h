// ShimWorld: the ShimServer rig of tests/daemon/shim_rig.h (engine A as a client, engine
// B serving regions through a ShimServer, on virtual time) with two families: the
// attacker, whose processes (channels) the fuzz program plays, well-behaved or not,
// and a victim in a second region with one established connection. The attacker may
// write anything anywhere in its own region; the ShimServer must not crash, hang, leak
// slots, or let any of it reach the victim (DESIGN.md §3: "a corrupt app can hurt
// only itself").
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "tests/daemon/shim_rig.h"
#include "tests/fuzz/support/byte_reader.h"

namespace utcp::fuzz {

using daemon::test::App;
using daemon::test::Sock;

class ShimWorld {
 public:
  explicit ShimWorld(std::uint8_t config);
  ~ShimWorld();

  // One operation of shim_program::Op, its arguments read from `in`.
  void execute(std::uint8_t op, ByteReader& in);
  // After every operation.
  void check();
  // Everything released, every process gone, time passes: nothing may be left.
  void finish();

 private:
  struct Pending {
    std::uint32_t channel;
    shim::Op op;
  };
  struct Victim {
    std::shared_ptr<daemon::Region> region;
    std::optional<App> app;
    Sock listener, child;
    stack::engine::SocketId client;
    std::uint32_t round = 0;
  };

  void post(ByteReader& in);
  void raw_command(ByteReader& in);
  void scribble(ByteReader& in);
  void mail(ByteReader& in);
  void client(ByteReader& in);
  void collect(std::uint32_t c);
  void collect_all();
  void channel_gone(std::uint32_t c);
  void channel_up(std::uint32_t c);
  Sock resolve(std::uint8_t slot_sel, std::uint8_t gen_sel) const;
  App* any_app(std::uint8_t sel);

  void start_victim();
  void check_victim();
  void round_trip_victim();

  shim::Geometry g_;
  daemon::test::Rig rig_;
  std::vector<std::optional<App>> apps_;  // per attacker channel: its process, if any
  std::map<std::uint32_t, Pending> pending_;  // tag -> who asked what
  std::uint32_t next_tag_ = 1u << 30;         // apart from the rig's own tags
  std::vector<Sock> known_;                   // slots the attacker learned from replies
  std::set<std::pair<std::uint32_t, std::uint32_t>> registered_;  // placeholders (slot, generation)
  std::vector<stack::engine::SocketId> clients_;                  // engine A's sockets
  Victim victim_;
};

}  // namespace utcp::fuzz
