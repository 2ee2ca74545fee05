// EalOptions -> EAL arguments, from what the host offers (free hugepages, CPUs). Pure,
// no rte_*: every decision can be printed (utcp-portcheck --dry-run) before EAL starts.
// Invariants: --no-pci unless the device is a PCI address; lcore 0 is the unpinned
// control thread, lcore e+1 is engine e pinned to cores[e].
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "dpdk_io/dpdk_port.h"

namespace utcp::dpdk_io {

struct HostMemory {
  std::uint64_t hugepages_free = 0;
  std::uint64_t hugepage_kb = 0;                // default hugepage size
  std::vector<std::string> hugetlbfs_mounts;   // mount points
};
HostMemory parse_host_memory(std::string_view meminfo, std::string_view mounts);
HostMemory read_host_memory();  // /proc/meminfo and /proc/mounts

// CPUs this process may run on (sched_getaffinity), ascending.
std::vector<unsigned> allowed_cpus();
// "0-3,6" for {0,1,2,3,6}.
std::string cpu_list(const std::vector<unsigned>& cpus);

// "0000:01:00.0" or "01:00.0", before the first ','.
bool is_pci_address(std::string_view devargs);
// The device part of devargs (before the first ','), e.g. "net_tap0".
std::string device_name(std::string_view devargs);
// The driver of a vdev name: "net_tap0" -> "net_tap"; a PCI address is returned whole.
std::string driver_of(std::string_view name);

struct EalPlan {
  std::vector<std::string> args;  // args[0] is the program name
  std::vector<unsigned> cores;    // engine e -> CPU
  bool hugepages = false;
  std::string memory_why;
  std::string file_prefix;
  bool pci = false;
};

// nullopt and one line in *error for bad devargs, unusable cores or impossible
// memory requests.
std::optional<EalPlan> plan_eal(const EalOptions& opts, const HostMemory& host,
                                const std::vector<unsigned>& allowed, int pid,
                                std::string* error);

// Where EAL keeps its runtime files for a prefix (the same rule EAL follows).
std::string runtime_dir_for(const std::string& file_prefix);

}  // namespace utcp::dpdk_io
