// Internal (dpdk_io/*.cc only): what to ask of a device, decided from its
// rte_eth_dev_info — offloads (used when present, left to the stack's software
// otherwise) and RSS (programmed where the device can hash with our key and table,
// software steering otherwise). Every decision comes with a reason for the log.
#pragma once

#include <rte_ethdev.h>

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "dpdk_io/dpdk_port.h"
#include "stack/io/packet_io.h"
#include "stack/rss/rss.h"

namespace utcp::dpdk_io {

struct DeviceChoice {
  rte_eth_conf conf{};  // points into key_bytes; keep this object alive across configure
  std::uint64_t rx_offloads = 0;
  std::uint64_t tx_offloads = 0;
  stack::io::IoCapabilities caps;  // the offload flags (MAC and MTU are filled later)
  std::vector<std::string> offload_why;
  RssMode rss = RssMode::kSingleQueue;
  std::string rss_why;
  std::array<std::uint8_t, 64> key_bytes{};
};

// `frame_room`: the largest frame one buffer holds.
DeviceChoice choose_device_setup(const rte_eth_dev_info& dev, const PortOptions& opts,
                                 const std::string& driver, bool pci,
                                 const stack::rss::Key& key, std::uint32_t frame_room);

// After rte_eth_dev_configure: programs the redirection table (round-robin over the
// queues) and checks the key took. Fills the software mirror; on any failure falls
// back to software steering with the reason in choice->rss_why.
void program_rss(std::uint16_t port_id, const rte_eth_dev_info& dev, std::uint16_t queues,
                 DeviceChoice* choice, stack::rss::Reta* reta);

// The mirror used with software steering: DPDK's default table size, round-robin.
inline constexpr std::size_t kSoftwareRetaSize = 128;

}  // namespace utcp::dpdk_io
