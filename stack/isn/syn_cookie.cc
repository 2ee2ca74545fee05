// SYN cookie encoding (RFC 4987 §3.6; Linux net/ipv4/syncookies.c for the layout and
// the timestamp trick). Invariant: check(make(x)) returns x's MSS class for the period
// of make() and the next; any change to tuple, peer ISN or cookie fails with
// probability 1 - 2^-22.
#include "stack/isn/syn_cookie.h"

#include <algorithm>

#include "stack/isn/keyed_hash.h"

namespace utcp::stack::isn {
namespace {

constexpr std::uint32_t kCountShift = 24;
constexpr std::uint32_t kLowMask = (1u << kCountShift) - 1;
constexpr std::uint32_t kClassMask = 0x3;
// Linux MAX_SYNCOOKIE_AGE: the current and the previous period.
constexpr std::uint32_t kMaxAge = 2;

// Linux TS_OPT_* (syncookies.c): window scale in bits 0-3 (0xf: none), SACK in bit 4.
constexpr std::uint32_t kTsBits = 6;
constexpr std::uint32_t kTsWscaleMask = 0xf;
constexpr std::uint32_t kTsSack = 1u << 4;
// RFC 7323 §2.3: a shift count above 14 is used as 14.
constexpr std::int8_t kMaxWindowScale = 14;

std::uint32_t period_count(Instant now) {
  return static_cast<std::uint32_t>(
      static_cast<std::uint64_t>(to_us(now) / SynCookies::kPeriodUs));
}

std::uint32_t mss_class_for(std::uint16_t peer_mss) {
  std::uint32_t cls = 0;
  for (std::uint32_t i = 0; i < SynCookies::kMssTable.size(); ++i) {
    if (SynCookies::kMssTable[i] <= peer_mss) cls = i;
  }
  return cls;
}

// The cookie's low 24 bits: 22 bits of the class hash, then the 2-bit MSS class.
std::uint32_t low_bits(std::uint32_t class_hash, std::uint32_t mss_class) {
  return (class_hash & kLowMask & ~kClassMask) | mss_class;
}

}  // namespace

std::uint32_t SynCookies::base_hash(const wire::FourTuple& tuple) const {
  return static_cast<std::uint32_t>(HashInput(HashDomain::kCookieBase)
                                        .endpoint(tuple.local)
                                        .endpoint(tuple.remote)
                                        .hash(secret_));
}

std::uint32_t SynCookies::class_hash(const wire::FourTuple& tuple, SeqNum peer_isn,
                                     std::uint32_t count, std::uint32_t mss_class) const {
  return static_cast<std::uint32_t>(HashInput(HashDomain::kCookieClass)
                                        .endpoint(tuple.local)
                                        .endpoint(tuple.remote)
                                        .u32(peer_isn.raw())
                                        .u32(count)
                                        .u8(static_cast<std::uint8_t>(mss_class))
                                        .hash(secret_));
}

SeqNum SynCookies::make(const wire::FourTuple& tuple, SeqNum peer_isn, std::uint16_t peer_mss,
                        Instant now) const {
  const std::uint32_t count = period_count(now);
  const std::uint32_t cls = mss_class_for(peer_mss);
  const std::uint32_t low = low_bits(class_hash(tuple, peer_isn, count, cls), cls);
  return SeqNum(base_hash(tuple) + peer_isn.raw() + (count << kCountShift) + low);
}

std::optional<std::uint16_t> SynCookies::check(const wire::FourTuple& tuple, SeqNum peer_isn,
                                               SeqNum cookie, Instant now) const {
  const std::uint32_t v = cookie.raw() - base_hash(tuple) - peer_isn.raw();
  const std::uint32_t count = period_count(now);
  const std::uint32_t age = (count - (v >> kCountShift)) & (~0u >> kCountShift);
  if (age >= kMaxAge) return std::nullopt;
  const std::uint32_t cls = v & kClassMask;
  const std::uint32_t expected = low_bits(class_hash(tuple, peer_isn, count - age, cls), cls);
  if ((v & kLowMask) != expected) return std::nullopt;
  return kMssTable[cls];
}

// Linux cookie_init_timestamp: the options replace the low bits of TSval, and the
// result is moved back one step if that made it run ahead of the real clock.
std::uint32_t SynCookies::encode_ts_options(std::uint32_t tsval, bool sack_permitted,
                                            std::int8_t window_scale) {
  std::uint32_t options = window_scale < 0
                              ? kTsWscaleMask
                              : static_cast<std::uint32_t>(std::min(window_scale, kMaxWindowScale));
  if (sack_permitted) options |= kTsSack;
  std::uint32_t ts = ((tsval >> kTsBits) << kTsBits) | options;
  if (static_cast<std::int32_t>(ts - tsval) > 0) ts -= 1u << kTsBits;
  return ts;
}

// Linux cookie_timestamp_decode.
void SynCookies::decode_ts_options(std::uint32_t tsecr, bool& sack_permitted,
                                   std::int8_t& window_scale) {
  sack_permitted = (tsecr & kTsSack) != 0;
  const std::uint32_t wscale = tsecr & kTsWscaleMask;
  window_scale = wscale == kTsWscaleMask ? std::int8_t{-1} : static_cast<std::int8_t>(wscale);
}

}  // namespace utcp::stack::isn
