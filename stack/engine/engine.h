// Engine: one core's stack (DESIGN.md §2-3): its queue pair's traffic, ARP, flows,
// listeners, timers and TCP connections, plus the socket calls the daemon exposes.
// Call order: poll -> input (engine_input.cc) -> connection | listen_segment -> emit
// (engine_output.cc) -> timers -> flush TX; after every call into a connection, settle().
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <vector>

#include "stack/arp/arp_cache.h"
#include "stack/base/result.h"
#include "stack/base/time.h"
#include "stack/base/timer_wheel.h"
#include "stack/engine/counters.h"
#include "stack/engine/engine_config.h"
#include "stack/engine/flow_table.h"
#include "stack/engine/port_table.h"
#include "stack/engine/socket_table.h"
#include "stack/io/packet_io.h"
#include "stack/isn/isn.h"
#include "stack/isn/syn_cookie.h"
#include "stack/tcp/connection.h"
#include "stack/wire/arp.h"
#include "stack/wire/icmp.h"
#include "stack/wire/ipv4.h"

namespace utcp::stack::engine {

// One socket whose readiness changed since the last drain_events(); mask holds
// tcp::events bits (listeners: kReadable when the accept queue became non-empty).
struct SocketEvent {
  SocketId id;
  std::uint32_t mask = 0;
};

struct MsgFlags {
  bool peek = false;  // MSG_PEEK
  bool more = false;  // MSG_MORE
  bool eor = false;   // MSG_EOR: the data, if all taken, ends a record
};

enum class ShutdownHow : std::uint8_t { kRead, kWrite, kBoth };  // SHUT_RD, SHUT_WR, SHUT_RDWR

// One listener or connection as `utcp ss` shows it (Linux's ss -tni fields).
struct SocketReport {
  SocketId id;
  bool listener = false;
  bool orphan = false;  // no application holds it any more (closed, or not accepted yet)
  wire::Endpoint local;
  wire::Endpoint remote;
  tcp::TcpInfo info;    // state (LISTEN for listeners), queues, RTT, cwnd, retransmits
  std::uint32_t accept_queue = 0;  // listeners: connections waiting for accept()
  std::uint32_t syn_queue = 0;     // listeners: handshakes in progress
  std::uint32_t backlog = 0;       // listeners
};

class Engine final : private tcp::SegmentSink {
 public:
  // Sends a gratuitous ARP announcing cfg.ip (RFC 5227 §3).
  Engine(const EngineConfig& cfg, io::PacketIo& io, Instant now);
  ~Engine() override;
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  // One round: receive bursts, dispatch, fire due timers, flush TX. Returns the work
  // done (frames in + frames out + timers fired); 0 means the caller may sleep until
  // next_deadline() or new input.
  std::size_t poll(Instant now);
  // Earliest of the connection timers, the ARP cache and the device's own deadline.
  Instant next_deadline() const;

  // --- sockets ---
  Result<SocketId> socket();
  Errno bind(SocketId id, wire::Endpoint local);
  Errno listen(SocketId id, int backlog);
  Result<SocketId> accept(SocketId listener, wire::Endpoint* peer);
  // Non-blocking: EINPROGRESS; completion arrives as events::kConnected (or kError).
  Errno connect(SocketId id, wire::Endpoint remote, Instant now);
  Result<std::size_t> send(SocketId id, std::span<const std::uint8_t> data, MsgFlags flags,
                           Instant now);
  Result<std::size_t> recv(SocketId id, std::span<std::uint8_t> out, MsgFlags flags,
                           Instant now);
  Errno shutdown(SocketId id, ShutdownHow how, Instant now);
  // The id is invalid afterwards; the connection lives on until CLOSED.
  Errno close(SocketId id, Instant now);
  // close() with SO_LINGER 0: a connection is reset (RST) instead of closed with FIN.
  Errno abort(SocketId id, Instant now);
  Errno set_options(SocketId id, const SocketOptions& opts, Instant now);
  Result<SocketOptions> options(SocketId id);
  // TCP_QUICKACK or TCP_NODELAY set to 1: tcp::Connection::push.
  Errno push(SocketId id, tcp::Push what, Instant now);
  Result<wire::Endpoint> getsockname(SocketId id);
  Result<wire::Endpoint> getpeername(SocketId id);
  Result<tcp::TcpInfo> info(SocketId id);
  Result<int> take_error(SocketId id);  // SO_ERROR
  // Bytes written and never sent (0 for anything but a connection): TCP_NOTSENT_LOWAT.
  std::uint32_t unsent_bytes(SocketId id);
  // Level-triggered readiness now (tcp::events bits), for poll() and new epoll sets.
  Result<std::uint32_t> readiness(SocketId id);

  // Moves out one entry per socket whose readiness changed since the last drain; what
  // does not fit stays for the next call.
  std::size_t drain_events(std::span<SocketEvent> out);

  // --- diagnostics ---
  // Sends one ICMP echo request to dst (resolving its next hop by ARP first), so the
  // wire between two stacks can be checked before any TCP runs (utcpd --ping).
  // Replies are counted in icmp_echo_replies_in. ENETUNREACH: no route; ENOBUFS.
  Errno ping(wire::Ipv4Addr dst, std::uint16_t ident, std::uint16_t seq_no, Instant now);

  // Every listener and connection (fresh sockets are left out), in slot order.
  std::vector<SocketReport> report_sockets() const;

  const EngineCounters& counters() const { return counters_; }
  const EngineConfig& config() const { return cfg_; }

 private:
  // --- engine.cc: time, settle, reaping, events ---
  std::size_t fire_timers(Instant now);
  void on_connection_timer(std::uint32_t index, Instant now);
  void install_connection(std::uint32_t index, tcp::ConnectionPtr conn);
  tcp::Initial initial(const wire::FourTuple& tuple) const;
  void settle(std::uint32_t index);
  void rearm(Socket& s);
  void promote_child(std::uint32_t index);
  void note_events(std::uint32_t index, std::uint32_t bits);
  void set_gauge_state(Socket& s, tcp::State state);
  void maybe_reap(std::uint32_t index);
  void reap(std::uint32_t index);
  void release_port(Socket& s);
  void sync_gauges();

  // --- engine_sockets.cc: helpers of the socket calls ---
  Socket* live(SocketId id) { return sockets_.find(id); }
  std::uint32_t normalized_backlog(int backlog) const;
  Errno autobind(std::uint32_t index);
  Errno check_remote(wire::Endpoint remote) const;
  Errno connect_again(Socket& s);
  Result<std::uint16_t> connect_port(Socket& s, wire::Endpoint remote);
  std::uint32_t level_readiness(const Socket& s) const;

  // --- engine_listen.cc: passive opens, SYN cookies, TIME-WAIT reuse ---
  void listen_segment(std::uint32_t listener, const wire::FourTuple& tuple,
                      const wire::TcpRepr& seg, std::span<const std::uint8_t> payload);
  void listen_syn(std::uint32_t listener, const wire::FourTuple& tuple,
                  const wire::TcpRepr& syn, SeqNum iss_floor, bool iss_floor_valid);
  void listen_ack(std::uint32_t listener, const wire::FourTuple& tuple,
                  const wire::TcpRepr& seg, std::span<const std::uint8_t> payload);
  void send_cookie_syn_ack(const Socket& listener, const wire::FourTuple& tuple,
                           const wire::TcpRepr& syn);
  bool cookies_recently_used(const Listener& l) const;
  // The listener that takes a new flow: the port's one, or its SO_REUSEPORT group's pick.
  std::uint32_t listener_for(const wire::FourTuple& tuple) const;
  std::optional<std::uint32_t> new_connection_slot(const wire::FourTuple& tuple,
                                                   const Socket& listener);
  bool drop_final_ack_on_overflow(const Socket& child, const wire::TcpRepr& seg);
  bool take_over_time_wait(std::uint32_t index, const wire::FourTuple& tuple,
                           const wire::TcpRepr& syn);
  void close_listener(std::uint32_t index, Instant now);

  // --- engine_input.cc: frame dispatch ---
  void input(io::PacketBuf& buf);
  void input_arp(std::span<const std::uint8_t> bytes);
  void input_ipv4(const wire::MacAddr& eth_src, std::span<const std::uint8_t> bytes,
                  const io::PacketBuf& buf);
  void input_icmp(const wire::MacAddr& eth_src, const wire::Ipv4Repr& ip,
                  std::span<const std::uint8_t> bytes);
  void input_icmp_error(std::uint8_t code, std::uint16_t mtu,
                        std::span<const std::uint8_t> quoted);
  void input_tcp(const wire::Ipv4Repr& ip, std::span<const std::uint8_t> bytes,
                 const io::PacketBuf& buf);
  void dispatch_segment(const wire::FourTuple& tuple, const wire::TcpRepr& seg,
                        std::span<const std::uint8_t> payload);
  void drop(wire::ParseError why);

  // --- engine_output.cc: frames out, ARP ---
  bool emit(const wire::FourTuple& tuple, const tcp::IpFields& ip, const wire::TcpRepr& repr,
            std::span<const std::uint8_t> payload1,
            std::span<const std::uint8_t> payload2) override;
  void send_reset(const wire::FourTuple& tuple, const wire::TcpRepr& seg,
                  std::size_t payload_len);
  std::optional<wire::Ipv4Addr> next_hop(wire::Ipv4Addr dst) const;
  void route_frame(wire::Ipv4Addr hop, io::PacketBuf* buf);
  io::PacketBuf* icmp_frame(const wire::MacAddr& dst_mac, wire::Ipv4Addr dst,
                            const wire::IcmpRepr& icmp);
  void send_echo_reply(const wire::MacAddr& dst_mac, const wire::Ipv4Repr& request_ip,
                       std::uint16_t ident, std::uint16_t seq_no,
                       std::span<const std::uint8_t> data);
  bool send_arp(wire::ArpOp op, const wire::MacAddr& eth_dst, const wire::MacAddr& target_mac,
                wire::Ipv4Addr target_ip);
  void queue_tx(io::PacketBuf* buf);
  void transmit_ready(const wire::MacAddr& mac);
  void free_dropped();
  void on_arp_timer(Instant now);
  std::size_t flush_tx();
  std::size_t finish_tx();
  void drop_held_tx();
  io::PacketBuf* alloc_frame();

  const EngineConfig cfg_;
  const tcp::TcpConfig tcp_cfg_;  // cfg_.tcp with the MTU clamped to the device's
  io::PacketIo& io_;
  const io::IoCapabilities caps_;
  Instant now_;
  EngineCounters counters_;
  tcp::ConnectionContext ctx_;
  arp::ArpCache arp_;
  isn::IsnGenerator isn_;
  isn::SynCookies cookies_;
  TimerWheel wheel_;    // before sockets_: the nodes in sockets_ unlink on destruction
  SocketTable sockets_;
  FlowTable flows_;
  PortTable ports_;

  // Scratch and queues, sized at construction so the data path never allocates.
  std::vector<io::PacketBuf*> rx_;
  std::vector<io::PacketBuf*> tx_;          // frames waiting for tx_burst
  std::vector<io::PacketBuf*> arp_ready_;
  std::vector<io::PacketBuf*> arp_dropped_;
  std::vector<wire::Ipv4Addr> arp_resend_;
  std::vector<std::uint32_t> dirty_;        // socket slots with undrained events

  std::uint16_t next_ip_ident_ = 0;
  std::uint32_t next_ephemeral_ = 0;        // RFC 6056 alg. 3 "next_ephemeral"
  std::uint32_t next_bind_port_ = 0;
  std::uint32_t tx_stalls_ = 0;             // consecutive polls tx_burst took nothing
};

}  // namespace utcp::stack::engine
