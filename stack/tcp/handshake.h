// Segments the engine builds without a connection: the SYN-ACK of a SYN cookie
// (RFC 4987 §3.6) and the RST answering a segment for which no TCB exists
// (RFC 9293 §3.10.7.1). Kept in tcp/ so the option choices (window scale, MSS,
// timestamps) are the same as a connection's own.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>

#include "stack/base/seq_num.h"
#include "stack/base/time.h"
#include "stack/tcp/tcp_config.h"
#include "stack/wire/tcp.h"

namespace utcp::stack::tcp {

// The window-scale shift we announce for a receive buffer of `rcvbuf` bytes
// (smallest shift whose 65535 << shift covers the buffer; at most 14, RFC 7323 §2.3).
std::uint8_t receive_window_scale(std::uint32_t rcvbuf);

// The receive buffer a socket gets: SO_RCVBUF when set (capped at max_buf), else
// the configured default. The SYN's window and window scale derive from it.
std::uint32_t receive_buffer_size(const TcpConfig& cfg, const SocketOptions& opts);

// Our MSS option value for this configuration and socket (MTU - 40, or TCP_MAXSEG).
std::uint16_t advertised_mss(const TcpConfig& cfg, const SocketOptions& opts);

// The SYN-ACK answering `syn` with our ISN `iss`, offering what cfg/opts allow and
// the peer offered. `tsval` is our timestamp value (the engine encodes cookie
// options in its low bits); ignored when the peer sent no timestamps.
wire::TcpRepr build_syn_ack(const TcpConfig& cfg, const SocketOptions& opts,
                            const wire::TcpRepr& syn, SeqNum iss, std::uint32_t tsval);

// RFC 9293 §3.10.7.1: the reset for a segment that reached no connection; nullopt
// when the segment itself is a RST (never answer a reset with a reset).
std::optional<wire::TcpRepr> reset_for(const wire::TcpRepr& seg, std::size_t payload_len);

// Our timestamp clock (RFC 7323 §5.4: 1 ms granularity) before a connection's offset.
inline std::uint32_t timestamp_clock(Instant now) {
  return static_cast<std::uint32_t>(to_ms(now));
}

}  // namespace utcp::stack::tcp
