// FaultInjector: per frame, each with its own draw, loss, duplication (copied before
// the damage), corruption, reordering; then it waits in its direction's hold heap until
// due. Policies: fault_injector.h. Invariant: only faults with probability above zero
// draw, so a seed gives the same faults for the same config and calls.
#include "stack/io/fault_injector.h"

#include <algorithm>
#include <cstring>

#include "stack/io/soft_offload.h"

namespace utcp::stack::io {

namespace {

// Frames handed to inner.tx_burst per call when flushing the hold.
constexpr std::size_t kTxBatch = 64;
// Stream salts, so RX and TX draw from unrelated sequences of one seed.
constexpr std::uint64_t kRxSalt = 0x5258'5f73'7472'6561ull;
constexpr std::uint64_t kTxSalt = 0x5458'5f73'7472'6561ull;

Prng stream(std::uint64_t seed, std::uint64_t salt) {
  std::uint64_t state = seed ^ salt;
  return Prng(Prng::splitmix64(state));
}

bool roll(Prng& prng, double p) { return p > 0 && prng.chance(p); }

FaultConfig sanitized(FaultConfig cfg) {
  // has_room() keeps space for a frame and its duplicate.
  cfg.max_held = std::max<std::size_t>(cfg.max_held, 2);
  return cfg;
}

}  // namespace

bool FaultConfig::active() const {
  return loss > 0 || duplicate > 0 || reorder > 0 || corrupt > 0 || delay > Duration::zero();
}

FaultInjector::FaultInjector(PacketIo& inner, const FaultSpec& spec)
    : inner_(inner),
      rx_{sanitized(spec.rx), stream(spec.seed, kRxSalt), {}, {}, 0},
      tx_{sanitized(spec.tx), stream(spec.seed, kTxSalt), {}, {}, 0} {
  rx_.held.reserve(rx_.cfg.max_held);
  tx_.held.reserve(tx_.cfg.max_held);
  batch_.reserve(kTxBatch);
  frames_.reserve(kTxBatch);
}

FaultInjector::~FaultInjector() {
  for (const Held& h : rx_.held) inner_.free(h.frame);
  for (const Held& h : tx_.held) inner_.free(h.frame);
}

std::size_t FaultInjector::rx_burst(std::span<PacketBuf*> out, Instant now) {
  flush_tx(now);
  if (!rx_.cfg.active()) return inner_.rx_burst(out, now);
  // Pull only what the hold can take, a duplicate included; the rest waits in inner.
  const std::size_t room = (rx_.cfg.max_held - rx_.held.size()) / 2;
  const std::size_t pulled = inner_.rx_burst(out.first(std::min(out.size(), room)), now);
  for (std::size_t i = 0; i < pulled; ++i) impair(rx_, Dir::kRx, out[i], now);
  std::size_t n = 0;
  while (n < out.size() && due(rx_, now)) out[n++] = pop(rx_);
  return n;
}

std::size_t FaultInjector::tx_burst(std::span<PacketBuf* const> pkts, Instant now) {
  if (!tx_.cfg.active()) return inner_.tx_burst(pkts, now);
  std::size_t taken = 0;
  while (taken < pkts.size() && has_room(tx_)) impair(tx_, Dir::kTx, pkts[taken++], now);
  flush_tx(now);
  return taken;
}

Instant FaultInjector::next_deadline() const {
  Instant deadline = inner_.next_deadline();
  if (!rx_.held.empty()) deadline = std::min(deadline, rx_.held.front().due);
  if (!tx_.held.empty()) deadline = std::min(deadline, tx_.held.front().due);
  return deadline;
}

bool FaultInjector::after(const Held& a, const Held& b) {
  return a.due != b.due ? a.due > b.due : a.order > b.order;
}

void FaultInjector::impair(Direction& d, Dir dir, PacketBuf* frame, Instant now) {
  if (roll(d.prng, d.cfg.loss)) {
    ++d.stats.lost;
    inner_.free(frame);
    return;
  }
  PacketBuf* copy = nullptr;
  if (roll(d.prng, d.cfg.duplicate)) {
    copy = copy_of(*frame);
    if (copy != nullptr) ++d.stats.duplicated;
  }
  if (roll(d.prng, d.cfg.corrupt)) corrupt(d, dir, *frame);
  Instant due_at = now + d.cfg.delay;
  if (d.cfg.delay > Duration::zero()) ++d.stats.delayed;
  if (roll(d.prng, d.cfg.reorder)) {
    due_at += d.cfg.reorder_delay;
    ++d.stats.reordered;
  }
  hold(d, frame, due_at);
  if (copy != nullptr) hold(d, copy, due_at);
}

void FaultInjector::corrupt(Direction& d, Dir dir, PacketBuf& frame) {
  if (frame.len == 0) return;
  if (dir == Dir::kTx) {
    if (frame.tso_segsz != 0) return;
    // The device would checksum the damaged bytes; damage on a wire comes after.
    if (frame.tx_ip_checksum || frame.tx_l4_checksum) fill_tx_checksums(frame);
  } else {
    // The device's verdict was about the frame before the damage.
    frame.rx_ip_checksum_ok = false;
    frame.rx_l4_checksum_ok = false;
  }
  const std::uint64_t bit = d.prng.below(std::uint64_t{frame.len} * 8);
  frame.data[bit / 8] ^= static_cast<std::uint8_t>(1u << (bit % 8));
  ++d.stats.corrupted;
}

PacketBuf* FaultInjector::copy_of(const PacketBuf& frame) {
  PacketBuf* copy = inner_.alloc();
  if (copy == nullptr) return nullptr;
  if (copy->capacity < frame.len) {
    inner_.free(copy);
    return nullptr;
  }
  std::uint8_t* const data = copy->data;
  const std::uint32_t capacity = copy->capacity;
  void* const owner = copy->owner;
  *copy = frame;  // metadata: RX verdicts or TX offload requests
  copy->data = data;
  copy->capacity = capacity;
  copy->owner = owner;
  std::memcpy(data, frame.data, frame.len);
  return copy;
}

void FaultInjector::hold(Direction& d, PacketBuf* frame, Instant due_at) {
  d.held.push_back(Held{due_at, d.next_order++, frame});
  std::push_heap(d.held.begin(), d.held.end(), after);
}

bool FaultInjector::due(const Direction& d, Instant now) const {
  return !d.held.empty() && d.held.front().due <= now;
}

PacketBuf* FaultInjector::pop(Direction& d) {
  std::pop_heap(d.held.begin(), d.held.end(), after);
  PacketBuf* frame = d.held.back().frame;
  d.held.pop_back();
  return frame;
}

void FaultInjector::flush_tx(Instant now) {
  while (due(tx_, now)) {
    batch_.clear();
    frames_.clear();
    while (batch_.size() < kTxBatch && due(tx_, now)) {
      std::pop_heap(tx_.held.begin(), tx_.held.end(), after);
      batch_.push_back(tx_.held.back());
      frames_.push_back(tx_.held.back().frame);
      tx_.held.pop_back();
    }
    const std::size_t sent = inner_.tx_burst(frames_, now);
    // Refused frames keep their place: same due time and arrival number.
    for (std::size_t i = sent; i < batch_.size(); ++i) {
      tx_.held.push_back(batch_[i]);
      std::push_heap(tx_.held.begin(), tx_.held.end(), after);
    }
    if (sent < batch_.size()) return;
  }
}

}  // namespace utcp::stack::io
