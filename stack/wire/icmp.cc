// ICMP message parse and emit (RFC 792; "Fragmentation Needed" MTU: RFC 1191 §4),
// and the quoted-datagram reader that maps an ICMP error to a TCP connection.
// Invariant: parse() only returns data spans inside the view; emit() writes exactly
// len() bytes or nothing.
#include "stack/wire/icmp.h"

#include <cstring>

#include "stack/wire/byte_order.h"
#include "stack/wire/checksum.h"
#include "stack/wire/ipv4.h"

namespace utcp::stack::wire {
namespace {

// The TCP bytes RFC 792 guarantees in a quote: ports and sequence number.
constexpr std::size_t kQuotedL4Len = 8;

std::uint8_t type_of(IcmpRepr::Kind kind) {
  switch (kind) {
    case IcmpRepr::Kind::kEchoRequest: return icmp_type::kEchoRequest;
    case IcmpRepr::Kind::kEchoReply: return icmp_type::kEchoReply;
    case IcmpRepr::Kind::kDestUnreachable: return icmp_type::kDestUnreachable;
    case IcmpRepr::Kind::kTimeExceeded: return icmp_type::kTimeExceeded;
  }
  return icmp_type::kEchoReply;
}

std::optional<IcmpRepr::Kind> kind_of(std::uint8_t type) {
  switch (type) {
    case icmp_type::kEchoRequest: return IcmpRepr::Kind::kEchoRequest;
    case icmp_type::kEchoReply: return IcmpRepr::Kind::kEchoReply;
    case icmp_type::kDestUnreachable: return IcmpRepr::Kind::kDestUnreachable;
    case icmp_type::kTimeExceeded: return IcmpRepr::Kind::kTimeExceeded;
    default: return std::nullopt;
  }
}

bool is_echo(IcmpRepr::Kind kind) {
  return kind == IcmpRepr::Kind::kEchoRequest || kind == IcmpRepr::Kind::kEchoReply;
}

}  // namespace

std::optional<IcmpView> IcmpView::check(std::span<const std::uint8_t> bytes, ParseError* why) {
  const bool ok = bytes.size() >= kIcmpHeaderLen;
  if (why != nullptr) *why = ok ? ParseError::kNone : ParseError::kTruncated;
  if (!ok) return std::nullopt;
  return IcmpView(bytes);
}

std::uint8_t IcmpView::type() const { return bytes_[0]; }
std::uint8_t IcmpView::code() const { return bytes_[1]; }
std::uint16_t IcmpView::checksum() const { return load_be16(bytes_.data() + 2); }
std::uint16_t IcmpView::ident() const { return load_be16(bytes_.data() + 4); }
std::uint16_t IcmpView::seq_no() const { return load_be16(bytes_.data() + 6); }
std::uint16_t IcmpView::next_hop_mtu() const { return load_be16(bytes_.data() + 6); }

bool IcmpView::checksum_ok() const { return checksum_fold(checksum_partial(bytes_)) == 0; }

void IcmpRepr::emit(std::span<std::uint8_t> out) const {
  if (out.size() < len()) return;
  std::uint8_t* p = out.data();
  // Data first: for an echo reply built in place, data may overlap `out`.
  if (!data.empty()) std::memmove(p + kIcmpHeaderLen, data.data(), data.size());
  p[0] = type_of(kind);
  p[1] = code;
  store_be16(p + 2, 0);
  if (is_echo(kind)) {
    store_be16(p + 4, ident);
    store_be16(p + 6, seq_no);
  } else {
    // RFC 1191 §4: "unused" high half, next-hop MTU in the low half (code 4 only).
    const bool frag_needed =
        kind == Kind::kDestUnreachable && code == icmp_unreach::kFragNeeded;
    store_be16(p + 4, 0);
    store_be16(p + 6, frag_needed ? next_hop_mtu : 0);
  }
  store_be16(p + 2, checksum_fold(checksum_partial(out.first(len()))));
}

std::optional<IcmpRepr> IcmpRepr::parse(const IcmpView& view, bool verify_checksum,
                                        ParseError* why) {
  const std::optional<Kind> kind = kind_of(view.type());
  ParseError err = ParseError::kNone;
  if (verify_checksum && !view.checksum_ok()) {
    err = ParseError::kBadChecksum;
  } else if (!kind) {
    err = ParseError::kUnsupported;
  }
  if (why != nullptr) *why = err;
  if (err != ParseError::kNone) return std::nullopt;
  IcmpRepr r;
  r.kind = *kind;
  r.code = view.code();
  r.data = view.data();
  if (is_echo(r.kind)) {
    r.ident = view.ident();
    r.seq_no = view.seq_no();
  } else if (r.kind == Kind::kDestUnreachable && r.code == icmp_unreach::kFragNeeded) {
    r.next_hop_mtu = view.next_hop_mtu();
  }
  return r;
}

std::optional<QuotedTcp> parse_quoted_tcp(std::span<const std::uint8_t> quoted) {
  if (quoted.size() < Ipv4Repr::kHeaderLen || (quoted[0] >> 4) != 4) return std::nullopt;
  const std::size_t header_len = std::size_t{quoted[0] & 0x0fu} * 4;
  if (header_len < Ipv4Repr::kHeaderLen || header_len + kQuotedL4Len > quoted.size()) {
    return std::nullopt;
  }
  if (quoted[9] != ip_protocol::kTcp) return std::nullopt;
  const std::uint8_t* l4 = quoted.data() + header_len;
  QuotedTcp q;
  q.src = load_ipv4(quoted.data() + 12);
  q.dst = load_ipv4(quoted.data() + 16);
  q.src_port = load_be16(l4);
  q.dst_port = load_be16(l4 + 2);
  q.seq = SeqNum(load_be32(l4 + 4));
  return q;
}

}  // namespace utcp::stack::wire
