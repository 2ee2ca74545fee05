// utcpd's command-line parser (read options.h first). Each flag has one small parse
// step that either stores a validated value or returns the one-line error; nothing
// here touches the process (no exit, no printing), so every case is unit-tested.
#include "daemon/core/options.h"

#include <algorithm>
#include <charconv>
#include <functional>
#include <map>

namespace utcp::daemon {
namespace {

using stack::wire::Ipv4Addr;

constexpr unsigned kMaxCpu = 1023;
// 576 is the IPv4 minimum datagram every host accepts (RFC 791); 9000 is the common
// jumbo limit of the NICs DPDK drives.
constexpr unsigned kMinMtu = 576;
constexpr unsigned kMaxMtu = 9000;

template <class T>
std::optional<T> parse_number(std::string_view text, T lo, T hi) {
  T value{};
  const char* end = text.data() + text.size();
  auto [ptr, ec] = std::from_chars(text.data(), end, value);
  if (text.empty() || ec != std::errc{} || ptr != end || value < lo || value > hi) {
    return std::nullopt;
  }
  return value;
}

std::optional<std::uint32_t> parse_octal(std::string_view text) {
  std::uint32_t value{};
  const char* end = text.data() + text.size();
  auto [ptr, ec] = std::from_chars(text.data(), end, value, 8);
  if (text.empty() || ec != std::errc{} || ptr != end) return std::nullopt;
  return value;
}

std::optional<Ipv4Addr> parse_ip(std::string_view text) {
  Ipv4Addr addr;
  if (!Ipv4Addr::parse(std::string(text), addr)) return std::nullopt;
  return addr;
}

// Each parser returns an empty string on success, else what is wrong with the value.
using FlagParser = std::function<std::string(std::string_view value, Options& o)>;

std::string parse_ip_prefix(std::string_view v, Options& o) {
  const std::size_t slash = v.find('/');
  if (slash == std::string_view::npos) return "expected A.B.C.D/N";
  const auto ip = parse_ip(v.substr(0, slash));
  const auto len = parse_number<int>(v.substr(slash + 1), 1, 32);
  if (!ip || ip->is_unspecified()) return "bad address";
  if (!len) return "bad prefix length (1-32)";
  o.ip = *ip;
  o.prefix_len = *len;
  return {};
}

std::string parse_port(std::string_view v, std::uint16_t& out) {
  const auto port = parse_number<unsigned>(v, 1, 65535);
  if (!port) return "expected a TCP port 1-65535";
  out = static_cast<std::uint16_t>(*port);
  return {};
}

// DPDK's TYPE:LEVEL (type a glob); the level part is checked by EAL itself.
bool valid_dpdk_log_level(std::string_view v) {
  return !v.empty() && std::all_of(v.begin(), v.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           c == '.' || c == ':' || c == '_' || c == '*' || c == ',';
  });
}

const std::map<std::string_view, FlagParser>& flag_parsers() {
  static const std::map<std::string_view, FlagParser> parsers = {
      {"--dev",
       [](std::string_view v, Options& o) -> std::string {
         if (v.empty() || v.find_first_of(" \t") != std::string_view::npos) {
           return "expected a PCI address or a vdev such as net_tap0,iface=utcp0";
         }
         o.devargs = v;
         return {};
       }},
      {"--ip", parse_ip_prefix},
      {"--gateway",
       [](std::string_view v, Options& o) -> std::string {
         const auto gw = parse_ip(v);
         if (!gw || gw->is_unspecified()) return "expected A.B.C.D";
         o.gateway = *gw;
         return {};
       }},
      {"--ping",
       [](std::string_view v, Options& o) -> std::string {
         const auto to = parse_ip(v);
         if (!to || to->is_unspecified()) return "expected A.B.C.D";
         o.ping = *to;
         return {};
       }},
      {"--cores",
       [](std::string_view v, Options& o) -> std::string {
         auto cores = parse_core_list(v);
         if (!cores) return "expected a CPU list such as 0, 0,1 or 0-1";
         o.cores = std::move(*cores);
         return {};
       }},
      {"--control",
       [](std::string_view v, Options& o) -> std::string {
         if (v.empty() || v.size() >= 108) return "expected a unix socket path (< 108 bytes)";
         o.control_path = v;
         return {};
       }},
      {"--group",
       [](std::string_view v, Options& o) -> std::string {
         // Looked up when utcpd starts (control_access.h): parsing does no I/O.
         if (v.empty() || v.size() > 255 || v.find_first_of(" \t:/") != std::string_view::npos) {
           return "expected a group name or number";
         }
         o.control_group = v;
         o.control_group_given = true;
         return {};
       }},
      {"--mode",
       [](std::string_view v, Options& o) -> std::string {
         // Permission bits only: set-id and sticky bits mean nothing on a socket.
         const auto mode = v.size() >= 3 && v.size() <= 4 ? parse_octal(v) : std::nullopt;
         if (!mode || *mode > 0777) return "expected an octal mode such as 0660 (at most 0777)";
         o.control_mode = *mode;
         return {};
       }},
      {"--file-prefix",
       [](std::string_view v, Options& o) -> std::string {
         if (v.empty() || v.find('/') != std::string_view::npos) return "expected a name without '/'";
         o.file_prefix = v;
         return {};
       }},
      {"--hugepages",
       [](std::string_view v, Options& o) -> std::string {
         if (v == "auto") o.hugepages = Hugepages::kAuto;
         else if (v == "on") o.hugepages = Hugepages::kOn;
         else if (v == "off") o.hugepages = Hugepages::kOff;
         else return "expected auto, on or off";
         return {};
       }},
      {"--poll",
       [](std::string_view v, Options& o) -> std::string {
         if (v == "sleep") o.poll = PollMode::kSleep;
         else if (v == "busy") o.poll = PollMode::kBusy;
         else return "expected sleep or busy";
         return {};
       }},
      {"--echo", [](std::string_view v, Options& o) { return parse_port(v, o.echo_port); }},
      {"--discard", [](std::string_view v, Options& o) { return parse_port(v, o.discard_port); }},
      {"--http", [](std::string_view v, Options& o) { return parse_port(v, o.http_port); }},
      {"--fault",
       [](std::string_view v, Options& o) -> std::string {
         std::string error;
         auto spec = stack::io::parse_fault_spec(v, &error);
         if (!spec) return error.empty() ? "bad fault spec" : error;
         o.fault = *spec;
         o.fault_text = v;
         return {};
       }},
      {"--pcap",
       [](std::string_view v, Options& o) -> std::string {
         if (v.empty()) return "expected a file path";
         o.pcap_path = v;
         return {};
       }},
      {"--mtu",
       [](std::string_view v, Options& o) -> std::string {
         const auto mtu = parse_number<unsigned>(v, kMinMtu, kMaxMtu);
         if (!mtu) return "expected an MTU 576-9000";
         o.mtu = static_cast<std::uint16_t>(*mtu);
         return {};
       }},
      {"--log-level",
       [](std::string_view v, Options& o) -> std::string {
         if (const auto own = parse_log_level(v)) {
           o.log_level = *own;
           return {};
         }
         if (v.find(':') == std::string_view::npos || !valid_dpdk_log_level(v)) {
           return "expected error, warning, notice, info or debug (utcpd's messages), or "
                  "TYPE:LEVEL for DPDK's, such as pmd.net.tap:debug";
         }
         o.dpdk_log_levels.emplace_back(v);
         return {};
       }},
  };
  return parsers;
}

ParseOutcome error(std::string text) {
  ParseOutcome out;
  out.kind = ParseOutcome::Kind::kError;
  out.error = std::move(text);
  return out;
}

// The services share one listener table per engine: two on one port would shadow.
std::string check_service_ports(const Options& o) {
  const std::uint16_t ports[] = {o.echo_port, o.discard_port, o.http_port};
  const char* names[] = {"--echo", "--discard", "--http"};
  for (int i = 0; i < 3; ++i) {
    for (int j = i + 1; j < 3; ++j) {
      if (ports[i] != 0 && ports[i] == ports[j]) {
        return std::string(names[i]) + " and " + names[j] + " use the same port " +
               std::to_string(ports[i]);
      }
    }
  }
  return {};
}

}  // namespace

std::optional<std::vector<unsigned>> parse_core_list(std::string_view text) {
  std::vector<unsigned> cores;
  while (!text.empty()) {
    const std::size_t comma = text.find(',');
    const std::string_view part = text.substr(0, comma);
    text = comma == std::string_view::npos ? std::string_view{} : text.substr(comma + 1);
    if (comma != std::string_view::npos && text.empty()) return std::nullopt;  // "0,"
    const std::size_t dash = part.find('-');
    const auto lo = parse_number<unsigned>(part.substr(0, dash), 0, kMaxCpu);
    const auto hi = dash == std::string_view::npos
                        ? lo
                        : parse_number<unsigned>(part.substr(dash + 1), 0, kMaxCpu);
    if (!lo || !hi || *hi < *lo) return std::nullopt;
    for (unsigned c = *lo; c <= *hi; ++c) {
      if (std::find(cores.begin(), cores.end(), c) != cores.end()) return std::nullopt;
      cores.push_back(c);
    }
  }
  if (cores.empty()) return std::nullopt;
  return cores;
}

ParseOutcome parse_options(std::span<const std::string_view> args) {
  ParseOutcome out;
  out.kind = ParseOutcome::Kind::kRun;
  Options& o = out.options;
  bool have_dev = false, have_ip = false;
  for (std::size_t i = 0; i < args.size(); ++i) {
    std::string_view flag = args[i];
    if (flag == "--help" || flag == "-h") {
      ParseOutcome help;
      help.kind = ParseOutcome::Kind::kHelp;
      return help;
    }
    std::optional<std::string_view> value;
    if (const std::size_t eq = flag.find('='); flag.starts_with("--") && eq != std::string_view::npos) {
      value = flag.substr(eq + 1);
      flag = flag.substr(0, eq);
    }
    const auto& parsers = flag_parsers();
    const auto it = parsers.find(flag);
    if (it == parsers.end()) return error("unknown option " + std::string(args[i]) + " (see --help)");
    if (!value) {
      if (i + 1 >= args.size()) return error(std::string(flag) + " needs a value");
      value = args[++i];
    }
    const std::string why = it->second(*value, o);
    if (!why.empty()) return error("bad " + std::string(flag) + " '" + std::string(*value) + "': " + why);
    have_dev |= flag == "--dev";
    have_ip |= flag == "--ip";
  }
  if (!have_dev) return error("--dev is required (see --help)");
  if (!have_ip) return error("--ip is required (see --help)");
  if (std::string why = check_service_ports(o); !why.empty()) return error(why);
  return out;
}

std::string usage() {
  return "usage: utcpd --dev DEVARGS --ip A.B.C.D/N [options]\n"
         "  --dev DEVARGS        DPDK device: a PCI address or a vdev (net_tap0,iface=utcp0, ...);\n"
         "                       without a PCI address the machine's PCI devices are not probed\n"
         "  --ip A.B.C.D/N       utcp's address and prefix length (on no kernel interface)\n"
         "  --gateway A.B.C.D    next hop for off-subnet destinations (default: none)\n"
         "  --cores LIST         one engine per CPU: 0, 0,1 or 0-1 (default: one engine)\n"
         "  --control PATH       control socket apps attach to (default /run/utcp/utcpd.sock)\n"
         "  --group NAME         group that may attach besides root (default utcp; it must exist)\n"
         "  --mode OCTAL         the control socket's mode (default 0660: root and --group)\n"
         "  --file-prefix P      DPDK runtime file prefix (default utcpd-<pid>)\n"
         "  --hugepages MODE     auto|on|off (default auto: hugepages when free)\n"
         "  --poll MODE          sleep|busy: idle engines sleep (default) or spin\n"
         "  --echo PORT          diagnostic echo service (off by default)\n"
         "  --discard PORT       diagnostic discard service (off by default)\n"
         "  --http PORT          diagnostic HTTP service answering GET with \"utcp\\n\" (off by default)\n"
"  --ping A.B.C.D       diagnostic: send an ICMP echo request there every second and\n"
         "                       count the replies (icmp_echo_replies_in; off by default)\n"
         "  --fault SPEC         impair the wire, e.g. loss=1%,reorder=5%,seed=7 or rx:loss=5%\n"
         "  --pcap FILE          write every frame engines receive and send to FILE (pcap;\n"
         "                       engine N > 0 writes FILE.N)\n"
         "  --mtu N              IPv4 MTU, 576-9000 (default 1500)\n"
         "  --log-level LEVEL    utcpd's messages: error, warning, notice (default), info\n"
         "                       (processes attaching and leaving), debug (control channel);\n"
         "                       TYPE:LEVEL sets DPDK's, e.g. pmd.net.tap:debug (repeatable)\n"
         "  --help               this text\n"
         "signals: SIGINT/SIGTERM stop (connections are reset) and print counters;\n"
         "         SIGUSR1 prints counters as 'engine N name value' lines\n";
}

}  // namespace utcp::daemon
