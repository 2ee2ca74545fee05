// The stateless handshake helpers of handshake.h: SYN-ACK options (RFC 7323 §2-3,
// RFC 2018 §2, RFC 9293 §3.7.1) and the reset for a segment without a TCB
// (RFC 9293 §3.10.7.1). TcpConnection uses the same functions for its own SYN-ACK.
#include "stack/tcp/handshake.h"

#include <algorithm>

namespace utcp::stack::tcp {

namespace {
constexpr std::uint8_t kMaxWindowScale = 14;  // RFC 7323 §2.3
constexpr std::uint32_t kIpTcpHeaders = 40;
constexpr std::uint16_t kMinMss = 88;         // Linux TCP_MIN_MSS
}  // namespace

std::uint8_t receive_window_scale(std::uint32_t rcvbuf) {
  std::uint8_t shift = 0;
  while (shift < kMaxWindowScale && (std::uint64_t{0xffff} << shift) < rcvbuf) {
    ++shift;
  }
  return shift;
}

std::uint32_t receive_buffer_size(const TcpConfig& cfg, const SocketOptions& opts) {
  const std::uint32_t wanted = opts.rcvbuf != 0 ? opts.rcvbuf : cfg.default_rcvbuf;
  return std::min(wanted, cfg.max_buf);
}

std::uint16_t advertised_mss(const TcpConfig& cfg, const SocketOptions& opts) {
  std::uint32_t mss = cfg.mtu > kIpTcpHeaders + kMinMss ? cfg.mtu - kIpTcpHeaders : kMinMss;
  if (opts.user_mss != 0) {
    mss = std::clamp<std::uint32_t>(opts.user_mss, kMinMss, mss);
  }
  return static_cast<std::uint16_t>(std::min<std::uint32_t>(mss, 0xffff));
}

wire::TcpRepr build_syn_ack(const TcpConfig& cfg, const SocketOptions& opts,
                            const wire::TcpRepr& syn, SeqNum iss, std::uint32_t tsval) {
  const std::uint32_t rcvbuf = receive_buffer_size(cfg, opts);
  wire::TcpRepr r;
  r.src_port = syn.dst_port;
  r.dst_port = syn.src_port;
  r.seq = iss;
  r.ack = syn.seq + 1;
  r.flags = wire::tcp_flags::kSyn | wire::tcp_flags::kAck;
  // RFC 7323 §2.2: the window field of a SYN segment is never scaled.
  r.window = static_cast<std::uint16_t>(std::min<std::uint32_t>(rcvbuf, 0xffff));
  r.options.mss = advertised_mss(cfg, opts);
  // RFC 7323 §2.2 / RFC 2018 §2 / RFC 7323 §3.2: a SYN-ACK carries an option only
  // when the SYN offered it.
  if (cfg.window_scaling && syn.options.window_scale) {
    r.options.window_scale = receive_window_scale(rcvbuf);
  }
  r.options.sack_permitted = cfg.sack && syn.options.sack_permitted;
  if (cfg.timestamps && syn.options.timestamps) {
    r.options.timestamps = wire::TcpTimestamps{tsval, syn.options.timestamps->tsval};
  }
  return r;
}

std::optional<wire::TcpRepr> reset_for(const wire::TcpRepr& seg, std::size_t payload_len) {
  // RFC 9293 §3.10.7.1: "An incoming segment containing a RST is discarded."
  if (seg.has(wire::tcp_flags::kRst)) {
    return std::nullopt;
  }
  wire::TcpRepr r;
  r.src_port = seg.dst_port;
  r.dst_port = seg.src_port;
  if (seg.has(wire::tcp_flags::kAck)) {
    // "If the ACK bit is on, <SEQ=SEG.ACK><CTL=RST>"
    r.seq = seg.ack;
    r.flags = wire::tcp_flags::kRst;
  } else {
    // "<SEQ=0><ACK=SEG.SEQ+SEG.LEN><CTL=RST,ACK>", SYN and FIN count in SEG.LEN.
    std::uint32_t len = static_cast<std::uint32_t>(payload_len);
    len += seg.has(wire::tcp_flags::kSyn) ? 1 : 0;
    len += seg.has(wire::tcp_flags::kFin) ? 1 : 0;
    r.seq = SeqNum(0);
    r.ack = seg.seq + len;
    r.flags = wire::tcp_flags::kRst | wire::tcp_flags::kAck;
  }
  return r;
}

}  // namespace utcp::stack::tcp
