// dpdk_io's public face: options, a factory for a DPDK port with one RX/TX queue pair
// per engine, and what the port decided (offloads, RSS, memory). Read DESIGN.md §3
// "Per-core engines and RSS" and "Idle engines sleep" first. Nothing DPDK is visible
// here; every rte_* call lives in dpdk_io/*.cc. One Port per process (EAL is global).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "stack/io/packet_io.h"
#include "stack/rss/rss.h"
#include "stack/wire/addresses.h"

namespace utcp::dpdk_io {

// Receives dpdk_io's own log lines (decisions, link changes); stderr when empty.
using LogSink = std::function<void(std::string_view line)>;

struct EalOptions {
  // A PCI address ("0000:01:00.0", optionally ",key=value...") or a vdev
  // ("net_tap0,iface=utcp0", "net_memif0,role=server,socket=/run/utcp/m.sock").
  // Without a PCI address EAL runs with --no-pci: the machine's own NIC is never probed.
  std::string devargs;
  // One engine per entry: engine e runs pinned to CPU cores[e] (repeats allowed).
  // Empty: one engine on the first CPU this process may use.
  std::vector<unsigned> cores;
  // Distinct per instance so two ports run side by side (the memif wire); default
  // "utcp-<pid>".
  std::string file_prefix;
  // Empty: hugepages when memory_mb of them are free (EAL runs --in-memory, so no
  // hugetlbfs mount is needed), else --no-huge.
  std::optional<bool> hugepages;
  unsigned memory_mb = 256;  // -m for --no-huge; the minimum free hugepage memory otherwise
  std::vector<std::string> log_levels;  // EAL --log-level each (e.g. "notice", "pmd.net.tap:debug")
  LogSink log;
};

struct PortOptions {
  std::uint16_t queues = 1;  // = engines; must equal EalOptions::cores.size() when set
  std::uint16_t mtu = 1500;
  std::uint32_t mbufs_per_queue = 8192;
  std::uint16_t rx_desc = 1024;
  std::uint16_t tx_desc = 1024;
  bool offloads = true;       // use the device's checksum/TSO offloads when it has them
  bool rx_interrupts = true;  // let idle engines sleep on RX interrupts
  // Data room per buffer; raised to fit an MTU-sized frame. TSO is offered only when
  // a buffer holds at least two full segments (a PacketBuf is one contiguous buffer).
  std::uint32_t buffer_bytes = 2048;
  std::uint32_t steer_ring_size = 1024;  // per engine pair, software steering only
};

enum class RssMode : std::uint8_t {
  kSingleQueue,  // one engine: nothing to steer
  kDevice,       // the device hashes with our key and table
  kSoftware,     // the receiving engine hashes and hands packets to their owner
};
std::string_view to_string(RssMode mode);

struct EngineInfo {
  unsigned lcore = 0;
  unsigned cpu = 0;
  int socket = -1;            // DPDK socket id of the CPU: where its mempool lives
  bool rx_interrupt = false;  // wakeup_fd() covers device RX (else only steering)
};

struct PortInfo {
  std::string devargs;
  std::string driver;  // e.g. "net_tap"
  std::string name;    // e.g. "net_tap0" or the PCI address
  std::uint16_t port_id = 0;
  std::uint16_t queues = 1;
  stack::io::IoCapabilities caps;  // MAC, MTU and the offloads in use
  RssMode rss = RssMode::kSingleQueue;
  std::string rss_why;
  std::vector<std::string> offload_why;  // one line per offload decision
  bool hugepages = false;
  std::string memory_why;
  int port_socket = -1;  // -1: the device has no NUMA affinity (virtual devices)
  std::vector<EngineInfo> engines;
  std::vector<std::string> eal_args;
};
// Several lines, for logs and `utcp-portcheck`.
std::string to_string(const PortInfo& info);

// Per engine; written only by that engine's thread, readable from any thread.
struct QueueCounters {
  std::uint64_t rx_packets = 0;  // delivered by rx_burst (after steering)
  std::uint64_t rx_bytes = 0;
  std::uint64_t tx_packets = 0;  // taken by the device
  std::uint64_t tx_bytes = 0;
  std::uint64_t rx_dropped = 0;       // unusable frames (chained mbufs)
  std::uint64_t tx_refused = 0;       // offered to tx_burst but handed back (queue full)
  std::uint64_t tx_dropped = 0;       // rejected by the driver's tx_prepare and freed
  std::uint64_t steered_out = 0;      // received here, owned by another engine
  std::uint64_t steered_in = 0;       // received by another engine, owned here
  std::uint64_t steer_ring_full = 0;  // dropped: the owner's ring was full
  std::uint64_t alloc_failures = 0;   // alloc() or an ARP copy found the pool empty
  std::uint64_t arp_copies = 0;       // ARP replies copied to the other engines
};
std::string to_string(const QueueCounters& c);

// The device's own counters (rte_eth_stats).
struct DeviceStats {
  std::uint64_t ipackets = 0, opackets = 0, ibytes = 0, obytes = 0;
  std::uint64_t imissed = 0, ierrors = 0, oerrors = 0, rx_nombuf = 0;
};
std::string to_string(const DeviceStats& s);

class Port {
 public:
  // Starts EAL, sets the device up and starts it. nullptr and one line in *error on
  // any failure. Call once per process, from the thread that will run the control
  // loop; it stays unpinned, engines are pinned.
  static std::unique_ptr<Port> open(const EalOptions& eal, const PortOptions& port,
                                    std::string* error);
  // The EAL arguments open() would use, and why (hugepages or not); nothing starts.
  static std::optional<std::vector<std::string>> eal_arguments(const EalOptions& eal,
                                                               std::string* why,
                                                               std::string* error);

  virtual ~Port() = default;
  Port(const Port&) = delete;
  Port& operator=(const Port&) = delete;

  // Engine e's queue pair; used only from engine e's thread.
  virtual stack::io::PacketIo& queue(std::uint16_t engine) = 0;
  virtual const PortInfo& info() const = 0;
  virtual const stack::rss::Key& rss_key() const = 0;
  virtual const stack::rss::Reta& reta() const = 0;  // the stack's port picker uses it
  // Polls the link (no waiting) and logs when it changed.
  virtual bool link_up() = 0;

  // Runs body(e) for every engine on its own pinned EAL thread (the mempool caches
  // are per EAL thread), and returns at once; wait_engines() joins them.
  virtual bool start_engines(std::function<void(std::uint16_t engine)> body,
                             std::string* error) = 0;
  virtual void wait_engines() = 0;

  // Idle sleep (DESIGN.md §3). wakeup_fd(e) is an epoll fd that turns readable when
  // engine e has work (device RX where it interrupts, packets steered to it): add it
  // to the engine's epoll set. Protocol, on engine e's thread:
  //   if (prepare_sleep(e)) { epoll_wait(...); } finish_sleep(e, woken);
  // prepare_sleep arms the interrupts and returns false when work is already
  // pending (then do not sleep). Without rx_interrupt, bound the sleep. `woken`:
  // epoll_wait reported wakeup_fd(e); false (a timeout, another fd, no sleep) skips
  // consuming its events, which then cost nothing but one early wake-up later.
  virtual int wakeup_fd(std::uint16_t engine) const = 0;
  virtual bool prepare_sleep(std::uint16_t engine) = 0;
  virtual void finish_sleep(std::uint16_t engine, bool woken = true) = 0;

  virtual QueueCounters counters(std::uint16_t engine) const = 0;
  virtual DeviceStats device_stats() const = 0;

  // Stops and closes the device, frees every buffer and ring, and cleans EAL up so no
  // hugepage or runtime files stay behind. Engines must have returned. Idempotent;
  // the destructor calls it.
  virtual void close() = 0;

 protected:
  Port() = default;
};

}  // namespace utcp::dpdk_io
