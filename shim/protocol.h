// The app <-> utcpd protocol (DESIGN.md §3 "The channel"): what lives in a region of
// shared memory and what travels through its rings. Both sides compute the layout
// from one Geometry, which only the daemon decides; neither side reads it back.
//
// A region serves one family of processes: the process that attached first, the
// children it forks and the images they exec (they inherit the mapping, or get it
// back through the environment). A family shares its sockets the way forked
// processes share kernel sockets, so one region holds them all; unrelated programs
// get separate regions and cannot touch each other.
//
// Region layout (every part 64-byte aligned):
//   RegionHeader
//   SleepFlag engine_asleep[engines]        engine-written: "ring my doorbell"
//   ChannelBlock channel[channels]          one per process of the family
//   per (channel, engine): command ring (app -> engine), reply ring, event ring
//   per socket slot: SocketBlock, tx ByteStream (app -> engine), rx ByteStream
//
// Who writes what: the app writes commands and the tx streams, consumes replies,
// events and the rx streams; the engine does the reverse and owns every SocketBlock
// field except the kick flag. The daemon trusts nothing it reads here (see
// daemon/core/shim_server.h): a corrupt app hurts only its own family.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>

#include "shim/byte_stream.h"
#include "shim/sleep_flag.h"
#include "shim/spsc_ring.h"

namespace utcp::shim {

inline constexpr std::uint32_t kRegionMagic = 0x70637475;  // "utcp"
inline constexpr std::uint32_t kProtocolVersion = 2;  // 2: kBarrier, kSendMore, kRecordEnd, SocketBlock::notsent
inline constexpr std::uint32_t kMaxEngines = 32;
inline constexpr std::uint32_t kMaxChannels = 64;  // processes of one family at a time

struct Geometry {
  std::uint32_t engines = 1;
  std::uint32_t channels = 64;   // processes of a family at once (reloads overlap)
  std::uint32_t sockets = 16384; // memory is committed only for slots in use
  std::uint32_t command_capacity = 256;  // entries, per (channel, engine)
  std::uint32_t reply_capacity = 256;
  std::uint32_t event_capacity = 4096;
  std::uint32_t stream_capacity = 64 * 1024;  // bytes, per socket and direction

  bool valid() const;
};

// Readiness and state of a socket slot, published by the engine(s) in SocketBlock::state.
namespace state {
inline constexpr std::uint32_t kConnected = 1u << 0;   // handshake done (connect() succeeded)
inline constexpr std::uint32_t kRxEof = 1u << 1;       // peer's FIN: all data is in rx
inline constexpr std::uint32_t kError = 1u << 2;       // SocketBlock::error is set (reset, timeout)
inline constexpr std::uint32_t kTxShut = 1u << 3;      // no more sending (shutdown or closed)
inline constexpr std::uint32_t kHangup = 1u << 4;      // both directions finished (EPOLLHUP)
inline constexpr std::uint32_t kListening = 1u << 5;
inline constexpr std::uint32_t kConnecting = 1u << 6;  // SYN sent, no answer yet
inline constexpr std::uint32_t kRxShut = 1u << 7;      // shutdown(SHUT_RD) by the app
}  // namespace state

struct alignas(64) RegionHeader {
  std::uint32_t magic = kRegionMagic;
  std::uint32_t version = kProtocolVersion;
  Geometry geometry;  // informational copy for the app; the daemon never reads it back
};

struct alignas(64) ChannelBlock {
  SleepFlag app_asleep;  // app-written: number of its threads about to sleep
  std::atomic<std::uint32_t> event_overflow{0};  // engine sets: an event ring was full
};

struct alignas(64) SocketBlock {
  std::atomic<std::uint32_t> generation{0};  // engine: bumped when the slot is reused
  std::atomic<std::uint32_t> state{0};       // engine: state:: bits
  std::atomic<std::int32_t> error{0};        // engine: errno for state::kError
  std::atomic<std::uint64_t> acceptable{0};  // engines: bit e = engine e has a connection to accept
  std::atomic<std::uint32_t> rx_blocked{0};  // engine: it waits for room in rx (kick when freed)
  std::atomic<std::uint32_t> kick{0};        // app: a kick command is in flight (coalescing)
  // engine: bytes its send buffer holds that were never sent; with what tx holds, the
  // app's measure for TCP_NOTSENT_LOWAT (Linux: write_seq - snd_nxt).
  std::atomic<std::uint32_t> notsent{0};
};

// --- rings ---
enum class Op : std::uint16_t {
  kSocket = 1,  // allocate a slot on this engine             -> slot, generation
  kBind,        // endpoint, a = SO_REUSEADDR, b = SO_REUSEPORT -> 0 / -errno; endpoint = bound
  kListen,      // endpoint (bound), value = backlog, a/b as kBind; every engine gets one
  kAccept,      // from this engine's share; a = the caller's home engine -> value = new slot,
                //   value2 = its generation, endpoint = peer
  kConnect,     // endpoint                                   -> 0 / -EINPROGRESS / -errno
  kShutdown,    // a = SHUT_RD / SHUT_WR / SHUT_RDWR
  kSetOption,   // a = level, b = name, value                 -> 0 / -errno
  kGetOption,   // a = level, b = name                        -> value
  kGetName,     //                                            -> endpoint
  kGetPeer,     //                                            -> endpoint
  kTcpInfo,     //                                            -> info in the reply payload
  kKick,        // no reply: tx has new data or rx has room again
  kWatch,       // no reply: this channel wants this slot's events (after fork)
  kClose,       // no reply: release this engine's share (listener parts, failed sockets)
  kBarrier,     // -> 0, once this engine has handled everything its mailbox held before
                //   (the control thread's releases): makes a listener's close synchronous
  kSendMore,    // no reply: a = 1: what tx holds from now on is MSG_MORE data (held like
                //   TCP_CORK); a = 0: a send without MSG_MORE followed, release it
  kRecordEnd,   // no reply: MSG_EOR; value = tx's byte count (ByteStream::written) at the
                //   record's end
};

// TCP_CONGESTION travels by number (kSetOption value, kGetOption reply); the library
// maps Linux's names ("reno", "cubic") to these.
inline constexpr std::int64_t kCongestionReno = 1;
inline constexpr std::int64_t kCongestionCubic = 2;

// Command::flags
inline constexpr std::uint16_t kNoReply = 1;  // kSetOption whose outcome the app knows already

struct Command {
  std::uint32_t tag = 0;  // echoed in the reply
  Op op = Op::kKick;
  std::uint16_t flags = 0;
  std::uint32_t slot = 0;
  std::uint32_t generation = 0;
  std::int32_t a = 0;
  std::int32_t b = 0;
  std::uint32_t ip = 0;    // host byte order
  std::uint16_t port = 0;  // host byte order
  std::uint16_t pad2 = 0;
  std::int64_t value = 0;  // option value (seconds, bytes, booleans)
  std::int64_t value2 = 0;
  std::uint8_t reserved[16] = {};
};
static_assert(sizeof(Command) == 64);

// The TCP_INFO fields an engine can fill (Linux struct tcp_info units: microseconds, bytes).
struct InfoPayload {
  std::uint8_t state = 0;  // Linux TCP_* state number
  std::uint8_t options = 0;  // TCPI_OPT_* bits
  std::uint8_t snd_wscale = 0;
  std::uint8_t rcv_wscale = 0;
  std::uint32_t retransmits = 0;
  std::uint32_t rto_us = 0;
  std::uint32_t snd_mss = 0;
  std::uint32_t rcv_mss = 0;
  std::uint32_t unacked = 0;  // segments in flight (approximate: bytes / mss)
  std::uint32_t rtt_us = 0;
  std::uint32_t rttvar_us = 0;
  std::uint32_t snd_ssthresh = 0;
  std::uint32_t snd_cwnd = 0;  // segments
  std::uint32_t rcv_space = 0;
  std::uint32_t total_retrans = 0;
  std::uint32_t advmss = 0;
  std::uint64_t bytes_acked = 0;
  std::uint64_t bytes_received = 0;
  std::uint32_t segs_out = 0;
  std::uint32_t segs_in = 0;
  std::uint32_t notsent_bytes = 0;
  std::uint32_t unacked_bytes = 0;  // sent and not acknowledged (SIOCOUTQ)
  std::uint32_t snd_wnd = 0;
};

struct Reply {
  std::uint32_t tag = 0;
  std::int32_t result = 0;  // >= 0 or -errno
  std::uint32_t slot = 0;
  std::uint32_t generation = 0;
  std::uint32_t ip = 0;
  std::uint16_t port = 0;
  std::uint16_t pad = 0;
  std::int64_t value = 0;
  std::int64_t value2 = 0;
  InfoPayload info;
};

// "The state or the streams of this slot changed": the app looks at the SocketBlock.
struct Event {
  std::uint32_t slot = 0;
  std::uint32_t generation = 0;
};

using CommandRing = SpscRing<Command>;
using ReplyRing = SpscRing<Reply>;
using EventRing = SpscRing<Event>;

// Byte offsets of every part, from the geometry alone.
class Layout {
 public:
  explicit Layout(const Geometry& g);

  const Geometry& geometry() const { return g_; }
  std::size_t total_bytes() const { return total_; }

  std::size_t engine_flag(std::uint32_t e) const { return flags_ + e * sizeof(SleepFlag); }
  std::size_t channel(std::uint32_t c) const { return channels_ + c * sizeof(ChannelBlock); }
  std::size_t command_ring(std::uint32_t c, std::uint32_t e) const { return pair(c, e); }
  std::size_t reply_ring(std::uint32_t c, std::uint32_t e) const { return pair(c, e) + cmd_bytes_; }
  std::size_t event_ring(std::uint32_t c, std::uint32_t e) const {
    return pair(c, e) + cmd_bytes_ + reply_bytes_;
  }
  std::size_t socket(std::uint32_t s) const { return sockets_ + s * socket_bytes_; }
  std::size_t tx_stream(std::uint32_t s) const { return socket(s) + sizeof(SocketBlock); }
  std::size_t rx_stream(std::uint32_t s) const { return tx_stream(s) + stream_bytes_; }

 private:
  std::size_t pair(std::uint32_t c, std::uint32_t e) const {
    return rings_ + (std::size_t{c} * g_.engines + e) * pair_bytes_;
  }

  Geometry g_;
  std::size_t flags_ = 0, channels_ = 0, rings_ = 0, sockets_ = 0, total_ = 0;
  std::size_t cmd_bytes_ = 0, reply_bytes_ = 0, event_bytes_ = 0, pair_bytes_ = 0;
  std::size_t stream_bytes_ = 0, socket_bytes_ = 0;
};

// Typed access to a mapped region. Both sides use it; neither trusts what it reads.
class RegionView {
 public:
  RegionView(void* base, const Geometry& g) : base_(static_cast<std::byte*>(base)), layout_(g) {}

  // Daemon only: writes a fresh region (header, flags, rings, socket blocks).
  void init();
  // Daemon only, before channel c goes to a new process (every engine let go of it):
  // empty rings and a fresh block, so nothing the dead process queued is run or read.
  void reset_channel(std::uint32_t c) const;

  const Layout& layout() const { return layout_; }
  RegionHeader& header() const { return *at<RegionHeader>(0); }
  SleepFlag& engine_flag(std::uint32_t e) const { return *at<SleepFlag>(layout_.engine_flag(e)); }
  ChannelBlock& channel(std::uint32_t c) const { return *at<ChannelBlock>(layout_.channel(c)); }
  SocketBlock& socket(std::uint32_t s) const { return *at<SocketBlock>(layout_.socket(s)); }
  void* command_ring(std::uint32_t c, std::uint32_t e) const { return base_ + layout_.command_ring(c, e); }
  void* reply_ring(std::uint32_t c, std::uint32_t e) const { return base_ + layout_.reply_ring(c, e); }
  void* event_ring(std::uint32_t c, std::uint32_t e) const { return base_ + layout_.event_ring(c, e); }
  void* tx_stream(std::uint32_t s) const { return base_ + layout_.tx_stream(s); }
  void* rx_stream(std::uint32_t s) const { return base_ + layout_.rx_stream(s); }

 private:
  template <class T>
  T* at(std::size_t offset) const {
    return reinterpret_cast<T*>(base_ + offset);
  }

  std::byte* base_;
  Layout layout_;
};

}  // namespace utcp::shim
