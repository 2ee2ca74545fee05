// utcpd's command line (DESIGN.md §4): parsed into an immutable Options value that
// main() hands to the port, the engines and the services. Pure: no DPDK, no I/O.
// Invariant: a parse either yields complete, validated Options, the help request,
// or exactly one line naming the bad flag or value (utcpd exits 2 with it).
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "daemon/core/log.h"
#include "stack/io/fault_injector.h"
#include "stack/wire/addresses.h"

namespace utcp::daemon {

inline constexpr std::string_view kDefaultControlPath = "/run/utcp/utcpd.sock";
// Who may attach besides root (DESIGN.md §4, docs/security.md): the control socket's
// group and mode. The install step creates the group; utcpd never does.
inline constexpr std::string_view kDefaultControlGroup = "utcp";
inline constexpr std::uint32_t kDefaultControlMode = 0660;

enum class Hugepages : std::uint8_t { kAuto, kOn, kOff };
enum class PollMode : std::uint8_t { kSleep, kBusy };

struct Options {
  std::string devargs;                  // --dev: a PCI address or a vdev
  stack::wire::Ipv4Addr ip;             // --ip A.B.C.D/N
  int prefix_len = 24;
  std::optional<stack::wire::Ipv4Addr> gateway;
  std::vector<unsigned> cores;          // empty: one engine, chosen by dpdk_io
  std::string control_path{kDefaultControlPath};  // where apps attach (libutcp.so)
  std::string control_group{kDefaultControlGroup};  // --group: a name or a number
  bool control_group_given = false;     // --group was on the command line
  std::uint32_t control_mode = kDefaultControlMode;  // --mode: the socket file's mode
  std::string file_prefix;              // empty: main() derives "utcpd-<pid>"
  Hugepages hugepages = Hugepages::kAuto;
  PollMode poll = PollMode::kSleep;
  std::uint16_t echo_port = 0;          // 0: service off (every service is off by default)
  std::uint16_t discard_port = 0;
  std::uint16_t http_port = 0;
  std::optional<stack::wire::Ipv4Addr> ping;  // --ping: engine 0 pings it once a second
  std::optional<stack::io::FaultSpec> fault;
  std::string fault_text;               // as given, for the start-up log
  std::string pcap_path;                // --pcap: capture every frame (engine e > 0: PATH.e)
  std::uint16_t mtu = 1500;
  LogLevel log_level = LogLevel::kNotice;  // utcpd's own messages (log.h)
  std::vector<std::string> dpdk_log_levels;  // EAL --log-level TYPE:LEVEL, in order
  // Not a flag: net.ipv4.ip_unprivileged_port_start of utcpd's namespace, read once at
  // start (main.cc); binds below it need CAP_NET_BIND_SERVICE.
  std::uint32_t unprivileged_port_start = 1024;
};

struct ParseOutcome {
  enum class Kind : std::uint8_t { kRun, kHelp, kError };
  Kind kind = Kind::kError;
  Options options;    // kRun
  std::string error;  // kError: one line, naming the flag
};

// args excludes argv[0]. Accepts "--flag value" and "--flag=value".
ParseOutcome parse_options(std::span<const std::string_view> args);

// "0", "0,1", "0-3", "0,2-3": CPU ids < 1024, no duplicates. nullopt when malformed.
std::optional<std::vector<unsigned>> parse_core_list(std::string_view text);

// The --help text.
std::string usage();

}  // namespace utcp::daemon
