// Raw frames for driving one engine from the other end of a MemoryLink: what a
// neighbour, a pinger or an attacker would put on the wire. Built with the wire/
// emitters, so a test states only the fields it cares about.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "stack/base/time.h"
#include "stack/engine/engine.h"
#include "stack/io/memory_link.h"
#include "stack/wire/arp.h"
#include "stack/wire/icmp.h"
#include "stack/wire/ipv4.h"
#include "stack/wire/tcp.h"

namespace utcp::stack::engine::test {

using Frame = std::vector<std::uint8_t>;

Frame arp_frame(wire::ArpOp op, const wire::MacAddr& eth_dst, const wire::MacAddr& sender_mac,
                wire::Ipv4Addr sender_ip, const wire::MacAddr& target_mac,
                wire::Ipv4Addr target_ip);
// Ethernet + a 20-byte IPv4 header with a correct checksum + payload.
Frame ipv4_frame(const wire::MacAddr& dst, const wire::MacAddr& src, const wire::Ipv4Repr& ip,
                 std::span<const std::uint8_t> payload);
Frame icmp_echo_frame(const wire::MacAddr& dst, const wire::MacAddr& src, wire::Ipv4Addr ip_src,
                      wire::Ipv4Addr ip_dst, std::uint16_t ident, std::uint16_t seq_no,
                      std::span<const std::uint8_t> data);
Frame tcp_frame(const wire::MacAddr& dst, const wire::MacAddr& src, wire::Ipv4Addr ip_src,
                wire::Ipv4Addr ip_dst, const wire::TcpRepr& tcp,
                std::span<const std::uint8_t> payload = {});

std::optional<wire::ArpRepr> as_arp(const Frame& f);

// A TCP frame as the neighbour sees it (checksums verified). The payload is a view
// into the frame: valid while the frame is.
struct ParsedTcp {
  wire::MacAddr dst_mac;
  wire::Ipv4Repr ip;
  wire::TcpRepr tcp;
  std::span<const std::uint8_t> payload;
};
std::optional<ParsedTcp> as_tcp(std::span<const std::uint8_t> frame);

// One engine on end b of a MemoryLink; the test is the neighbour on end a.
class RawPeer {
 public:
  static constexpr wire::Ipv4Addr kPeerIp = wire::Ipv4Addr::from_octets(198, 18, 0, 1);
  static constexpr wire::Ipv4Addr kEngineIp = wire::Ipv4Addr::from_octets(198, 18, 0, 2);

  explicit RawPeer(EngineConfig cfg = default_config(), io::MemoryLinkConfig link = {});
  static EngineConfig default_config();

  Engine& engine() { return engine_; }
  io::MemoryLink& link() { return link_; }
  wire::MacAddr peer_mac() const { return link_cfg_.mac_a; }
  wire::MacAddr engine_mac() const { return link_cfg_.mac_b; }
  Instant now() const { return now_; }
  void advance(Duration d) { now_ += d; }

  void send(const Frame& frame);
  // The neighbour answers the engine's ARP in advance (RFC 826: the engine learns
  // from a request addressed to it), and the reply is consumed.
  void introduce();
  // A TCP segment from the neighbour (kPeerIp) to the engine.
  void send_tcp(const wire::TcpRepr& tcp, std::span<const std::uint8_t> payload = {});
  // Polls the engine, then returns every frame it put on the wire.
  std::vector<Frame> exchange();

 private:
  io::MemoryLinkConfig link_cfg_;
  io::MemoryLink link_;
  Instant now_;
  Engine engine_;
};

}  // namespace utcp::stack::engine::test
