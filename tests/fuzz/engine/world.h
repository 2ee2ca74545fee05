// World: the two engines of tests/stack/engine/support/sim.h on virtual time, stepped by
// the fuzz program instead of Sim::step(), so that every frame crossing the link passes
// the program first: it is observed (the flows a crafted segment can aim at), may be
// dropped, duplicated, held back (reordered) or have one bit flipped, and crafted
// frames join it. Engine d's inbound frames are handled right before engine d polls.
// Invariant: every link buffer the World takes is handed on or freed in the same round,
// except held frames, which go out in the next one (or in release_held()).
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <optional>
#include <span>
#include <vector>

#include "stack/base/seq_num.h"
#include "stack/base/time.h"
#include "stack/engine/engine.h"
#include "stack/engine/support/frames.h"
#include "stack/engine/support/sim.h"
#include "stack/io/memory_link.h"
#include "stack/wire/tcp.h"

namespace utcp::fuzz {

namespace se = stack::engine;
namespace wire = stack::wire;
using stack::Duration;
using stack::Instant;
using stack::SeqNum;
using Frame = se::test::Frame;

// One direction of a TCP flow as its sender's last segment showed it.
struct FlowSeen {
  wire::Endpoint src, dst;
  int to = 0;                 // the engine the segments go to
  SeqNum seq;                 // the last segment's sequence number ...
  SeqNum end;                 // ... and the one after it (SYN and FIN count)
  SeqNum ack;                 // the last acknowledgment sent (when ACK was set)
  bool acked = false;
  std::uint16_t window = 0;
  std::optional<wire::TcpTimestamps> ts;
};

// A TCP frame the link carried, kept for mutation.
struct SeenFrame {
  int to = 0;
  Frame bytes;
};

enum class FaultKind : std::uint8_t { kDrop, kDuplicate, kHold, kFlip };
struct Fault {
  FaultKind kind = FaultKind::kDrop;
  std::uint16_t bit = 0;  // kFlip: which bit of the frame (modulo its length)
};

class World {
 public:
  static constexpr std::size_t kRecentFrames = 16;
  static constexpr std::size_t kMaxFaults = 64;     // queued per direction
  static constexpr std::size_t kMaxInjected = 64;   // crafted frames waiting per direction
  static constexpr std::size_t kMaxFlows = 64;      // flows remembered (the first ones)

  explicit World(const se::test::SimOptions& opts);
  ~World();
  World(const World&) = delete;
  World& operator=(const World&) = delete;

  se::Engine& engine(int e) { return e == 0 ? sim_.a() : sim_.b(); }
  stack::io::MemoryLink& link() { return sim_.link(); }
  wire::MacAddr mac(int e) const { return macs_[e]; }
  Instant now() const { return now_; }

  // One round: engine a's inbound frames, a polls, then the same for b. Returns the work.
  std::size_t round();
  // Up to `rounds` rounds; after an idle round time jumps to the next deadline if it is
  // at most `max_jump` away, else stepping stops.
  void step(std::size_t rounds, Duration max_jump);
  // Moves the clock on (timers fire at the next round).
  void advance(Duration d) { now_ += d; }
  // Earliest deadline of either engine (kNever: nothing armed).
  Instant next_deadline();

  // A crafted frame for engine `to`, delivered before its next poll.
  void inject(int to, Frame frame);
  // Applies to the next frame on its way to engine `to`.
  void add_fault(int to, Fault f);
  // Puts held frames back on the wire and drops queued faults (before the last phase).
  void release_held();

  const std::vector<FlowSeen>& flows() const { return flows_; }
  const std::deque<SeenFrame>& recent() const { return recent_; }
  std::size_t frames_seen() const { return frames_seen_; }
  // Prints every TCP segment the link carries (UTCP_FUZZ_TRACE=2).
  void trace_frames(bool on) { trace_frames_ = on; }

 private:
  stack::io::PacketIo& end_of(int e);  // engine e's device: its rx_burst yields frames for e
  void pass_inbound(int to);
  void observe(int to, const stack::io::PacketBuf& buf);
  stack::io::PacketBuf* copy(int to, std::span<const std::uint8_t> bytes);
  void send(int to, std::vector<stack::io::PacketBuf*>& bufs);

  se::test::Sim sim_;
  wire::MacAddr macs_[2];
  Instant now_;
  std::vector<FlowSeen> flows_;
  std::deque<SeenFrame> recent_;
  std::deque<Fault> faults_[2];
  std::vector<stack::io::PacketBuf*> held_[2];
  std::vector<Frame> injected_[2];
  std::vector<stack::io::PacketBuf*> scratch_;
  std::size_t frames_seen_ = 0;
  bool trace_frames_ = false;
};

}  // namespace utcp::fuzz
