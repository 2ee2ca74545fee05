// RFC 6528 §3 initial sequence numbers and RFC 6056 §3.3.3 port offsets.
// Invariant: F depends only on the secret and the flow fields, M only on `now`.
#include "stack/isn/isn.h"

#include "stack/isn/keyed_hash.h"

namespace utcp::stack::isn {

// RFC 6528 §3: "ISN = M + F(localip, localport, remoteip, remoteport, secretkey)
// where M is the 4 microsecond timer".
SeqNum IsnGenerator::isn(const wire::FourTuple& tuple, Instant now) const {
  const auto f = static_cast<std::uint32_t>(
      HashInput(HashDomain::kIsn).endpoint(tuple.local).endpoint(tuple.remote).hash(secret_));
  const auto m = static_cast<std::uint32_t>(static_cast<std::uint64_t>(to_us(now) / 4));
  return SeqNum(m + f);
}

std::uint32_t IsnGenerator::timestamp_offset(wire::Ipv4Addr local,
                                            wire::Ipv4Addr remote) const {
  return static_cast<std::uint32_t>(
      HashInput(HashDomain::kTsOffset).u32(local.value).u32(remote.value).hash(secret_));
}

// RFC 6056 §3.3.3: "offset = F(local_IP, remote_IP, remote_port, secret_key)".
std::uint32_t ephemeral_port_offset(const Secret& secret, wire::Ipv4Addr local,
                                    wire::Endpoint remote) {
  return static_cast<std::uint32_t>(
      HashInput(HashDomain::kPortOffset).u32(local.value).endpoint(remote).hash(secret));
}

}  // namespace utcp::stack::isn
