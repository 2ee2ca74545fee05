// What utcpd reports per engine (DESIGN.md §4 "utcp stat"): the engine's counters and
// the diagnostic services', as a snapshot an engine thread copies out for the control
// thread, printed as "engine N name value" lines (stable names, one per line).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "daemon/core/services.h"
#include "daemon/core/shim_server.h"
#include "stack/engine/counters.h"
#include "stack/engine/engine.h"
#include "stack/engine/engine_config.h"
#include "stack/io/fault_injector.h"
#include "stack/isn/isn.h"
#include "stack/rss/rss.h"

namespace utcp::daemon {

struct Options;

struct CounterLine {
  std::string name;
  std::uint64_t value = 0;
};
using CounterSnapshot = std::vector<CounterLine>;

// What an engine copies out for the control thread: `utcp stat` reads the counters,
// `utcp ss` the sockets (filled only when asked for: it walks the socket table).
struct EngineReport {
  CounterSnapshot counters;
  std::vector<stack::engine::SocketReport> sockets;
};

// With --fault, also what the injector did per direction (fault_rx_lost, ...), so a
// test can prove the wire was impaired.
CounterSnapshot snapshot(const stack::engine::EngineCounters& engine,
                         const ServiceCounters& services, const ShimCounters& shim,
                         const stack::io::FaultInjector* fault = nullptr);
// "engine N name value\n" per line.
std::string format_snapshot(std::uint16_t engine, const CounterSnapshot& snap);

// Engine e of n's configuration from the command line and what the port decided.
stack::engine::EngineConfig engine_config(const Options& opts, std::uint16_t engine,
                                          std::uint16_t engine_count,
                                          const stack::rss::Key& rss_key,
                                          const stack::rss::Reta& reta,
                                          const stack::isn::Secret& secret);

}  // namespace utcp::daemon
