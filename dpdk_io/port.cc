// Port lifecycle: EAL start, device configuration, per-engine mempools on the
// engine's NUMA socket, queues, steering rings, engine threads, and a close that
// leaves no files behind. Call order: open() -> start_engines() -> wait_engines() ->
// close(). Read dpdk_port.h, then device_setup.h and queue_io.h.
#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_ethdev.h>
#include <rte_launch.h>
#include <rte_lcore.h>
#include <rte_mbuf.h>
#include <rte_mempool.h>
#include <rte_ring.h>

#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <exception>
#include <new>
#include <string>
#include <vector>

#ifdef UTCP_HAVE_LIBNUMA
#include <numa.h>
#endif

#include "dpdk_io/device_setup.h"
#include "dpdk_io/dpdk_port.h"
#include "dpdk_io/eal_plan.h"
#include "dpdk_io/queue_io.h"

namespace utcp::dpdk_io {
namespace {

constexpr unsigned kMempoolCache = 256;

std::string rte_error(int err) { return rte_strerror(err < 0 ? -err : err); }

// Runs once per mbuf at pool creation: the PacketBuf in the private area starts life.
void construct_packet_buf(rte_mempool*, void*, void* obj, unsigned) {
  new (rte_mbuf_to_priv(static_cast<rte_mbuf*>(obj))) stack::io::PacketBuf{};
}

class PortImpl final : public Port {
 public:
  explicit PortImpl(LogSink log) : log_(std::move(log)) {}
  ~PortImpl() override { close(); }

  bool open(const EalOptions& eal, const PortOptions& opts, std::string* error);

  stack::io::PacketIo& queue(std::uint16_t engine) override { return *queues_.at(engine); }
  const PortInfo& info() const override { return info_; }
  const stack::rss::Key& rss_key() const override { return key_; }
  const stack::rss::Reta& reta() const override { return reta_; }
  bool link_up() override;
  bool start_engines(std::function<void(std::uint16_t)> body, std::string* error) override;
  void wait_engines() override;
  int wakeup_fd(std::uint16_t engine) const override { return queues_.at(engine)->wakeup_fd(); }
  bool prepare_sleep(std::uint16_t engine) override { return queues_.at(engine)->prepare_sleep(); }
  void finish_sleep(std::uint16_t engine, bool woken) override {
    queues_.at(engine)->finish_sleep(woken);
  }
  QueueCounters counters(std::uint16_t engine) const override {
    return queues_.at(engine)->counters();
  }
  DeviceStats device_stats() const override;
  void close() override;

 private:
  struct Launch {
    PortImpl* port;
    std::uint16_t engine;
  };
  static int engine_main(void* arg);

  void log(const std::string& line) const {
    if (log_) {
      log_(line);
    } else {
      std::fprintf(stderr, "utcp-dpdk: %s\n", line.c_str());
    }
  }
  bool start_eal(const EalPlan& plan, std::string* error);
  bool find_device(const std::string& devargs, std::string* error);
  bool create_pools(const PortOptions& opts, std::uint32_t data_room, std::string* error);
  bool configure(const PortOptions& opts, DeviceChoice* choice, const rte_eth_dev_info& dev,
                 std::string* error);
  bool create_rings(const PortOptions& opts, std::string* error);
  void describe_numa();

  LogSink log_;
  PortInfo info_;
  stack::rss::Key key_ = stack::rss::symmetric_key();
  stack::rss::Reta reta_;
  std::vector<std::string> eal_argv_;  // EAL may keep pointers into argv
  std::string runtime_dir_;
  bool eal_up_ = false;
  bool configured_ = false;
  bool started_ = false;
  bool engines_running_ = false;
  bool closed_ = false;
  bool untrusted_logged_ = false;
  int last_link_ = -1;
  std::vector<rte_mempool*> pools_;
  Fabric fabric_;  // before queues_: queues point into it
  std::vector<std::unique_ptr<QueueIo>> queues_;
  std::function<void(std::uint16_t)> body_;
  std::vector<Launch> launches_;
};

bool PortImpl::start_eal(const EalPlan& plan, std::string* error) {
  eal_argv_ = plan.args;
  std::vector<char*> argv;
  for (auto& a : eal_argv_) argv.push_back(a.data());
  argv.push_back(nullptr);
  runtime_dir_ = runtime_dir_for(plan.file_prefix);
  if (rte_eal_init(static_cast<int>(argv.size() - 1), argv.data()) < 0) {
    const int err = rte_errno;
    // EAL creates its runtime directory before it can fail; leave nothing behind.
    ::rmdir(runtime_dir_.c_str());
    *error = "EAL start failed for '" + info_.devargs + "': " + rte_error(err) +
             (err == EALREADY ? " (one Port per process)" : " (the EAL lines above say why)");
    return false;
  }
  eal_up_ = true;
  if (const char* dir = rte_eal_get_runtime_dir(); dir != nullptr) runtime_dir_ = dir;
  return true;
}

bool PortImpl::find_device(const std::string& devargs, std::string* error) {
  const std::string name = device_name(devargs);
  std::uint16_t id = 0;
  if (rte_eth_dev_get_port_by_name(name.c_str(), &id) != 0) {
    // A PCI device may be named in another form ("01:00.0" vs "0000:01:00.0").
    if (rte_eth_dev_count_avail() != 1) {
      *error = is_pci_address(devargs)
                   ? "device " + name + " not found: no DPDK port for it (is it bound to "
                     "vfio-pci or uio?)"
                   : "device " + name + " did not come up: its driver's probe failed (the "
                     "lines above say why)";
      return false;
    }
    id = static_cast<std::uint16_t>(rte_eth_find_next(0));
  }
  info_.port_id = id;
  char dev_name[RTE_ETH_NAME_MAX_LEN] = {};
  rte_eth_dev_get_name_by_port(id, dev_name);
  info_.name = dev_name;
  return true;
}

bool PortImpl::create_pools(const PortOptions& opts, std::uint32_t data_room, std::string* error) {
  const std::uint16_t priv = static_cast<std::uint16_t>(
      RTE_ALIGN(sizeof(stack::io::PacketBuf), RTE_MBUF_PRIV_ALIGN));
  for (std::uint16_t e = 0; e < info_.queues; ++e) {
    const int socket = info_.engines[e].socket;
    const std::string name = "utcp_pool_" + std::to_string(e);
    rte_mempool* mp = rte_pktmbuf_pool_create(name.c_str(), opts.mbufs_per_queue, kMempoolCache,
                                              priv, static_cast<std::uint16_t>(data_room), socket);
    if (mp == nullptr) {
      *error = "mempool for engine " + std::to_string(e) + " (" +
               std::to_string(opts.mbufs_per_queue) + " buffers on socket " +
               std::to_string(socket) + "): " + rte_error(rte_errno) +
               " (raise EalOptions::memory_mb or lower mbufs_per_queue)";
      return false;
    }
    rte_mempool_obj_iter(mp, construct_packet_buf, nullptr);
    pools_.push_back(mp);
  }
  return true;
}

bool PortImpl::configure(const PortOptions& opts, DeviceChoice* choice,
                         const rte_eth_dev_info& dev, std::string* error) {
  const std::uint16_t q = info_.queues;
  choice->conf.rx_adv_conf.rss_conf.rss_key =
      choice->rss == RssMode::kDevice ? choice->key_bytes.data() : nullptr;
  choice->conf.intr_conf.rxq = opts.rx_interrupts ? 1 : 0;
  int rc = rte_eth_dev_configure(info_.port_id, q, q, &choice->conf);
  if (rc != 0 && opts.rx_interrupts) {
    log("rx interrupts: " + info_.driver + " refused them (" + rte_error(rc) +
        "); engines will poll");
    choice->conf.intr_conf.rxq = 0;
    rc = rte_eth_dev_configure(info_.port_id, q, q, &choice->conf);
  }
  if (rc != 0) {
    *error = "configuring " + info_.name + " (" + std::to_string(q) + " queue pairs, MTU " +
             std::to_string(opts.mtu) + "): " + rte_error(rc);
    return false;
  }
  configured_ = true;
  program_rss(info_.port_id, dev, q, choice, &reta_);

  std::uint16_t mtu = 0;
  if (rte_eth_dev_set_mtu(info_.port_id, opts.mtu) != 0 &&
      (rte_eth_dev_get_mtu(info_.port_id, &mtu) != 0 || mtu != opts.mtu)) {
    *error = "setting MTU " + std::to_string(opts.mtu) + " on " + info_.name + " failed";
    return false;
  }

  std::uint16_t rx_desc = opts.rx_desc, tx_desc = opts.tx_desc;
  rc = rte_eth_dev_adjust_nb_rx_tx_desc(info_.port_id, &rx_desc, &tx_desc);
  if (rc != 0) {
    *error = "descriptor counts for " + info_.name + ": " + rte_error(rc);
    return false;
  }
  for (std::uint16_t e = 0; e < q; ++e) {
    const unsigned socket = static_cast<unsigned>(info_.engines[e].socket);
    rte_eth_rxconf rxconf = dev.default_rxconf;
    rxconf.offloads = choice->rx_offloads;
    rc = rte_eth_rx_queue_setup(info_.port_id, e, rx_desc, socket, &rxconf, pools_[e]);
    if (rc == 0) {
      rte_eth_txconf txconf = dev.default_txconf;
      txconf.offloads = choice->tx_offloads;
      rc = rte_eth_tx_queue_setup(info_.port_id, e, tx_desc, socket, &txconf);
    }
    if (rc != 0) {
      *error = "queue " + std::to_string(e) + " of " + info_.name + ": " + rte_error(rc);
      return false;
    }
  }
  return true;
}

bool PortImpl::create_rings(const PortOptions& opts, std::string* error) {
  const std::uint16_t n = info_.queues;
  fabric_.engines = n;
  fabric_.sleepers = std::make_unique<Sleeper[]>(n);
  fabric_.steering = std::make_unique<Steering>(key_, reta_);
  if (n == 1) return true;
  fabric_.rings.assign(std::size_t{n} * n, nullptr);
  for (std::uint16_t from = 0; from < n; ++from) {
    for (std::uint16_t to = 0; to < n; ++to) {
      if (from == to) continue;
      const std::string name = "utcp_st_" + std::to_string(from) + "_" + std::to_string(to);
      rte_ring* r = rte_ring_create(name.c_str(), opts.steer_ring_size, info_.engines[to].socket,
                                    RING_F_SP_ENQ | RING_F_SC_DEQ | RING_F_EXACT_SZ);
      if (r == nullptr) {
        *error = "steering ring " + name + ": " + rte_error(rte_errno);
        return false;
      }
      fabric_.rings[std::size_t{from} * n + to] = r;
    }
  }
  return true;
}

void PortImpl::describe_numa() {
  const int port_socket = rte_eth_dev_socket_id(info_.port_id);
  info_.port_socket = port_socket;
  for (std::size_t e = 0; e < info_.engines.size(); ++e) {
    const EngineInfo& en = info_.engines[e];
    if (port_socket >= 0 && en.socket != port_socket) {
      log("numa: engine " + std::to_string(e) + " runs on socket " + std::to_string(en.socket) +
          " but the port is on socket " + std::to_string(port_socket) +
          ": its traffic crosses the interconnect");
    }
#ifdef UTCP_HAVE_LIBNUMA
    if (numa_available() >= 0 && numa_node_of_cpu(static_cast<int>(en.cpu)) != en.socket) {
      log("numa: libnuma puts CPU " + std::to_string(en.cpu) + " on node " +
          std::to_string(numa_node_of_cpu(static_cast<int>(en.cpu))) + ", DPDK on socket " +
          std::to_string(en.socket));
    }
#endif
  }
}

bool PortImpl::open(const EalOptions& eal, const PortOptions& opts, std::string* error) {
  info_.devargs = eal.devargs;
  if (opts.queues == 0 || (!eal.cores.empty() && opts.queues != eal.cores.size())) {
    *error = "PortOptions::queues is " + std::to_string(opts.queues) + " but " +
             std::to_string(eal.cores.size()) + " cores were given (one engine per core)";
    return false;
  }
  const std::vector<unsigned> allowed = allowed_cpus();
  EalOptions resolved = eal;
  if (resolved.cores.empty() && !allowed.empty()) {
    for (std::uint16_t e = 0; e < opts.queues; ++e) resolved.cores.push_back(allowed[e % allowed.size()]);
  }
  auto plan = plan_eal(resolved, read_host_memory(), allowed, ::getpid(), error);
  if (!plan) return false;
  info_.hugepages = plan->hugepages;
  info_.memory_why = plan->memory_why;
  info_.eal_args = plan->args;
  info_.queues = opts.queues;
  log("memory: " + plan->memory_why);
  if (!start_eal(*plan, error) || !find_device(eal.devargs, error)) return false;

  rte_eth_dev_info dev{};
  if (int rc = rte_eth_dev_info_get(info_.port_id, &dev); rc != 0) {
    *error = "device info for " + info_.name + ": " + rte_error(rc);
    return false;
  }
  info_.driver = dev.driver_name != nullptr ? dev.driver_name : "?";
  if (opts.queues > dev.max_rx_queues || opts.queues > dev.max_tx_queues) {
    *error = info_.driver + " supports at most " +
             std::to_string(std::min(dev.max_rx_queues, dev.max_tx_queues)) +
             " queue pairs, " + std::to_string(opts.queues) + " requested";
    return false;
  }
  // ethdev's own rule: the MTU plus the L2 overhead must fit max_rx_pktlen.
  const std::uint32_t overhead = dev.max_mtu != UINT16_MAX && dev.max_rx_pktlen > dev.max_mtu
                                     ? dev.max_rx_pktlen - dev.max_mtu
                                     : RTE_ETHER_HDR_LEN + RTE_ETHER_CRC_LEN;
  const std::uint32_t max_mtu = std::min<std::uint32_t>(dev.max_mtu, dev.max_rx_pktlen - overhead);
  if (opts.mtu < dev.min_mtu || opts.mtu > max_mtu) {
    *error = "MTU " + std::to_string(opts.mtu) + " is outside " + info_.driver + "'s range [" +
             std::to_string(dev.min_mtu) + ", " + std::to_string(max_mtu) + "]";
    return false;
  }
  for (std::uint16_t e = 0; e < opts.queues; ++e) {
    EngineInfo en;
    en.lcore = e + 1u;
    en.cpu = plan->cores[e];
    en.socket = static_cast<int>(rte_lcore_to_socket_id(en.lcore));
    info_.engines.push_back(en);
  }
  describe_numa();

  // Room for an MTU-sized frame (+ a VLAN tag) in every buffer, whatever was asked.
  const std::uint32_t frame_room = std::max<std::uint32_t>(opts.buffer_bytes, opts.mtu + 18u);
  const std::uint32_t data_room = frame_room + RTE_PKTMBUF_HEADROOM;
  if (data_room > UINT16_MAX) {
    *error = "buffer_bytes " + std::to_string(frame_room) + " is too large (max " +
             std::to_string(UINT16_MAX - RTE_PKTMBUF_HEADROOM) + ")";
    return false;
  }
  DeviceChoice choice = choose_device_setup(dev, opts, info_.driver, plan->pci, key_, frame_room);
  if (!create_pools(opts, data_room, error) || !configure(opts, &choice, dev, error) ||
      !create_rings(opts, error)) {
    return false;
  }
  info_.rss = choice.rss;
  info_.rss_why = choice.rss_why;
  info_.offload_why = choice.offload_why;
  fabric_.mode = choice.rss;

  if (int rc = rte_eth_dev_start(info_.port_id); rc != 0) {
    *error = "starting " + info_.name + ": " + rte_error(rc);
    return false;
  }
  started_ = true;

  rte_ether_addr mac{};
  rte_eth_macaddr_get(info_.port_id, &mac);
  std::uint16_t mtu = opts.mtu;
  rte_eth_dev_get_mtu(info_.port_id, &mtu);
  info_.caps = choice.caps;
  std::copy(std::begin(mac.addr_bytes), std::end(mac.addr_bytes), info_.caps.mac.bytes.begin());
  info_.caps.mtu = mtu;
  if (info_.driver == "net_tap") {
    // The tap PMD gives the kernel's side of the wire the port's own MAC, so the stack
    // would see the kernel's frames as coming from itself (and drop them as a loop).
    // The tap fd delivers every frame the kernel sends, whatever its destination, so
    // the stack takes a neighbouring locally administered MAC of its own.
    const std::string kernel_mac = info_.caps.mac.to_string();
    auto& b = info_.caps.mac.bytes;
    b[0] = static_cast<std::uint8_t>((b[0] | 0x02) & ~0x01);
    b[5] ^= 0x01;
    log("mac: the kernel side of " + info_.name + " has the port's MAC " + kernel_mac +
        "; the stack uses " + info_.caps.mac.to_string());
  }

  for (std::uint16_t e = 0; e < info_.queues; ++e) {
    QueueConfig qc;
    qc.port_id = info_.port_id;
    qc.engine = e;
    qc.pool = pools_[e];
    qc.caps = info_.caps;
    qc.rx_signal_to_engine = info_.driver == "net_tap";
    qc.rx_intr_fd = choice.conf.intr_conf.rxq != 0
                        ? rte_eth_dev_rx_intr_ctl_q_get_fd(info_.port_id, e)
                        : -1;
    queues_.push_back(std::make_unique<QueueIo>(qc, &fabric_));
    if (!queues_.back()->open_wakeup(error)) return false;
    info_.engines[e].rx_interrupt = qc.rx_intr_fd >= 0;
  }
  for (const auto& line : info_.offload_why) log("offload: " + line);
  log("rss: " + info_.rss_why);
  for (std::size_t e = 0; e < info_.engines.size(); ++e) {
    log("engine " + std::to_string(e) + ": cpu " + std::to_string(info_.engines[e].cpu) +
        ", socket " + std::to_string(info_.engines[e].socket) + ", " +
        (info_.engines[e].rx_interrupt ? "sleeps on rx interrupts"
                                       : "no rx interrupt: must poll (bounded sleeps)"));
  }
  link_up();
  return true;
}

bool PortImpl::link_up() {
  if (!started_) return false;
  rte_eth_link link{};
  if (rte_eth_link_get_nowait(info_.port_id, &link) != 0) return false;
  const int up = link.link_status == RTE_ETH_LINK_UP ? 1 : 0;
  if (up != last_link_) {
    std::string text = up == 1 ? "link up" : "link down";
    if (up == 1 && link.link_speed != RTE_ETH_SPEED_NUM_UNKNOWN) {
      text += ", " + std::to_string(link.link_speed) + " Mbps";
    }
    if (up == 1) text += link.link_duplex == RTE_ETH_LINK_FULL_DUPLEX ? ", full duplex" : ", half duplex";
    log(info_.name + ": " + text);
    last_link_ = up;
  }
  if (!untrusted_logged_ && fabric_.device_hash_untrusted.load(std::memory_order_relaxed)) {
    log("rss: the device's hash differs from our Toeplitz hash; steering TCP in software now");
    untrusted_logged_ = true;
  }
  return up == 1;
}

int PortImpl::engine_main(void* arg) {
  auto* l = static_cast<Launch*>(arg);
  l->port->queues_[l->engine]->adopt_thread();
  try {
    l->port->body_(l->engine);
  } catch (const std::exception& e) {
    // An engine that dies silently leaves its flows and queue unserved: stop loudly.
    l->port->log("engine " + std::to_string(l->engine) + " threw: " + e.what());
    std::abort();
  }
  return 0;
}

bool PortImpl::start_engines(std::function<void(std::uint16_t)> body, std::string* error) {
  if (engines_running_ || !started_) {
    *error = engines_running_ ? "engines already running" : "port not started";
    return false;
  }
  body_ = std::move(body);
  launches_.assign(info_.queues, Launch{this, 0});
  for (std::uint16_t e = 0; e < info_.queues; ++e) {
    launches_[e].engine = e;
    if (int rc = rte_eal_remote_launch(&PortImpl::engine_main, &launches_[e], info_.engines[e].lcore);
        rc != 0) {
      *error = "launching engine " + std::to_string(e) + ": " + rte_error(rc);
      engines_running_ = e > 0;
      return false;
    }
    engines_running_ = true;
  }
  return true;
}

void PortImpl::wait_engines() {
  if (!engines_running_) return;
  for (const EngineInfo& en : info_.engines) rte_eal_wait_lcore(en.lcore);
  engines_running_ = false;
}

DeviceStats PortImpl::device_stats() const {
  DeviceStats s;
  rte_eth_stats st{};
  if (!started_ || rte_eth_stats_get(info_.port_id, &st) != 0) return s;
  s.ipackets = st.ipackets;
  s.opackets = st.opackets;
  s.ibytes = st.ibytes;
  s.obytes = st.obytes;
  s.imissed = st.imissed;
  s.ierrors = st.ierrors;
  s.oerrors = st.oerrors;
  s.rx_nombuf = st.rx_nombuf;
  return s;
}

void PortImpl::close() {
  if (closed_) return;
  closed_ = true;
  wait_engines();
  for (auto& q : queues_) q->release();
  if (started_) rte_eth_dev_stop(info_.port_id);
  started_ = false;
  if (configured_) rte_eth_dev_close(info_.port_id);
  queues_.clear();
  for (rte_ring* r : fabric_.rings) rte_ring_free(r);
  fabric_.rings.clear();
  for (rte_mempool* mp : pools_) rte_mempool_free(mp);
  pools_.clear();
  if (eal_up_) {
    rte_eal_cleanup();
    eal_up_ = false;
    // EAL leaves its runtime directory, and telemetry unlinks its socket only at
    // exit(); both are ours (the prefix is per instance). rmdir only removes it empty.
    for (const char* sock : {"/dpdk_telemetry.v2", "/telemetry"}) {
      ::unlink((runtime_dir_ + sock).c_str());
    }
    if (!runtime_dir_.empty() && ::rmdir(runtime_dir_.c_str()) != 0 && errno != ENOENT) {
      log("cleanup: " + runtime_dir_ + " is not empty: left in place");
    }
  }
}

}  // namespace

std::unique_ptr<Port> Port::open(const EalOptions& eal, const PortOptions& port, std::string* error) {
  std::string ignored;
  if (error == nullptr) error = &ignored;
  auto p = std::make_unique<PortImpl>(eal.log);
  if (!p->open(eal, port, error)) {
    p->close();
    return nullptr;
  }
  return p;
}

std::optional<std::vector<std::string>> Port::eal_arguments(const EalOptions& eal, std::string* why,
                                                            std::string* error) {
  auto plan = plan_eal(eal, read_host_memory(), allowed_cpus(), ::getpid(), error);
  if (!plan) return std::nullopt;
  if (why != nullptr) *why = plan->memory_why;
  return plan->args;
}

}  // namespace utcp::dpdk_io
