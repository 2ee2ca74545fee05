// TCP header and option parse/emit (RFC 9293 §3.1, §3.2; RFC 7323 §2.2, §3.2;
// RFC 2018 §2, §3). Options are emitted in Linux's layout (tcp_options_write), so
// our SYN looks like a Linux SYN to middleboxes and fingerprinting tools.
// Invariant: TcpOptions::emitted_len() and the bytes emit writes come from one
// layout function, so they always agree, and never exceed kMaxOptionsLen.
#include "stack/wire/tcp.h"

#include <algorithm>

#include "stack/wire/byte_order.h"
#include "stack/wire/checksum.h"
#include "stack/wire/ipv4.h"

namespace utcp::stack::wire {
namespace {

constexpr std::size_t kMaxOptionsLen = kTcpMaxHeaderLen - kTcpMinHeaderLen;

constexpr std::uint8_t kOptEol = 0;
constexpr std::uint8_t kOptNop = 1;
constexpr std::uint8_t kOptMss = 2;
constexpr std::uint8_t kOptWindowScale = 3;
constexpr std::uint8_t kOptSackPermitted = 4;
constexpr std::uint8_t kOptSack = 5;
constexpr std::uint8_t kOptTimestamps = 8;

constexpr std::uint8_t kLenMss = 4;
constexpr std::uint8_t kLenWindowScale = 3;
constexpr std::uint8_t kLenSackPermitted = 2;
constexpr std::uint8_t kLenTimestamps = 10;
constexpr std::size_t kSackBlockLen = 8;

// ---- parsing ---------------------------------------------------------------

void read_sack_blocks(std::span<const std::uint8_t> opt, TcpOptions& o) {
  const std::size_t n = (opt.size() - 2) / kSackBlockLen;
  for (std::size_t i = 0; i < n; ++i) {
    const std::uint8_t* b = opt.data() + 2 + i * kSackBlockLen;
    o.sack[i] = SackBlock{SeqNum(load_be32(b)), SeqNum(load_be32(b + 4))};
  }
  o.sack_count = static_cast<std::uint8_t>(n);
}

bool is_valid_sack_len(std::size_t len) {
  // RFC 2018 §3: length 2 + 8n; n is at most 4 in a 40-byte option area.
  const std::size_t n = (len - 2) / kSackBlockLen;
  return len >= 2 + kSackBlockLen && (len - 2) % kSackBlockLen == 0 && n <= kTcpMaxSackBlocks;
}

// `opt` is one whole option (kind, length, value). False when a known kind has
// the wrong length; unknown kinds are skipped (RFC 9293 §3.1: "must be prepared
// to handle an illegal option length ... without crashing").
bool apply_option(std::span<const std::uint8_t> opt, TcpOptions& o) {
  const std::size_t len = opt.size();
  switch (opt[0]) {
    case kOptMss:
      if (len != kLenMss) return false;
      o.mss = load_be16(opt.data() + 2);
      return true;
    case kOptWindowScale:
      if (len != kLenWindowScale) return false;
      o.window_scale = opt[2];
      return true;
    case kOptSackPermitted:
      if (len != kLenSackPermitted) return false;
      o.sack_permitted = true;
      return true;
    case kOptSack:
      if (!is_valid_sack_len(len)) return false;
      read_sack_blocks(opt, o);
      return true;
    case kOptTimestamps:
      if (len != kLenTimestamps) return false;
      o.timestamps = TcpTimestamps{load_be32(opt.data() + 2), load_be32(opt.data() + 6)};
      return true;
    default:
      return true;
  }
}

ParseError parse_options(std::span<const std::uint8_t> area, TcpOptions& o) {
  std::size_t i = 0;
  while (i < area.size()) {
    const std::uint8_t kind = area[i];
    if (kind == kOptEol) break;
    if (kind == kOptNop) {
      ++i;
      continue;
    }
    if (i + 1 >= area.size()) return ParseError::kBadOption;
    const std::size_t len = area[i + 1];
    if (len < 2 || len > area.size() - i) return ParseError::kBadOption;
    if (!apply_option(area.subspan(i, len), o)) return ParseError::kBadOption;
    i += len;
  }
  return ParseError::kNone;
}

// ---- emitting --------------------------------------------------------------

struct OptionLayout {
  std::size_t sack_blocks = 0;
  std::size_t len = 0;
};

// Linux's layout: MSS; SACK-permitted+TS (or NOP,NOP,TS or NOP,NOP,SACK-permitted);
// NOP,WS; NOP,NOP,SACK. Every piece is 4-byte aligned, so no padding is needed.
// SACK blocks get whatever room is left (with TS: 3 blocks, or 2 beside MSS and WS).
OptionLayout layout(const TcpOptions& o) {
  OptionLayout l;
  if (o.mss) l.len += 4;
  if (o.timestamps) {
    l.len += 12;
  } else if (o.sack_permitted) {
    l.len += 4;
  }
  if (o.window_scale) l.len += 4;
  const std::size_t fixed = l.len + 4;  // NOP, NOP, kind, length
  const std::size_t room = fixed < kMaxOptionsLen ? (kMaxOptionsLen - fixed) / kSackBlockLen : 0;
  l.sack_blocks = std::min({std::size_t{o.sack_count}, kTcpMaxSackBlocks, room});
  if (l.sack_blocks > 0) l.len += 4 + l.sack_blocks * kSackBlockLen;
  return l;
}

std::uint8_t* put4(std::uint8_t* p, std::uint8_t a, std::uint8_t b, std::uint8_t c,
                   std::uint8_t d) {
  p[0] = a;
  p[1] = b;
  p[2] = c;
  p[3] = d;
  return p + 4;
}

std::uint8_t* emit_timestamps_and_sack_permitted(const TcpOptions& o, std::uint8_t* p) {
  if (o.timestamps) {
    p = o.sack_permitted ? put4(p, kOptSackPermitted, kLenSackPermitted, kOptTimestamps,
                                kLenTimestamps)
                         : put4(p, kOptNop, kOptNop, kOptTimestamps, kLenTimestamps);
    store_be32(p, o.timestamps->tsval);
    store_be32(p + 4, o.timestamps->tsecr);
    return p + 8;
  }
  if (o.sack_permitted) p = put4(p, kOptNop, kOptNop, kOptSackPermitted, kLenSackPermitted);
  return p;
}

std::uint8_t* emit_sack(const TcpOptions& o, std::size_t blocks, std::uint8_t* p) {
  p = put4(p, kOptNop, kOptNop, kOptSack, static_cast<std::uint8_t>(2 + blocks * kSackBlockLen));
  for (std::size_t i = 0; i < blocks; ++i) {
    store_be32(p, o.sack[i].left.raw());
    store_be32(p + 4, o.sack[i].right.raw());
    p += kSackBlockLen;
  }
  return p;
}

void emit_options(const TcpOptions& o, const OptionLayout& l, std::uint8_t* p) {
  if (o.mss) {
    p = put4(p, kOptMss, kLenMss, 0, 0);
    store_be16(p - 2, *o.mss);
  }
  p = emit_timestamps_and_sack_permitted(o, p);
  if (o.window_scale) p = put4(p, kOptNop, kOptWindowScale, kLenWindowScale, *o.window_scale);
  if (l.sack_blocks > 0) emit_sack(o, l.sack_blocks, p);
}

}  // namespace

std::size_t TcpOptions::emitted_len() const { return layout(*this).len; }

// ---- TcpView ---------------------------------------------------------------

std::optional<TcpView> TcpView::check(std::span<const std::uint8_t> bytes, ParseError* why) {
  ParseError err = ParseError::kNone;
  if (bytes.size() < kTcpMinHeaderLen) {
    err = ParseError::kTruncated;
  } else {
    const std::size_t header_len = (std::size_t{bytes[12]} >> 4) * 4;
    if (header_len < kTcpMinHeaderLen || header_len > bytes.size()) {
      err = ParseError::kBadHeaderLength;
    }
  }
  if (why != nullptr) *why = err;
  if (err != ParseError::kNone) return std::nullopt;
  return TcpView(bytes);
}

std::uint16_t TcpView::src_port() const { return load_be16(bytes_.data()); }
std::uint16_t TcpView::dst_port() const { return load_be16(bytes_.data() + 2); }
SeqNum TcpView::seq() const { return SeqNum(load_be32(bytes_.data() + 4)); }
SeqNum TcpView::ack() const { return SeqNum(load_be32(bytes_.data() + 8)); }
std::size_t TcpView::header_len() const { return (std::size_t{bytes_[12]} >> 4) * 4; }
std::uint8_t TcpView::flags() const { return bytes_[13]; }
std::uint16_t TcpView::window() const { return load_be16(bytes_.data() + 14); }
std::uint16_t TcpView::checksum() const { return load_be16(bytes_.data() + 16); }
std::uint16_t TcpView::urgent() const { return load_be16(bytes_.data() + 18); }

std::span<const std::uint8_t> TcpView::options() const {
  return bytes_.subspan(kTcpMinHeaderLen, header_len() - kTcpMinHeaderLen);
}

std::span<const std::uint8_t> TcpView::payload() const { return bytes_.subspan(header_len()); }

bool TcpView::checksum_ok(Ipv4Addr src, Ipv4Addr dst) const {
  if (bytes_.size() > 0xffff) return false;
  const std::uint32_t pseudo =
      pseudo_header_sum(src, dst, ip_protocol::kTcp, static_cast<std::uint16_t>(bytes_.size()));
  return checksum_fold(checksum_partial(bytes_, pseudo)) == 0;
}

// ---- TcpRepr ---------------------------------------------------------------

std::optional<TcpRepr> parse_tcp(const TcpView& view, ParseError* why) {
  TcpRepr r;
  const ParseError err = parse_options(view.options(), r.options);
  if (why != nullptr) *why = err;
  if (err != ParseError::kNone) return std::nullopt;
  r.src_port = view.src_port();
  r.dst_port = view.dst_port();
  r.seq = view.seq();
  r.ack = view.ack();
  r.flags = view.flags();
  r.window = view.window();
  r.urgent = view.urgent();
  return r;
}

void emit_tcp(const TcpRepr& repr, std::span<std::uint8_t> out, Ipv4Addr src, Ipv4Addr dst,
              std::span<const std::uint8_t> payload, bool fill_checksum) {
  const OptionLayout l = layout(repr.options);
  const std::size_t header_len = kTcpMinHeaderLen + l.len;
  if (out.size() < header_len) return;
  std::uint8_t* p = out.data();
  store_be16(p, repr.src_port);
  store_be16(p + 2, repr.dst_port);
  store_be32(p + 4, repr.seq.raw());
  store_be32(p + 8, repr.ack.raw());
  p[12] = static_cast<std::uint8_t>((header_len / 4) << 4);
  p[13] = repr.flags;
  store_be16(p + 14, repr.window);
  store_be16(p + 16, 0);
  store_be16(p + 18, repr.urgent);
  emit_options(repr.options, l, p + kTcpMinHeaderLen);

  const auto l4_len = static_cast<std::uint16_t>(header_len + payload.size());
  const std::uint32_t pseudo = pseudo_header_sum(src, dst, ip_protocol::kTcp, l4_len);
  if (!fill_checksum) {
    store_be16(p + 16, checksum_reduce(pseudo));
    return;
  }
  // The header length is a multiple of 4, so the sum continues over the payload.
  const std::uint32_t header_sum = checksum_partial(out.first(header_len), pseudo);
  store_be16(p + 16, checksum_fold(checksum_partial(payload, header_sum)));
}

}  // namespace utcp::stack::wire
