// Issue 6: ISNs (RFC 6528) and ephemeral ports (RFC 6056 §3.3.3, then the RSS
// constraint) are unpredictable to an off-path attacker. Statistics over 10^6 samples of
// the stack's own functions: every output bit is balanced, the values fill their range
// evenly (chi-square), a one-bit change of the tuple flips each output bit half the time
// (what one observed connection tells about a neighbouring one), and values collide no
// more than random ones would. Bounds are 6 standard deviations: with a sound keyed hash
// a false failure is practically impossible, while a weak function (a linear mix, a
// counter, a hash of fewer fields) misses them by far. Each case prints its figures.
#include <catch2/catch.hpp>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <sstream>
#include <vector>

#include "stack/isn/isn.h"
#include "stack/rss/rss.h"

using utcp::stack::instant_from_us;
using utcp::stack::wire::Endpoint;
using utcp::stack::wire::FourTuple;
using utcp::stack::wire::Ipv4Addr;
namespace isn = utcp::stack::isn;
namespace rss = utcp::stack::rss;

namespace {

constexpr int kSamples = 1'000'000;
constexpr double kSigmas = 6.0;
const isn::Secret kSecret = {0x3a, 0x91, 0x07, 0xc4, 0x5e, 0xd2, 0x68, 0x1f,
                             0xb3, 0x2c, 0x84, 0x79, 0xe6, 0x0d, 0x5b, 0xa0};
const Ipv4Addr kLocal = Ipv4Addr::from_octets(198, 18, 0, 2);
constexpr auto kNow = instant_from_us(987'654'321);

// Sample i's tuple: what many clients connecting to one server look like (sequential
// ports and addresses, the least random input an attacker can arrange).
FourTuple tuple_of(int i) {
  return {{kLocal, 80},
          {Ipv4Addr{Ipv4Addr::from_octets(198, 19, 0, 0).value + static_cast<std::uint32_t>(i >> 14)},
           static_cast<std::uint16_t>(1024 + (i & 0x3fff))}};
}

// Per-bit counts of ones over `values` (bits wide): each must be within kSigmas of n/2.
// Returns the largest deviation, in standard deviations.
double worst_bit_bias(const std::vector<std::uint32_t>& values, int bits) {
  std::array<std::int64_t, 32> ones{};
  for (const std::uint32_t v : values) {
    for (int b = 0; b < bits; ++b) ones[static_cast<std::size_t>(b)] += (v >> b) & 1;
  }
  const double n = static_cast<double>(values.size());
  const double sigma = std::sqrt(n) / 2;
  double worst = 0;
  for (int b = 0; b < bits; ++b) {
    worst = std::max(worst, std::abs(static_cast<double>(ones[static_cast<std::size_t>(b)]) - n / 2) / sigma);
  }
  return worst;
}

// Chi-square of `bins` equal buckets (values already reduced to [0, bins)), in standard
// deviations from its mean (bins - 1; variance 2 (bins - 1)).
double chi_square_sigmas(const std::vector<std::uint32_t>& buckets, std::uint32_t bins) {
  std::vector<std::int64_t> count(bins);
  for (const std::uint32_t b : buckets) ++count[b];
  const double expected = static_cast<double>(buckets.size()) / bins;
  double chi = 0;
  for (const std::int64_t c : count) chi += (static_cast<double>(c) - expected) * (static_cast<double>(c) - expected) / expected;
  const double dof = bins - 1.0;
  return (chi - dof) / std::sqrt(2 * dof);
}

// Pairs of equal values among n uniform 32-bit draws: Poisson with mean n(n-1)/2^33.
struct Collisions {
  std::int64_t pairs = 0;
  double expected = 0, sigmas = 0;
};
Collisions collisions(std::vector<std::uint32_t> values) {
  std::sort(values.begin(), values.end());
  Collisions c;
  for (std::size_t i = 1, run = 1; i <= values.size(); ++i) {
    if (i < values.size() && values[i] == values[i - 1]) {
      ++run;
      continue;
    }
    c.pairs += static_cast<std::int64_t>(run * (run - 1) / 2);
    run = 1;
  }
  const double n = static_cast<double>(values.size());
  c.expected = n * (n - 1) / 2 / 4294967296.0;
  c.sigmas = std::abs(static_cast<double>(c.pairs) - c.expected) / std::sqrt(c.expected);
  return c;
}

void report(const std::string& what, std::ostringstream& figures) { WARN(what << ": " << figures.str()); }

}  // namespace

TEST_CASE("ISNs over 10^6 tuples: balanced bits, even spread, random collisions",
          "[isn][statistics]") {
  const isn::IsnGenerator gen(kSecret);
  std::vector<std::uint32_t> isns(kSamples), top(kSamples);
  for (int i = 0; i < kSamples; ++i) {
    isns[static_cast<std::size_t>(i)] = gen.isn(tuple_of(i), kNow).raw();
    top[static_cast<std::size_t>(i)] = isns[static_cast<std::size_t>(i)] >> 16;
  }
  const double bias = worst_bit_bias(isns, 32);
  const double chi = chi_square_sigmas(top, 1u << 16);
  const Collisions col = collisions(isns);
  std::ostringstream f;
  f << "worst bit bias " << bias << " sigma, chi-square of the top 16 bits " << chi
    << " sigma, " << col.pairs << " colliding pairs (random: " << col.expected << ")";
  report("ISN", f);
  CHECK(bias < kSigmas);
  CHECK(std::abs(chi) < kSigmas);
  CHECK(col.sigmas < kSigmas);
}

TEST_CASE("ISNs: a one-bit change of any tuple field flips each ISN bit half the time",
          "[isn][statistics]") {
  // An attacker who sees the ISN of its own connection learns nothing about the ISN of
  // a neighbouring tuple (the next port, the next address) at the same moment.
  const isn::IsnGenerator gen(kSecret);
  std::vector<std::uint32_t> flips(kSamples);
  for (int i = 0; i < kSamples; ++i) {
    const FourTuple t = tuple_of(i);
    FourTuple u = t;
    switch (i % 4) {
      case 0: u.remote.port ^= static_cast<std::uint16_t>(1u << (i / 4 % 16)); break;
      case 1: u.remote.addr.value ^= 1u << (i / 4 % 32); break;
      case 2: u.local.port ^= static_cast<std::uint16_t>(1u << (i / 4 % 16)); break;
      default: u.local.addr.value ^= 1u << (i / 4 % 32); break;
    }
    flips[static_cast<std::size_t>(i)] = gen.isn(t, kNow).raw() ^ gen.isn(u, kNow).raw();
  }
  const double bias = worst_bit_bias(flips, 32);
  std::ostringstream f;
  f << "worst bit bias of ISN(t) xor ISN(t with one bit flipped) " << bias << " sigma";
  report("ISN avalanche", f);
  CHECK(bias < kSigmas);
}

TEST_CASE("ephemeral port offsets over 10^6 destinations: balanced, even, avalanche",
          "[isn][statistics]") {
  std::vector<std::uint32_t> offsets(kSamples), buckets(kSamples), flips(kSamples);
  for (int i = 0; i < kSamples; ++i) {
    const Endpoint remote = tuple_of(i).remote;
    const std::uint32_t o = isn::ephemeral_port_offset(kSecret, kLocal, remote);
    Endpoint next = remote;
    next.port = static_cast<std::uint16_t>(next.port ^ (1u << (i % 16)));
    offsets[static_cast<std::size_t>(i)] = o;
    buckets[static_cast<std::size_t>(i)] = o >> 20;  // 4096 bins
    flips[static_cast<std::size_t>(i)] = o ^ isn::ephemeral_port_offset(kSecret, kLocal, next);
  }
  const double bias = worst_bit_bias(offsets, 32);
  const double chi = chi_square_sigmas(buckets, 4096);
  const double avalanche = worst_bit_bias(flips, 32);
  std::ostringstream f;
  f << "worst bit bias " << bias << " sigma, chi-square over 4096 bins " << chi
    << " sigma, avalanche bias " << avalanche << " sigma";
  report("port offset", f);
  CHECK(bias < kSigmas);
  CHECK(std::abs(chi) < kSigmas);
  CHECK(avalanche < kSigmas);
}

TEST_CASE("ephemeral ports as connect() picks them (offset, then RSS): even over the range",
          "[isn][statistics]") {
  // The engine's path (engine_sockets.cc): hint = lo + offset % range, then the first
  // port from the hint on whose replies RSS steers to this engine (one of two here).
  // The chosen ports must still spread evenly over the qualifying ports of the range.
  constexpr std::uint16_t kLo = 32768, kHi = 60999;
  const rss::Key key = rss::symmetric_key();
  const rss::Reta reta(128, 2);
  const std::uint32_t range = kHi - kLo + 1;
  constexpr std::uint32_t kBinPorts = 8;  // 28,232 = 8 x 3,529: equal bins
  static_assert((kHi - kLo + 1) % kBinPorts == 0);
  std::vector<std::uint32_t> buckets;
  buckets.reserve(kSamples);
  int none = 0;
  for (int i = 0; i < kSamples; ++i) {
    const Endpoint remote = tuple_of(i).remote;
    const auto hint = static_cast<std::uint16_t>(
        kLo + isn::ephemeral_port_offset(kSecret, kLocal, remote) % range);
    const auto port = rss::pick_local_port(key, reta, 1, kLocal, remote, kLo, kHi, hint,
                                           [](std::uint16_t) { return true; });
    if (!port) {
      ++none;
      continue;
    }
    buckets.push_back(static_cast<std::uint32_t>(*port - kLo) / kBinPorts);
  }
  const double chi = chi_square_sigmas(buckets, range / kBinPorts);
  std::ostringstream f;
  f << buckets.size() << " ports picked, chi-square over " << range / kBinPorts
    << " bins of the range " << chi << " sigma";
  report("ephemeral port", f);
  CHECK(none == 0);
  CHECK(std::abs(chi) < kSigmas);
}
