// FaultInjector: a PacketIo decorator adding seeded loss, duplication, reordering,
// corruption and delay on RX and TX (TESTBED.md "Impairing the wire": no netem here).
// Invariants: each frame taken is handed on, held (<= max_held per direction) or freed
// through inner exactly once; the same seed and calls give the same faults.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "stack/base/time.h"
#include "stack/io/packet_io.h"
#include "stack/io/prng.h"

namespace utcp::stack::io {

struct FaultConfig {  // probabilities in [0,1]
  double loss = 0, duplicate = 0, reorder = 0, corrupt = 0;
  Duration delay{0};                                      // every frame held this long
  Duration reorder_delay = std::chrono::milliseconds(1);  // a reordered frame is held this much longer
  // Frames held at once in this direction. When full, TX refuses (the caller keeps
  // the frames, as with a full NIC ring) and RX stops pulling from inner (frames wait
  // in the device, which drops them when its own ring overflows).
  std::size_t max_held = 4096;
  bool active() const;
};

struct FaultSpec {
  FaultConfig rx{}, tx{};
  std::uint64_t seed = 1;
};

// Parses utcpd's --fault text: comma-separated key=value items, each optionally
// prefixed "rx:" or "tx:" (no prefix: both directions; later items override earlier).
// Keys: loss, dup (or duplicate), reorder, corrupt (probability as "1%" or "0.01"),
// delay, reorder_delay (duration with unit us, ms or s), limit (max_held, >= 2), seed.
// e.g. "loss=1%,dup=1%,reorder=25%,corrupt=0.1%,delay=10ms,seed=7" or
// "rx:loss=5%,tx:delay=100ms". nullopt + a one-line message for bad input.
std::optional<FaultSpec> parse_fault_spec(std::string_view text, std::string* error);

// Every frame passes through a per-direction hold queue ordered by (due time, arrival):
// due = now + delay, plus reorder_delay for a reordered frame, so later frames overtake
// it. A duplicate is a copy in a buffer from inner.alloc() (skipped when the pool is
// empty) that follows its original. Corruption flips one random
// bit; on RX it clears the device's checksum verdicts, on TX it first fills requested
// checksums in software, so the flipped bit is caught like wire damage. TSO frames are
// not corrupted on TX (their checksums exist only after the device segments them).
// RX and TX draw from separate PRNG streams, so one direction's faults do not depend
// on how much traffic the other carried. A direction whose config is not active()
// passes frames straight through.
class FaultInjector final : public PacketIo {
 public:
  FaultInjector(PacketIo& inner, const FaultSpec& spec);
  ~FaultInjector() override;  // frees every held frame through inner
  FaultInjector(const FaultInjector&) = delete;
  FaultInjector& operator=(const FaultInjector&) = delete;

  std::size_t rx_burst(std::span<PacketBuf*> out, Instant now) override;
  // Returns how many frames it took (into the hold queue or dropped); refuses the
  // rest when the hold is full. Held frames go to inner.tx_burst when due, from
  // tx_burst and rx_burst; what inner refuses stays held.
  std::size_t tx_burst(std::span<PacketBuf* const> pkts, Instant now) override;
  PacketBuf* alloc() override { return inner_.alloc(); }
  void free(PacketBuf* pkt) override { inner_.free(pkt); }
  const IoCapabilities& capabilities() const override { return inner_.capabilities(); }
  // min(inner's, the earliest held frame's due time)
  Instant next_deadline() const override;

  struct Stats {
    std::uint64_t lost = 0, duplicated = 0, reordered = 0, corrupted = 0, delayed = 0;
  };
  const Stats& rx_stats() const { return rx_.stats; }
  const Stats& tx_stats() const { return tx_.stats; }
  std::size_t held_count() const { return rx_.held.size() + tx_.held.size(); }

 private:
  struct Held {
    Instant due;
    std::uint64_t order;  // arrival number: FIFO among frames due at once
    PacketBuf* frame;
  };
  struct Direction {
    FaultConfig cfg;
    Prng prng;
    Stats stats;
    std::vector<Held> held;  // a min-heap on (due, order)
    std::uint64_t next_order = 0;
  };
  enum class Dir { kRx, kTx };
  // The heap order: true when a is due after b.
  static bool after(const Held& a, const Held& b);

  bool has_room(const Direction& d) const { return d.held.size() + 2 <= d.cfg.max_held; }
  // Applies loss, corruption, duplication and delay to one frame and holds what survives.
  void impair(Direction& d, Dir dir, PacketBuf* frame, Instant now);
  void corrupt(Direction& d, Dir dir, PacketBuf& frame);
  PacketBuf* copy_of(const PacketBuf& frame);
  void hold(Direction& d, PacketBuf* frame, Instant due);
  bool due(const Direction& d, Instant now) const;
  PacketBuf* pop(Direction& d);
  void flush_tx(Instant now);

  PacketIo& inner_;
  Direction rx_, tx_;
  std::vector<Held> batch_;          // due TX frames taken off the heap for one inner call
  std::vector<PacketBuf*> frames_;  // the same frames, as inner.tx_burst takes them
};

}  // namespace utcp::stack::io
