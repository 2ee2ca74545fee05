// Offload and RSS decisions (see device_setup.h). The rule for RSS: only a PCI NIC
// that takes our symmetric key and redirection table hashes for us; every virtual
// device is steered in software, because the queue it picks is chosen by someone
// else (the kernel for tap/af_packet/af_xdp, the peer for memif).
#include "dpdk_io/device_setup.h"

#include <bit>
#include <cstring>

namespace utcp::dpdk_io {
namespace {

std::string hex(std::uint64_t v) {
  char buf[24];
  std::snprintf(buf, sizeof buf, "0x%llx", static_cast<unsigned long long>(v));
  return buf;
}

std::string why_no_device_rss(const std::string& driver) {
  if (driver == "net_tap") {
    return "the kernel spreads flows over the tap queues with its own flow hash, not our "
           "Toeplitz key (tap RSS exists only as an rte_flow eBPF action)";
  }
  if (driver == "net_memif") return "memif has no RSS: the peer chooses the queue";
  if (driver == "net_af_packet") return "af_packet queues are filled by the kernel's own hash";
  if (driver == "net_af_xdp") {
    return "the XDP queues are the NIC's (or veth's), whose RSS the kernel configures";
  }
  return "a virtual device has no programmable RSS";
}

// One offload: used when the device has it, else the stack does it in software.
bool pick(std::uint64_t capa, std::uint64_t bit, bool wanted, const char* what,
          const std::string& driver, std::vector<std::string>* why) {
  if (!wanted) {
    why->push_back(std::string(what) + ": software (offloads disabled)");
    return false;
  }
  if ((capa & bit) == 0) {
    why->push_back(std::string(what) + ": software (" + driver + " does not offer it)");
    return false;
  }
  why->push_back(std::string(what) + ": device");
  return true;
}

}  // namespace

DeviceChoice choose_device_setup(const rte_eth_dev_info& dev, const PortOptions& opts,
                                 const std::string& driver, bool pci,
                                 const stack::rss::Key& key, std::uint32_t frame_room) {
  DeviceChoice c;
  auto& why = c.offload_why;
  auto& caps = c.caps;
  caps.rx_ip_checksum = pick(dev.rx_offload_capa, RTE_ETH_RX_OFFLOAD_IPV4_CKSUM, opts.offloads,
                             "rx IPv4 checksum check", driver, &why);
  caps.rx_l4_checksum = pick(dev.rx_offload_capa, RTE_ETH_RX_OFFLOAD_TCP_CKSUM, opts.offloads,
                             "rx TCP checksum check", driver, &why);
  caps.tx_ip_checksum = pick(dev.tx_offload_capa, RTE_ETH_TX_OFFLOAD_IPV4_CKSUM, opts.offloads,
                             "tx IPv4 checksum fill", driver, &why);
  caps.tx_l4_checksum = pick(dev.tx_offload_capa, RTE_ETH_TX_OFFLOAD_TCP_CKSUM, opts.offloads,
                             "tx TCP checksum fill", driver, &why);
  if (caps.rx_ip_checksum) c.rx_offloads |= RTE_ETH_RX_OFFLOAD_IPV4_CKSUM;
  if (caps.rx_l4_checksum) c.rx_offloads |= RTE_ETH_RX_OFFLOAD_TCP_CKSUM;
  if (caps.tx_ip_checksum) c.tx_offloads |= RTE_ETH_TX_OFFLOAD_IPV4_CKSUM;
  if (caps.tx_l4_checksum) c.tx_offloads |= RTE_ETH_TX_OFFLOAD_TCP_CKSUM;

  // A PacketBuf is one contiguous buffer, so TSO pays only when a buffer holds at
  // least two full segments of headers + MSS.
  const std::uint32_t mss = opts.mtu > 40 ? opts.mtu - 40u : 0u;
  const std::uint32_t two_segments = 14 + 40 + 2 * mss;
  if (!opts.offloads) {
    why.push_back("tso: software (offloads disabled)");
  } else if ((dev.tx_offload_capa & RTE_ETH_TX_OFFLOAD_TCP_TSO) == 0) {
    why.push_back("tso: none (" + driver + " does not offer it)");
  } else if (!caps.tx_ip_checksum || !caps.tx_l4_checksum) {
    why.push_back("tso: none (needs the tx checksum offloads)");
  } else if (frame_room < two_segments) {
    why.push_back("tso: none (a buffer holds " + std::to_string(frame_room) + " B, less than two " +
                  std::to_string(mss) + " B segments; raise PortOptions::buffer_bytes)");
  } else {
    caps.tso = true;
    caps.tso_max_bytes = frame_room;
    c.tx_offloads |= RTE_ETH_TX_OFFLOAD_TCP_TSO;
    why.push_back("tso: device, up to " + std::to_string(frame_room) + " B per frame");
  }

  const std::uint16_t queues = opts.queues;
  const std::string claims = "(device claims rss types " + hex(dev.flow_type_rss_offloads) +
                             ", key " + std::to_string(dev.hash_key_size) + " B, reta " +
                             std::to_string(dev.reta_size) + ")";
  if (queues == 1) {
    c.rss = RssMode::kSingleQueue;
    c.rss_why = "one engine: nothing to steer";
  } else if (!pci) {
    c.rss = RssMode::kSoftware;
    c.rss_why = "software steering: " + why_no_device_rss(driver) + " " + claims;
  } else if ((dev.flow_type_rss_offloads & RTE_ETH_RSS_NONFRAG_IPV4_TCP) == 0) {
    c.rss = RssMode::kSoftware;
    c.rss_why = "software steering: the device cannot hash IPv4/TCP " + claims;
  } else if (dev.hash_key_size < stack::rss::kKeyLen || dev.hash_key_size > c.key_bytes.size()) {
    c.rss = RssMode::kSoftware;
    c.rss_why = "software steering: the device's key is not a 40-byte Toeplitz key " + claims;
  } else if (dev.reta_size == 0 || !std::has_single_bit(unsigned{dev.reta_size})) {
    c.rss = RssMode::kSoftware;
    c.rss_why = "software steering: no usable redirection table " + claims;
  } else {
    c.rss = RssMode::kDevice;
    c.rss_why = "device RSS: symmetric Toeplitz key, reta of " + std::to_string(dev.reta_size);
    // Longer keys (52 bytes on some NICs) repeat the pattern; the symmetric key has
    // period 2, so it stays symmetric.
    for (std::size_t i = 0; i < dev.hash_key_size; ++i) c.key_bytes[i] = key[i % key.size()];
    auto& rss = c.conf.rx_adv_conf.rss_conf;
    rss.rss_key_len = dev.hash_key_size;
    rss.rss_hf = dev.flow_type_rss_offloads & (RTE_ETH_RSS_NONFRAG_IPV4_TCP | RTE_ETH_RSS_IPV4);
    c.conf.rxmode.mq_mode = RTE_ETH_MQ_RX_RSS;
    if ((dev.rx_offload_capa & RTE_ETH_RX_OFFLOAD_RSS_HASH) != 0) {
      c.rx_offloads |= RTE_ETH_RX_OFFLOAD_RSS_HASH;
    }
  }
  c.conf.rxmode.mtu = opts.mtu;
  c.conf.rxmode.offloads = c.rx_offloads;
  c.conf.txmode.offloads = c.tx_offloads;
  return c;
}

void program_rss(std::uint16_t port_id, const rte_eth_dev_info& dev, std::uint16_t queues,
                 DeviceChoice* choice, stack::rss::Reta* reta) {
  if (choice->rss != RssMode::kDevice) {
    *reta = queues == 1 ? stack::rss::Reta() : stack::rss::Reta(kSoftwareRetaSize, queues);
    return;
  }
  auto fallback = [&](const std::string& why) {
    choice->rss = RssMode::kSoftware;
    choice->rss_why = "software steering: " + why;
    *reta = stack::rss::Reta(kSoftwareRetaSize, queues);
  };

  std::array<std::uint8_t, 64> got{};
  rte_eth_rss_conf conf{};
  conf.rss_key = got.data();
  conf.rss_key_len = dev.hash_key_size;
  if (rte_eth_dev_rss_hash_conf_get(port_id, &conf) == 0 &&
      std::memcmp(got.data(), choice->key_bytes.data(), dev.hash_key_size) != 0) {
    return fallback("the device did not take our key");
  }

  const std::size_t size = dev.reta_size;
  std::vector<rte_eth_rss_reta_entry64> groups((size + RTE_ETH_RETA_GROUP_SIZE - 1) /
                                               RTE_ETH_RETA_GROUP_SIZE);
  std::vector<std::uint16_t> table(size);
  for (std::size_t i = 0; i < size; ++i) {
    table[i] = static_cast<std::uint16_t>(i % queues);
    auto& g = groups[i / RTE_ETH_RETA_GROUP_SIZE];
    g.mask |= std::uint64_t{1} << (i % RTE_ETH_RETA_GROUP_SIZE);
    g.reta[i % RTE_ETH_RETA_GROUP_SIZE] = table[i];
  }
  if (rte_eth_dev_rss_reta_update(port_id, groups.data(), dev.reta_size) != 0) {
    // Keep whatever the device has, if it tells us.
    for (auto& g : groups) g.reta[0] = 0;
    if (rte_eth_dev_rss_reta_query(port_id, groups.data(), dev.reta_size) != 0) {
      return fallback("the redirection table can be neither set nor read");
    }
    for (std::size_t i = 0; i < size; ++i) {
      table[i] = groups[i / RTE_ETH_RETA_GROUP_SIZE].reta[i % RTE_ETH_RETA_GROUP_SIZE];
      if (table[i] >= queues) return fallback("the device's table names a queue we do not have");
    }
    choice->rss_why += " (the device's own table: it refused ours)";
  }
  *reta = stack::rss::Reta(std::move(table));
}

}  // namespace utcp::dpdk_io
