// Counter snapshots and per-engine configuration (read stats.h first): the pure
// pieces of the engine threads, so the formats and the config mapping are unit-tested.
#include "daemon/core/stats.h"

#include "daemon/core/options.h"

namespace utcp::daemon {

CounterSnapshot snapshot(const stack::engine::EngineCounters& engine,
                         const ServiceCounters& services, const ShimCounters& shim,
                         const stack::io::FaultInjector* fault) {
  CounterSnapshot snap;
  auto add = [&snap](std::string_view name, std::uint64_t value) {
    snap.push_back({std::string(name), value});
  };
  engine.for_each(add);
  services.for_each(add);
  shim.for_each(add);
  if (fault != nullptr) {
    for (const auto& [dir, st] : {std::pair{"rx", &fault->rx_stats()}, std::pair{"tx", &fault->tx_stats()}}) {
      const std::string p = std::string("fault_") + dir + "_";
      add(p + "lost", st->lost);
      add(p + "duplicated", st->duplicated);
      add(p + "reordered", st->reordered);
      add(p + "corrupted", st->corrupted);
      add(p + "delayed", st->delayed);
    }
  }
  return snap;
}

std::string format_snapshot(std::uint16_t engine, const CounterSnapshot& snap) {
  std::string out;
  const std::string prefix = "engine " + std::to_string(engine) + " ";
  for (const CounterLine& line : snap) {
    out += prefix;
    out += line.name;
    out += ' ';
    out += std::to_string(line.value);
    out += '\n';
  }
  return out;
}

stack::engine::EngineConfig engine_config(const Options& opts, std::uint16_t engine,
                                          std::uint16_t engine_count,
                                          const stack::rss::Key& rss_key,
                                          const stack::rss::Reta& reta,
                                          const stack::isn::Secret& secret) {
  stack::engine::EngineConfig cfg;
  cfg.ip = opts.ip;
  cfg.prefix_len = opts.prefix_len;
  cfg.gateway = opts.gateway;
  cfg.tcp.mtu = opts.mtu;
  cfg.engine_index = engine;
  cfg.engine_count = engine_count;
  cfg.rss_key = rss_key;
  cfg.reta = reta;
  // One secret for all engines: ISNs and SYN cookies stay valid whichever engine a
  // flow's packets reach while steering settles.
  cfg.secret = secret;
  return cfg;
}

}  // namespace utcp::daemon
