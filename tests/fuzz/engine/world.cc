// World: the round (observe, impair, inject, poll) and the flow observer.
#include "tests/fuzz/engine/world.h"

#include <algorithm>
#include <cstdio>
#include <cstring>

#include "stack/wire/ethernet.h"
#include "stack/wire/ipv4.h"

namespace utcp::fuzz {

namespace io = stack::io;

World::World(const se::test::SimOptions& opts)
    : sim_(opts), macs_{opts.link.mac_a, opts.link.mac_b}, now_(sim_.now()) {
  scratch_.reserve(64);
}

World::~World() {
  // Frames still in the World's hands go back to the link before the engines go.
  for (auto& held : held_) {
    for (io::PacketBuf* b : held) end_of(0).free(b);
    held.clear();
  }
}

io::PacketIo& World::end_of(int e) { return e == 0 ? sim_.link().a() : sim_.link().b(); }

std::size_t World::round() {
  std::size_t work = 0;
  for (int e = 0; e < 2; ++e) {
    pass_inbound(e);
    work += engine(e).poll(now_);
  }
  return work;
}

Instant World::next_deadline() {
  return std::min(engine(0).next_deadline(), engine(1).next_deadline());
}

void World::step(std::size_t rounds, Duration max_jump) {
  for (std::size_t i = 0; i < rounds; ++i) {
    if (round() > 0) {
      now_ += std::chrono::microseconds(5);  // a busy round costs time, as in Sim
      continue;
    }
    const Instant next = next_deadline();
    if (next == stack::kNever || next - now_ > max_jump) return;
    now_ = std::max(next, now_ + std::chrono::microseconds(1));
  }
}

void World::inject(int to, Frame frame) {
  if (injected_[to].size() < kMaxInjected) injected_[to].push_back(std::move(frame));
}

void World::add_fault(int to, Fault f) {
  if (faults_[to].size() < kMaxFaults) faults_[to].push_back(f);
}

void World::release_held() {
  for (int e = 0; e < 2; ++e) {
    faults_[e].clear();
    std::vector<io::PacketBuf*> held;
    held.swap(held_[e]);
    send(e, held);
  }
}

io::PacketBuf* World::copy(int to, std::span<const std::uint8_t> bytes) {
  // The sending side's pool, as if the other end had put the frame on the wire.
  io::PacketBuf* buf = end_of(1 - to).alloc();
  if (buf == nullptr) return nullptr;
  const std::size_t n = std::min<std::size_t>(bytes.size(), buf->capacity);
  if (n > 0) std::memcpy(buf->data, bytes.data(), n);
  buf->len = static_cast<std::uint32_t>(n);
  return buf;
}

void World::send(int to, std::vector<io::PacketBuf*>& bufs) {
  if (bufs.empty()) return;
  const std::size_t taken = end_of(1 - to).tx_burst(bufs, now_);
  for (std::size_t i = taken; i < bufs.size(); ++i) end_of(1 - to).free(bufs[i]);
  bufs.clear();
}

// Frames for engine `to`: what its peer sent (observed, then impaired), then what was
// held back last round (so it arrives behind newer frames), then crafted frames.
void World::pass_inbound(int to) {
  std::vector<io::PacketBuf*> out;
  std::vector<io::PacketBuf*> hold_next;
  io::PacketBuf* burst[32];
  for (;;) {
    const std::size_t n = end_of(to).rx_burst(burst, now_);
    for (std::size_t i = 0; i < n; ++i) {
      io::PacketBuf* buf = burst[i];
      observe(to, *buf);
      if (faults_[to].empty()) {
        out.push_back(buf);
        continue;
      }
      const Fault f = faults_[to].front();
      faults_[to].pop_front();
      switch (f.kind) {
        case FaultKind::kDrop:
          end_of(to).free(buf);
          break;
        case FaultKind::kDuplicate:
          out.push_back(buf);
          if (io::PacketBuf* dup = copy(to, buf->bytes())) out.push_back(dup);
          break;
        case FaultKind::kHold:
          hold_next.push_back(buf);
          break;
        case FaultKind::kFlip:
          if (buf->len > 0) buf->data[(f.bit / 8u) % buf->len] ^= static_cast<std::uint8_t>(1u << (f.bit % 8));
          out.push_back(buf);
          break;
      }
    }
    if (n < std::size(burst)) break;
  }
  out.insert(out.end(), held_[to].begin(), held_[to].end());
  held_[to] = std::move(hold_next);
  for (const Frame& f : injected_[to]) {
    if (io::PacketBuf* buf = copy(to, f)) out.push_back(buf);
  }
  injected_[to].clear();
  send(to, out);
}

void World::observe(int to, const io::PacketBuf& buf) {
  ++frames_seen_;
  const auto t = se::test::as_tcp(buf.bytes());
  if (!t) return;
  if (trace_frames_) {
    std::fprintf(stderr, "      %12.6f %c->%c %5u->%-5u flags %02x seq %10u ack %10u len %4zu win %5u\n",
                 static_cast<double>(stack::to_us(now_)) / 1e6, "ab"[1 - to], "ab"[to], t->tcp.src_port, t->tcp.dst_port, t->tcp.flags, t->tcp.seq.raw(),
                 t->tcp.ack.raw(), t->payload.size(), t->tcp.window);
  }
  recent_.push_back(SeenFrame{to, Frame(buf.data, buf.data + buf.len)});
  if (recent_.size() > kRecentFrames) recent_.pop_front();
  const wire::Endpoint src{t->ip.src, t->tcp.src_port}, dst{t->ip.dst, t->tcp.dst_port};
  auto it = std::find_if(flows_.begin(), flows_.end(),
                         [&](const FlowSeen& f) { return f.src == src && f.dst == dst; });
  if (it == flows_.end()) {
    if (flows_.size() >= kMaxFlows) return;
    FlowSeen f;
    f.src = src;
    f.dst = dst;
    flows_.push_back(f);
    it = flows_.end() - 1;
  }
  const std::uint32_t len = static_cast<std::uint32_t>(t->payload.size()) +
                            (t->tcp.has(wire::tcp_flags::kSyn) ? 1 : 0) +
                            (t->tcp.has(wire::tcp_flags::kFin) ? 1 : 0);
  it->to = to;
  it->seq = t->tcp.seq;
  it->end = t->tcp.seq + len;
  if (t->tcp.has(wire::tcp_flags::kAck)) {
    it->ack = t->tcp.ack;
    it->acked = true;
  }
  it->window = t->tcp.window;
  if (t->tcp.options.timestamps) it->ts = t->tcp.options.timestamps;
}

}  // namespace utcp::fuzz
