// Sim: the deterministic two-engine loop. Engines are polled A then B, twice when
// the first round found nothing (a frame A's device released during B's poll is
// then still seen before time jumps).
#include "stack/engine/support/sim.h"

#include <algorithm>

namespace utcp::stack::engine::test {

EngineConfig test_engine_config(wire::Ipv4Addr ip, std::uint8_t secret_seed) {
  EngineConfig cfg;
  cfg.ip = ip;
  cfg.prefix_len = 24;
  cfg.max_connections = 4096;
  cfg.max_sockets = 4096 + 64;
  cfg.tcp.msl = std::chrono::seconds(1);  // TIME-WAIT 2 s: churn tests end sooner
  for (std::size_t i = 0; i < cfg.secret.size(); ++i) {
    cfg.secret[i] = static_cast<std::uint8_t>(secret_seed * 31 + i);
  }
  return cfg;
}

Sim::Sim(const SimOptions& opts)
    : opts_(opts), link_(opts.link), now_(instant_from_us(1'000'000'000)) {
  io::PacketIo* io_a = &link_.a();
  io::PacketIo* io_b = &link_.b();
  if (opts.fault.active()) {
    fault_a_ = std::make_unique<io::FaultInjector>(
        link_.a(), io::FaultSpec{io::FaultConfig{}, opts.fault, opts.seed * 2 + 1});
    fault_b_ = std::make_unique<io::FaultInjector>(
        link_.b(), io::FaultSpec{io::FaultConfig{}, opts.fault, opts.seed * 2 + 2});
    io_a = fault_a_.get();
    io_b = fault_b_.get();
  }
  a_ = std::make_unique<Engine>(opts.a, *io_a, now_);
  b_ = std::make_unique<Engine>(opts.b, *io_b, now_);
}

Sim::~Sim() {
  // Engines first: they hand their buffers back through the injectors.
  a_.reset();
  b_.reset();
}

std::size_t Sim::poll_both() { return a_->poll(now_) + b_->poll(now_); }

bool Sim::step() {
  ++steps_;
  std::size_t work = poll_both();
  if (work == 0) {
    work = poll_both();
  }
  if (work > 0) {
    now_ += opts_.step_cost;
    return true;
  }
  const Instant next = std::min(a_->next_deadline(), b_->next_deadline());
  if (next == kNever) {
    return false;
  }
  now_ = std::max(next, now_ + std::chrono::microseconds(1));
  return true;
}

void Sim::run_for(Duration d) {
  const Instant end = now_ + d;
  while (now_ < end) {
    std::size_t work = poll_both();
    if (work > 0) {
      now_ += opts_.step_cost;
      continue;
    }
    const Instant next = std::min({a_->next_deadline(), b_->next_deadline(), end});
    now_ = std::max(next, now_ + std::chrono::microseconds(1));
  }
  poll_both();
}

}  // namespace utcp::stack::engine::test
