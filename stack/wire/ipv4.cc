// IPv4 header check, parse and emit (RFC 791 §3.1). The view trims the datagram to
// its total length, so Ethernet padding (frames under 60 bytes) never reaches TCP.
// Fragments are refused (kFragment): we send DF and clamp the MSS, so a peer that
// fragments anyway is broken or hostile, and reassembly is a resource attack.
#include "stack/wire/ipv4.h"

#include "stack/wire/byte_order.h"
#include "stack/wire/checksum.h"

namespace utcp::stack::wire {
namespace {

constexpr std::uint16_t kFlagDf = 0x4000;
constexpr std::uint16_t kFlagMf = 0x2000;
constexpr std::uint16_t kFragOffsetMask = 0x1fff;

ParseError check_lengths(std::span<const std::uint8_t> bytes) {
  if (bytes.size() < Ipv4Repr::kHeaderLen) return ParseError::kTruncated;
  if ((bytes[0] >> 4) != 4) return ParseError::kBadVersion;
  const std::size_t header_len = std::size_t{bytes[0] & 0x0fu} * 4;
  if (header_len < Ipv4Repr::kHeaderLen || header_len > bytes.size()) {
    return ParseError::kBadHeaderLength;
  }
  const std::size_t total_len = load_be16(bytes.data() + 2);
  if (total_len < header_len || total_len > bytes.size()) return ParseError::kBadTotalLength;
  return ParseError::kNone;
}

}  // namespace

std::optional<Ipv4View> Ipv4View::check(std::span<const std::uint8_t> bytes, ParseError* why) {
  const ParseError err = check_lengths(bytes);
  if (why != nullptr) *why = err;
  if (err != ParseError::kNone) return std::nullopt;
  return Ipv4View(bytes.first(load_be16(bytes.data() + 2)));
}

std::size_t Ipv4View::header_len() const { return std::size_t{bytes_[0] & 0x0fu} * 4; }
std::size_t Ipv4View::total_len() const { return bytes_.size(); }
std::uint8_t Ipv4View::tos() const { return bytes_[1]; }
std::uint16_t Ipv4View::ident() const { return load_be16(bytes_.data() + 4); }
bool Ipv4View::dont_fragment() const { return (load_be16(bytes_.data() + 6) & kFlagDf) != 0; }
bool Ipv4View::more_fragments() const { return (load_be16(bytes_.data() + 6) & kFlagMf) != 0; }
std::uint16_t Ipv4View::frag_offset() const {
  return load_be16(bytes_.data() + 6) & kFragOffsetMask;
}
std::uint8_t Ipv4View::ttl() const { return bytes_[8]; }
std::uint8_t Ipv4View::protocol() const { return bytes_[9]; }
std::uint16_t Ipv4View::checksum() const { return load_be16(bytes_.data() + 10); }
Ipv4Addr Ipv4View::src() const { return load_ipv4(bytes_.data() + 12); }
Ipv4Addr Ipv4View::dst() const { return load_ipv4(bytes_.data() + 16); }

std::span<const std::uint8_t> Ipv4View::options() const {
  return bytes_.subspan(Ipv4Repr::kHeaderLen, header_len() - Ipv4Repr::kHeaderLen);
}

std::span<const std::uint8_t> Ipv4View::payload() const { return bytes_.subspan(header_len()); }

bool Ipv4View::checksum_ok() const { return checksum_fold(checksum_partial(header())) == 0; }

void Ipv4Repr::emit(std::span<std::uint8_t> out, bool fill_checksum) const {
  if (out.size() < kHeaderLen) return;
  std::uint8_t* p = out.data();
  p[0] = 0x45;  // version 4, IHL 5: we never send options
  p[1] = tos;
  store_be16(p + 2, static_cast<std::uint16_t>(total_len()));
  store_be16(p + 4, ident);
  store_be16(p + 6, dont_fragment ? kFlagDf : 0);
  p[8] = ttl;
  p[9] = protocol;
  store_be16(p + 10, 0);
  store_ipv4(p + 12, src);
  store_ipv4(p + 16, dst);
  if (fill_checksum) store_be16(p + 10, checksum_fold(checksum_partial(out.first(kHeaderLen))));
}

std::optional<Ipv4Repr> Ipv4Repr::parse(const Ipv4View& view, bool verify_checksum,
                                        ParseError* why) {
  ParseError err = ParseError::kNone;
  if (verify_checksum && !view.checksum_ok()) {
    err = ParseError::kBadChecksum;
  } else if (view.is_fragment()) {
    err = ParseError::kFragment;
  }
  if (why != nullptr) *why = err;
  if (err != ParseError::kNone) return std::nullopt;
  Ipv4Repr r;
  r.src = view.src();
  r.dst = view.dst();
  r.protocol = view.protocol();
  r.tos = view.tos();
  r.ttl = view.ttl();
  r.ident = view.ident();
  r.dont_fragment = view.dont_fragment();
  r.payload_len = static_cast<std::uint16_t>(view.total_len() - view.header_len());
  return r;
}

}  // namespace utcp::stack::wire
