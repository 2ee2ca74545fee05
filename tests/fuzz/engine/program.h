// The input format of fuzz_engine, shared by the decoder (fuzz_engine.cc) and the seed
// writer (tests/fuzz/seeds/): byte 0 holds Config bits, then one operation after the
// other, each an Op byte (taken modulo kOpCount) and a fixed number of argument bytes,
// so a mutation inside one operation never shifts the ones after it (kRaw alone carries
// a length-prefixed frame). Missing bytes read as 0.
//
// Argument bytes, by name:
//   es     bit 0: engine (0 = a, 1 = b); bits 1-3: application socket slot (0-7)
//   port   index into kPorts
//   addr   index into the destinations of kConnect (see fuzz_engine.cc)
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace utcp::fuzz::engine_program {

// Byte 0: what differs from the defaults of both engines.
namespace config {
inline constexpr std::uint8_t kNoTimestamps = 1 << 0;
inline constexpr std::uint8_t kNoSack = 1 << 1;
inline constexpr std::uint8_t kNoWindowScale = 1 << 2;
inline constexpr std::uint8_t kNewReno = 1 << 3;
inline constexpr std::uint8_t kNoSynCookies = 1 << 4;
inline constexpr std::uint8_t kOffloads = 1 << 5;     // link: checksum offloads and TSO
inline constexpr std::uint8_t kSmallMtu = 1 << 6;     // link MTU 576
inline constexpr std::uint8_t kSmallBuffers = 1 << 7; // 4 KiB socket buffers (else 64 KiB)
}  // namespace config

enum class Op : std::uint8_t {
  kSocket,      // es
  kBind,        // es port flags(bit 0 SO_REUSEADDR, bit 1 SO_REUSEPORT, bits 2-3 address)
  kListen,      // es backlog(int8)
  kConnect,     // es addr port
  kAccept,      // es(listener) -> the first free slot of that engine
  kSend,        // es len flags(bit 0 MSG_MORE)
  kRecv,        // es len flags(bit 0 MSG_PEEK)
  kShutdown,    // es how(0 RD, 1 WR, 2 RDWR)
  kClose,       // es
  kAbort,       // es
  kSetOpt,      // es which value
  kStep,        // rounds: 1 + n % 64 rounds, idle jumps of at most 250 ms
  kJump,        // index into kJumps: the clock moves, then 16 short rounds
  kCraftTcp,    // flow flags seq_mode seq_delta(2) ack_mode ack_delta(2) window(2) opts len fill src_port(2)
  kCraftOther,  // kind to a b c(2): ARP, ICMP echo, ICMP error quoting a flow, other ICMP
  kMutate,      // frame what d1(2) d2(2): a recent TCP frame, changed, sent again
  kFault,       // to kind count bit(2): the next frames to engine `to`
  kEvents,      // e: drain_events, every event must name a live application socket
  kQuery,       // es: getsockname, getpeername, info, options, readiness, SO_ERROR
  kPing,        // e addr
  kRaw,         // to fix len bytes[len]: a frame from the input (fix: bit 0 MAC, bit 1 IPv4, bit 2 TCP checksum)
  kCount
};

inline constexpr std::size_t kArgs[] = {
    1, 3, 2, 3, 1, 3, 3, 2, 1, 1, 3, 1, 1, 15, 6, 6, 5, 1, 1, 2, 3 /* + len */};
static_assert(sizeof(kArgs) / sizeof(kArgs[0]) == static_cast<std::size_t>(Op::kCount));

inline constexpr std::uint16_t kPorts[] = {80, 81, 8080, 0, 443, 32768, 5000, 65535};
inline constexpr std::size_t kMaxOps = 400;

// Builds programs for the seed corpus.
class Writer {
 public:
  explicit Writer(std::uint8_t config) { bytes_.push_back(config); }
  Writer& op(Op o, std::vector<std::uint8_t> args) {
    bytes_.push_back(static_cast<std::uint8_t>(o));
    args.resize(kArgs[static_cast<std::size_t>(o)], 0);
    bytes_.insert(bytes_.end(), args.begin(), args.end());
    return *this;
  }
  Writer& raw(std::uint8_t to, std::uint8_t fix, const std::vector<std::uint8_t>& frame) {
    op(Op::kRaw, {to, fix, static_cast<std::uint8_t>(frame.size())});
    bytes_.insert(bytes_.end(), frame.begin(), frame.begin() + (frame.size() & 0xff));
    return *this;
  }
  static std::uint8_t es(int engine, int slot) {
    return static_cast<std::uint8_t>((engine & 1) | ((slot & 7) << 1));
  }
  const std::vector<std::uint8_t>& bytes() const { return bytes_; }

 private:
  std::vector<std::uint8_t> bytes_;
};

}  // namespace utcp::fuzz::engine_program
