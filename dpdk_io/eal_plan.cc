// EAL argument planning (see eal_plan.h). The memory choice follows TESTBED.md:
// hugepages when the host has them, else --no-huge -m N; never files left behind
// (--in-memory with hugepages, --no-shconf without, since EAL refuses --in-memory
// together with --no-huge's legacy memory mode).
#include "dpdk_io/eal_plan.h"

#include <sched.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <fstream>
#include <set>
#include <sstream>

namespace utcp::dpdk_io {
namespace {

std::string read_file(const char* path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// "HugePages_Free:      512" -> 512; 0 when the key is absent.
std::uint64_t meminfo_value(std::string_view meminfo, std::string_view key) {
  std::size_t at = 0;
  while ((at = meminfo.find(key, at)) != std::string_view::npos) {
    if ((at == 0 || meminfo[at - 1] == '\n') && at + key.size() < meminfo.size() &&
        meminfo[at + key.size()] == ':') {
      std::size_t i = at + key.size() + 1;
      while (i < meminfo.size() && meminfo[i] == ' ') ++i;
      std::uint64_t v = 0;
      while (i < meminfo.size() && std::isdigit(static_cast<unsigned char>(meminfo[i]))) {
        v = v * 10 + static_cast<std::uint64_t>(meminfo[i] - '0');
        ++i;
      }
      return v;
    }
    at += key.size();
  }
  return 0;
}

bool all_hex(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) {
    return std::isxdigit(static_cast<unsigned char>(c)) != 0;
  });
}

bool valid_devargs_text(std::string_view devargs) {
  return std::none_of(devargs.begin(), devargs.end(), [](char c) {
    return std::isspace(static_cast<unsigned char>(c)) != 0 || c == '\0';
  });
}

}  // namespace

HostMemory parse_host_memory(std::string_view meminfo, std::string_view mounts) {
  HostMemory host;
  host.hugepages_free = meminfo_value(meminfo, "HugePages_Free");
  host.hugepage_kb = meminfo_value(meminfo, "Hugepagesize");
  std::istringstream lines{std::string(mounts)};
  std::string line;
  while (std::getline(lines, line)) {
    std::istringstream fields(line);
    std::string dev, dir, type;
    if (fields >> dev >> dir >> type && type == "hugetlbfs") host.hugetlbfs_mounts.push_back(dir);
  }
  return host;
}

HostMemory read_host_memory() {
  return parse_host_memory(read_file("/proc/meminfo"), read_file("/proc/mounts"));
}

std::vector<unsigned> allowed_cpus() {
  cpu_set_t set;
  CPU_ZERO(&set);
  std::vector<unsigned> cpus;
  if (sched_getaffinity(0, sizeof(set), &set) != 0) return cpus;
  for (unsigned c = 0; c < CPU_SETSIZE; ++c) {
    if (CPU_ISSET(c, &set)) cpus.push_back(c);
  }
  return cpus;
}

std::string cpu_list(const std::vector<unsigned>& cpus) {
  std::set<unsigned> sorted(cpus.begin(), cpus.end());
  std::string out;
  for (auto it = sorted.begin(); it != sorted.end();) {
    unsigned first = *it, last = *it;
    for (++it; it != sorted.end() && *it == last + 1; ++it) last = *it;
    if (!out.empty()) out += ',';
    out += std::to_string(first);
    if (last != first) out += '-' + std::to_string(last);
  }
  return out;
}

bool is_pci_address(std::string_view devargs) {
  std::string_view s = devargs.substr(0, devargs.find(','));
  // [DDDD:]BB:DD.F
  const std::size_t dot = s.rfind('.');
  if (dot == std::string_view::npos || dot + 2 != s.size() || s[dot + 1] < '0' ||
      s[dot + 1] > '7') {
    return false;
  }
  std::string_view head = s.substr(0, dot);
  std::vector<std::string_view> parts;
  for (std::size_t at = 0;;) {
    const std::size_t colon = head.find(':', at);
    parts.push_back(head.substr(at, colon == std::string_view::npos ? colon : colon - at));
    if (colon == std::string_view::npos) break;
    at = colon + 1;
  }
  if (parts.size() == 3) {
    return parts[0].size() == 4 && all_hex(parts[0]) && parts[1].size() == 2 &&
           all_hex(parts[1]) && parts[2].size() == 2 && all_hex(parts[2]);
  }
  return parts.size() == 2 && parts[0].size() == 2 && all_hex(parts[0]) &&
         parts[1].size() == 2 && all_hex(parts[1]);
}

std::string device_name(std::string_view devargs) {
  return std::string(devargs.substr(0, devargs.find(',')));
}

std::string driver_of(std::string_view name) {
  if (is_pci_address(name)) return std::string(name);
  std::size_t end = name.size();
  while (end > 0 && std::isdigit(static_cast<unsigned char>(name[end - 1]))) --end;
  return std::string(name.substr(0, end));
}

std::string runtime_dir_for(const std::string& file_prefix) {
  // The rule of EAL's eal_create_runtime_dir(): systemd's RuntimeDirectory, then
  // /var/run for root, then XDG_RUNTIME_DIR, then /tmp.
  std::string base;
  if (const char* d = std::getenv("RUNTIME_DIRECTORY")) {
    base = d;
  } else if (geteuid() == 0) {
    base = "/var/run";
  } else if (const char* x = std::getenv("XDG_RUNTIME_DIR")) {
    base = x;
  } else {
    base = "/tmp";
  }
  return base + "/dpdk/" + file_prefix;
}

std::optional<EalPlan> plan_eal(const EalOptions& opts, const HostMemory& host,
                                const std::vector<unsigned>& allowed, int pid,
                                std::string* error) {
  auto fail = [&](std::string why) -> std::optional<EalPlan> {
    if (error) *error = std::move(why);
    return std::nullopt;
  };
  EalPlan plan;
  const std::string name = device_name(opts.devargs);
  if (opts.devargs.empty() || name.empty() || !valid_devargs_text(opts.devargs)) {
    return fail("bad devargs '" + opts.devargs +
                "': expected a PCI address (0000:01:00.0) or a vdev (net_tap0,iface=utcp0)");
  }
  plan.pci = is_pci_address(opts.devargs);
  if (!plan.pci && (name.rfind("net_", 0) != 0 || driver_of(name) == name)) {
    return fail("bad devargs '" + opts.devargs +
                "': a vdev name is net_<driver><n> (net_tap0, net_memif0, net_af_xdp0, "
                "net_af_packet0), anything else must be a PCI address");
  }
  if (allowed.empty()) return fail("cannot read this process's CPU affinity");

  plan.cores = opts.cores;
  if (plan.cores.empty()) plan.cores.push_back(allowed.front());
  for (unsigned c : plan.cores) {
    if (std::find(allowed.begin(), allowed.end(), c) == allowed.end()) {
      return fail("core " + std::to_string(c) + " is not available to this process (allowed: " +
                  cpu_list(allowed) + ")");
    }
  }

  plan.file_prefix = opts.file_prefix.empty() ? "utcp-" + std::to_string(pid) : opts.file_prefix;
  if (plan.file_prefix.find('/') != std::string::npos || !valid_devargs_text(plan.file_prefix)) {
    return fail("bad file prefix '" + plan.file_prefix + "': no '/' or spaces");
  }

  const std::uint64_t free_mb = host.hugepages_free * host.hugepage_kb / 1024;
  const std::string have = std::to_string(host.hugepages_free) + " free x " +
                           std::to_string(host.hugepage_kb) + " kB";
  if (opts.hugepages.has_value()) {
    plan.hugepages = *opts.hugepages;
    if (plan.hugepages && host.hugepages_free == 0) {
      return fail("hugepages requested but HugePages_Free is 0 (set vm.nr_hugepages)");
    }
    plan.memory_why = plan.hugepages ? "hugepages (requested; " + have + ")"
                                     : "no hugepages (requested): --no-huge -m " +
                                           std::to_string(opts.memory_mb);
  } else if (free_mb < opts.memory_mb) {
    plan.memory_why = "no hugepages: " + have + " is less than " +
                      std::to_string(opts.memory_mb) + " MB; running with --no-huge -m " +
                      std::to_string(opts.memory_mb);
  } else {
    // --in-memory backs hugepages with memfd, so no hugetlbfs mount is needed.
    plan.hugepages = true;
    plan.memory_why = "hugepages: " + have +
                      (host.hugetlbfs_mounts.empty() ? std::string(", no hugetlbfs mount")
                                                     : " (" + host.hugetlbfs_mounts.front() + ")") +
                      "; in memory, no hugepage files";
  }

  auto& a = plan.args;
  a = {"utcp", "--file-prefix", plan.file_prefix};
  // lcore 0: the control thread, free to run on any allowed CPU; lcore e+1: engine e.
  std::string lcores = "0@(" + cpu_list(allowed) + ")";
  for (std::size_t e = 0; e < plan.cores.size(); ++e) {
    lcores += "," + std::to_string(e + 1) + "@" + std::to_string(plan.cores[e]);
  }
  a.insert(a.end(), {"--lcores", lcores, "--main-lcore", "0"});
  if (plan.pci) {
    a.insert(a.end(), {"-a", opts.devargs});
  } else {
    a.insert(a.end(), {"--no-pci", "--vdev", opts.devargs});
  }
  if (plan.hugepages) {
    a.push_back("--in-memory");
  } else {
    a.insert(a.end(), {"--no-huge", "-m", std::to_string(opts.memory_mb), "--no-shconf"});
  }
  for (const std::string& level : opts.log_levels) a.insert(a.end(), {"--log-level", level});
  return plan;
}

}  // namespace utcp::dpdk_io
