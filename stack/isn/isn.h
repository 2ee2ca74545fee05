// Initial sequence numbers (RFC 6528 §3) and ephemeral port offsets (RFC 6056 §3.3.3),
// both keyed with SipHash-2-4 so that an off-path attacker cannot predict them.
// Invariant: for a fixed secret and tuple, isn() advances by exactly 1 per 4 us.
#pragma once

#include <array>
#include <cstdint>

#include "stack/base/seq_num.h"
#include "stack/base/time.h"
#include "stack/wire/addresses.h"

namespace utcp::stack::isn {

using Secret = std::array<std::uint8_t, 16>;

// RFC 6528 §3: ISN = M + F(localip, localport, remoteip, remoteport, secretkey), where
// M is a 4-microsecond timer and F is SipHash-2-4.
class IsnGenerator {
 public:
  explicit IsnGenerator(const Secret& secret) : secret_(secret) {}
  SeqNum isn(const wire::FourTuple& tuple, Instant now) const;
  // RFC 7323 §5.4: the TSval offset, F(localip, remoteip, secretkey) like Linux's
  // secure_tcp_ts_off. Ports are left out on purpose: every connection between two
  // hosts shares one timestamp clock, so a new connection on a tuple still in
  // TIME-WAIT at the peer sends TSvals newer than the old one's (RFC 6191 §2).
  std::uint32_t timestamp_offset(wire::Ipv4Addr local, wire::Ipv4Addr remote) const;

 private:
  Secret secret_;
};

// RFC 6056 §3.3.3 (algorithm 3): offset = F(local_IP, remote_IP, remote_port, secret),
// the per-destination start of the ephemeral port search. 32 bits, so that the caller's
// `offset % range` is even (16 bits modulo the default 28,232 ports made the first
// 9,072 ports of the range 1.5 times as likely as the rest).
std::uint32_t ephemeral_port_offset(const Secret& secret, wire::Ipv4Addr local,
                                    wire::Endpoint remote);

}  // namespace utcp::stack::isn
