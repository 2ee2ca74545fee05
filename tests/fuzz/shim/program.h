// The input format of fuzz_shim, shared by the decoder (shim_world.cc) and the seed
// writer (tests/fuzz/seeds/): byte 0 picks the attacked region's geometry (Config
// bits), then operations, each an Op byte (modulo kOpCount) and a fixed number of
// argument bytes. Missing bytes read as 0.
//
// Argument bytes, by name:
//   chan      the attacking process's channel (modulo the geometry's channels)
//   slot_sel  < 0xc0: a slot learned from a reply (modulo their number); else slot & 0x3f
//   gen_sel   % 8: 0-3 the learned generation, 4 +1, 5 zero, 6 -1, 7 0xffffffff
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace utcp::fuzz::shim_program {

namespace config {
inline constexpr std::uint8_t kTwoEngines = 1 << 0;    // odd slots belong to an absent engine 1
inline constexpr std::uint8_t kSmallRings = 1 << 1;    // 4-entry command/reply rings, 8 events
inline constexpr std::uint8_t kTinyStreams = 1 << 2;   // 64-byte streams
inline constexpr std::uint8_t kFewSockets = 1 << 3;    // 4 slots
inline constexpr std::uint8_t kFourChannels = 1 << 4;  // else 2
}  // namespace config

enum class Op : std::uint8_t {
  kPost,      // chan op slot_sel gen_sel a b ip port value(2) flags: a command, pushed properly
  kRawCmd,    // chan head_mode bytes[24]: the first 24 bytes of a command written into the
              //   ring's next slot, then the head moved (mode: publish, overrun, back, not, +n)
  kScribble,  // area idx mode value(4): a 32-bit store into app-writable memory
  kWrite,     // slot_sel len: send(), as the app does (stream write + kick)
  kRead,      // slot_sel len: recv(), as the app does (stream read, kick when rx was blocked)
  kKick,      // chan slot_sel
  kMail,      // kind chan slot_sel gen_sel: what the control thread would post
  kClient,    // action port len: engine A's sockets (connect, send, drain, close, abort)
  kStep,      // n: 1 + n % 32 rounds, idle rounds jump to the next deadline
  kSettle,    // n: 1 + n % 8 rounds, 1 ms apart
  kSleep,     // -: the engine announces a sleep and ends it
  kVictim,    // n: the other region's connection carries data both ways, intact
  kCollect,   // chan: replies and events of that channel (learns slots)
  kCount
};

inline constexpr std::size_t kArgs[] = {11, 26, 7, 2, 2, 2, 4, 3, 1, 1, 1, 1, 1};
static_assert(sizeof(kArgs) / sizeof(kArgs[0]) == static_cast<std::size_t>(Op::kCount));

inline constexpr std::size_t kMaxOps = 300;

class Writer {
 public:
  explicit Writer(std::uint8_t config) { bytes_.push_back(config); }
  Writer& op(Op o, std::vector<std::uint8_t> args = {}) {
    bytes_.push_back(static_cast<std::uint8_t>(o));
    args.resize(kArgs[static_cast<std::size_t>(o)], 0);
    bytes_.insert(bytes_.end(), args.begin(), args.end());
    return *this;
  }
  const std::vector<std::uint8_t>& bytes() const { return bytes_; }

 private:
  std::vector<std::uint8_t> bytes_;
};

}  // namespace utcp::fuzz::shim_program
