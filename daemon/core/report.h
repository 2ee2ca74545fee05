// What `utcp stat` and `utcp ss` print (DESIGN.md §4), from the engines' reports:
// pure formatting, so the control thread only collects and sends, and the formats
// are unit-tested. An engine that did not answer in time is a nullopt: the text says
// so, the JSON marks it, and the totals leave it out.
//
// stat: one row per counter, a column per engine and the total; counters that are zero
// everywhere are left out unless `all`. JSON: {"engines":[{"engine":0,"answered":true,
// "counters":{...}},...],"total":{...}}.
// ss: like Linux's `ss -tni`: State, Recv-Q, Send-Q, local and peer address, then an
// indented line of TCP details (engine, rtt, rto, mss, cwnd, retransmits, bytes). As
// in ss, LISTEN rows show the accept queue and the backlog as Recv-Q and Send-Q.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "daemon/core/stats.h"

namespace utcp::daemon {

using Reports = std::vector<std::optional<EngineReport>>;

struct StatFormat {
  bool json = false;
  bool all = false;  // zero counters too
};
std::string format_stat(const Reports& reports, StatFormat f);

enum class SocketFilter : std::uint8_t { kConnections, kListeners, kAll };
struct SsFormat {
  bool json = false;
  SocketFilter filter = SocketFilter::kConnections;
};
std::string format_ss(const Reports& reports, SsFormat f);

// ss's name of a state: ESTAB, SYN-SENT, SYN-RECV, FIN-WAIT-1, ..., LISTEN, UNCONN.
const char* ss_state_name(stack::tcp::State s);

}  // namespace utcp::daemon
