// One TCP connection (a TCB, RFC 9293 §3.3.1) and the seam between it and the engine.
// The connection never touches frames: it takes parsed segments (wire::TcpRepr +
// payload) and `now`, emits segments through a SegmentSink, and reports its next
// deadline. The engine owns flow lookup, listeners, SYN cookies, IP and ARP.
// Call order: engine -> on_segment() -> (tcp_input.cc) -> output (tcp_output.cc).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>

#include "stack/base/result.h"
#include "stack/base/seq_num.h"
#include "stack/base/time.h"
#include "stack/tcp/tcp_config.h"
#include "stack/tcp/tcp_counters.h"
#include "stack/wire/addresses.h"
#include "stack/wire/tcp.h"

namespace utcp::stack::tcp {

enum class State : std::uint8_t {
  kClosed, kListen, kSynSent, kSynReceived, kEstablished, kFinWait1, kFinWait2,
  kCloseWait, kClosing, kLastAck, kTimeWait
};
const char* to_string(State s);

// Readiness bits, aggregated until the engine drains them (mTCP's flow-level event
// aggregation): many segments in one burst become one event per connection.
namespace events {
inline constexpr std::uint32_t kReadable = 1u << 0;   // data, FIN or error to read
inline constexpr std::uint32_t kWritable = 1u << 1;   // send buffer has room
inline constexpr std::uint32_t kConnected = 1u << 2;  // handshake completed
inline constexpr std::uint32_t kReadHangup = 1u << 3; // peer sent FIN (EPOLLRDHUP)
inline constexpr std::uint32_t kHangup = 1u << 4;     // both directions closed (EPOLLHUP)
inline constexpr std::uint32_t kError = 1u << 5;      // reset, timeout, unreachable (EPOLLERR)
inline constexpr std::uint32_t kClosed = 1u << 6;     // reached CLOSED: engine may reap
}  // namespace events

enum class Push : std::uint8_t { kAck, kData };

// The IPv4 header fields a socket chooses (IP_TOS, IP_TTL), for every segment it sends.
struct IpFields {
  std::uint8_t tos = 0;
  std::uint8_t ttl = 64;
};

// Where a connection's segments go. The engine implements it by building the frame
// (Ethernet, IPv4, TCP) around the header and the payload, which may come from the
// send ring in two pieces. Returns false when no buffer is available: the
// connection then behaves as if the segment were lost on the wire.
class SegmentSink {
 public:
  virtual ~SegmentSink() = default;
  virtual bool emit(const wire::FourTuple& tuple, const IpFields& ip, const wire::TcpRepr& repr,
                    std::span<const std::uint8_t> payload1,
                    std::span<const std::uint8_t> payload2) = 0;
};

// What getsockopt(TCP_INFO) needs, in our units.
struct TcpInfo {
  State state = State::kClosed;
  std::uint32_t snd_mss = 0;
  std::uint32_t rcv_mss = 0;
  Duration srtt{0};
  Duration rttvar{0};
  Duration rto{0};
  std::uint32_t cwnd_bytes = 0;
  std::uint32_t ssthresh_bytes = 0;
  std::uint32_t bytes_in_flight = 0;
  std::uint32_t snd_wnd = 0;
  std::uint32_t rcv_wnd = 0;
  std::uint8_t snd_wscale = 0;
  std::uint8_t rcv_wscale = 0;
  bool timestamps = false;
  bool sack = false;
  std::uint32_t retransmits_current = 0;  // consecutive RTO backoffs now
  std::uint64_t total_retransmits = 0;    // segments retransmitted over the lifetime
  std::uint64_t bytes_sent = 0;
  std::uint64_t bytes_acked = 0;
  std::uint64_t bytes_received = 0;
  std::uint64_t segs_out = 0;
  std::uint64_t segs_in = 0;
  std::uint32_t unread_bytes = 0;
  std::uint32_t unsent_bytes = 0;
  std::uint32_t ooo_ranges = 0;
};

// What a SYN cookie could carry of the peer's SYN (RFC 4987 §3.6).
struct CookieOptions {
  std::uint16_t mss = 536;
  bool sack_permitted = false;
  std::int8_t peer_window_scale = -1;  // -1: none offered
  bool timestamps = false;
};

// What every connection of one engine shares. Owned by the engine, outlives its
// connections; one core, so no synchronisation.
struct ConnectionContext {
  const TcpConfig* cfg = nullptr;
  SegmentSink* sink = nullptr;
  TcpCounters* counters = nullptr;
};

// What the engine derives from its secret for a new connection: the ISN (RFC 6528,
// per tuple) and the TSval offset (RFC 7323 §5.4). The offset is per pair of hosts,
// not per tuple, so that successive connections on one tuple send growing TSvals and
// a peer in TIME-WAIT accepts the new SYN (RFC 6191) instead of failing PAWS.
struct Initial {
  SeqNum iss;
  std::uint32_t ts_offset = 0;
};

class Connection;
using ConnectionPtr = std::unique_ptr<Connection>;

class Connection {
 public:
  virtual ~Connection() = default;

  // --- creation (the engine picks the tuple, the ISN and the TSval offset) ---
  // Active open: sends SYN; state SYN-SENT.
  static ConnectionPtr connect(const ConnectionContext& ctx, const SocketOptions& opts,
                               const wire::FourTuple& tuple, const Initial& init,
                               Instant now);
  // Passive open from a listener's SYN: sends SYN-ACK; state SYN-RECEIVED.
  static ConnectionPtr accept_syn(const ConnectionContext& ctx, const SocketOptions& opts,
                                  const wire::FourTuple& tuple, const wire::TcpRepr& syn,
                                  const Initial& init, Instant now);
  // The final ACK of a handshake whose SYN-ACK carried a cookie; state ESTABLISHED.
  // init.iss is the cookie (ack - 1), irs = ack segment's seq - 1; init.ts_offset is
  // the one the cookie SYN-ACK's TSval was sent with.
  static ConnectionPtr from_cookie(const ConnectionContext& ctx, const SocketOptions& opts,
                                   const wire::FourTuple& tuple, const wire::TcpRepr& ack,
                                   std::span<const std::uint8_t> payload, const Initial& init,
                                   const CookieOptions& peer, Instant now);

  // --- from the network (RFC 9293 §3.10.7 SEGMENT ARRIVES) ---
  virtual void on_segment(const wire::TcpRepr& seg, std::span<const std::uint8_t> payload,
                          Instant now) = 0;
  // ICMP destination unreachable quoting one of our segments. `quoted_seq` has been
  // checked by nobody yet: the connection accepts it only within SND.UNA..SND.NXT
  // (RFC 5927 §4.1). next_hop_mtu != 0 for "fragmentation needed".
  virtual void on_icmp_unreachable(SeqNum quoted_seq, std::uint8_t code,
                                   std::uint16_t next_hop_mtu, Instant now) = 0;
  // True if a new SYN may reuse this TIME-WAIT connection's tuple (RFC 6191 with
  // timestamps, RFC 1122 §4.2.2.13 without). The engine then drops this connection.
  virtual bool time_wait_accepts_syn(const wire::TcpRepr& syn) const = 0;
  // Ends TIME-WAIT early, sending nothing (the engine's bound on TIME-WAIT connections,
  // as Linux's tcp_max_tw_buckets): CLOSED. No-op in any other state.
  virtual void end_time_wait() = 0;
  // SND.NXT, so a reused tuple gets a higher ISN.
  virtual SeqNum snd_nxt() const = 0;

  // --- time ---
  virtual void on_timer(Instant now) = 0;        // call when now >= next_deadline()
  virtual Instant next_deadline() const = 0;     // kNever when nothing is armed

  // --- from the application ---
  // Copies into the send buffer; EAGAIN when full or while the handshake is still in
  // progress (Linux waits in sk_stream_wait_connect), EPIPE after shutdown/close, the
  // pending error after a reset or timeout.
  // `more` is MSG_MORE: hold a partial segment like TCP_CORK.
  virtual Result<std::size_t> send(std::span<const std::uint8_t> data, bool more, Instant now) = 0;
  // MSG_EOR: the bytes queued so far end a record. No segment (first transmission or
  // retransmission) carries them together with later bytes: Linux's
  // tcp_skb_can_collapse keeps an EOR skb closed.
  virtual void mark_record_end() = 0;
  // Copies out of the receive buffer; 0 at end of stream; EAGAIN when empty.
  virtual Result<std::size_t> recv(std::span<std::uint8_t> out, bool peek, Instant now) = 0;
  virtual Errno shutdown(bool read, bool write, Instant now) = 0;
  // The application lets go. Graceful FIN, or RST when unread data remains or
  // SO_LINGER with zero time is set (RFC 9293 §3.10.4, RFC 2525 §2.17).
  virtual void close(Instant now) = 0;
  virtual void abort(Instant now) = 0;           // RST now, state CLOSED
  virtual Errno set_options(const SocketOptions& opts, Instant now) = 0;
  virtual const SocketOptions& options() const = 0;
  // What an option sends at once when it is set (even to the value it had):
  // kAck, TCP_QUICKACK 1: a pending delayed ACK (Linux's __tcp_sock_set_quickack, in
  // ESTABLISHED and CLOSE-WAIT); kData, TCP_NODELAY 1: the queued data, a partial
  // segment too, even under TCP_CORK (Linux's TCP_NAGLE_PUSH).
  virtual void push(Push what, Instant now) = 0;

  // --- observation ---
  virtual State state() const = 0;
  virtual const wire::FourTuple& tuple() const = 0;
  virtual std::uint32_t take_events() = 0;       // pending readiness bits, then cleared
  virtual std::uint32_t peek_events() const = 0;
  virtual std::size_t readable_bytes() const = 0;
  virtual std::size_t send_space() const = 0;
  // Bytes the application wrote that were never sent (TCP_NOTSENT_LOWAT's measure).
  virtual std::uint32_t unsent_bytes() const = 0;
  // Linux's sk_shutdown bits: the receive side ends with the peer's FIN, shutdown(SHUT_RD),
  // close() or an error; the send side with shutdown(SHUT_WR), close() or an error.
  virtual bool receive_shut() const = 0;
  virtual bool send_shut() const = 0;
  virtual int take_error() = 0;                  // SO_ERROR: pending errno, then cleared
  // A passive connection held back from accept() by TCP_DEFER_ACCEPT: its handshake
  // is done but neither data nor a FIN arrived, and the defer time has not passed.
  virtual bool deferred() const = 0;
  virtual TcpInfo info() const = 0;
};

}  // namespace utcp::stack::tcp
