// Text forms of PortInfo and the counters, for logs, utcp-portcheck and (later)
// `utcp stat`. Pure formatting: no rte_* here.
#include <sstream>

#include "dpdk_io/dpdk_port.h"

namespace utcp::dpdk_io {

std::string_view to_string(RssMode mode) {
  switch (mode) {
    case RssMode::kSingleQueue: return "single-queue";
    case RssMode::kDevice: return "device";
    case RssMode::kSoftware: return "software";
  }
  return "?";
}

std::string to_string(const PortInfo& info) {
  std::ostringstream o;
  const auto& c = info.caps;
  o << "port " << info.port_id << ": " << info.name << " (driver " << info.driver << ")\n"
    << "  mac " << c.mac.to_string() << ", mtu " << c.mtu << ", queues " << info.queues << "\n"
    << "  offloads: rx-ipv4-cksum " << c.rx_ip_checksum << ", rx-tcp-cksum " << c.rx_l4_checksum
    << ", tx-ipv4-cksum " << c.tx_ip_checksum << ", tx-tcp-cksum " << c.tx_l4_checksum
    << ", tso " << c.tso << "\n";
  for (const auto& why : info.offload_why) o << "    " << why << "\n";
  o << "  rss: " << to_string(info.rss) << " -- " << info.rss_why << "\n"
    << "  memory: " << (info.hugepages ? "hugepages" : "no hugepages") << " -- " << info.memory_why
    << "\n"
    << "  numa: port socket " << info.port_socket << "\n";
  for (std::size_t e = 0; e < info.engines.size(); ++e) {
    const EngineInfo& en = info.engines[e];
    o << "  engine " << e << ": lcore " << en.lcore << ", cpu " << en.cpu << ", socket "
      << en.socket << ", rx-interrupt " << (en.rx_interrupt ? "yes" : "no") << "\n";
  }
  o << "  eal:";
  for (const auto& a : info.eal_args) o << " " << a;
  return o.str();
}

std::string to_string(const QueueCounters& c) {
  std::ostringstream o;
  o << "rx " << c.rx_packets << " pkts " << c.rx_bytes << " B, tx " << c.tx_packets << " pkts "
    << c.tx_bytes << " B, rx-dropped " << c.rx_dropped << ", tx-refused " << c.tx_refused
    << ", tx-dropped " << c.tx_dropped << ", steered-out " << c.steered_out << ", steered-in "
    << c.steered_in << ", steer-ring-full " << c.steer_ring_full << ", alloc-failures "
    << c.alloc_failures << ", arp-copies " << c.arp_copies;
  return o.str();
}

std::string to_string(const DeviceStats& s) {
  std::ostringstream o;
  o << "ipackets " << s.ipackets << ", opackets " << s.opackets << ", ibytes " << s.ibytes
    << ", obytes " << s.obytes << ", imissed " << s.imissed << ", ierrors " << s.ierrors
    << ", oerrors " << s.oerrors << ", rx-nombuf " << s.rx_nombuf;
  return o.str();
}

}  // namespace utcp::dpdk_io
