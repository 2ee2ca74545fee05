// RFC 6528 §3 ISNs, RFC 7323 §5.4 TSval offsets and RFC 6056 §3.3.3 port offsets: keyed
// on their fields and the secret; ISNs advance with the 4-us clock, unbiased bit by bit.
#include <catch2/catch.hpp>

#include <array>

#include "stack/isn/isn.h"

using utcp::stack::Duration;
using utcp::stack::instant_from_us;
using utcp::stack::SeqNum;
using utcp::stack::wire::Endpoint;
using utcp::stack::wire::FourTuple;
using utcp::stack::wire::Ipv4Addr;
namespace isn = utcp::stack::isn;

namespace {

const isn::Secret kSecret = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};
const FourTuple kTuple{{Ipv4Addr::from_octets(198, 18, 0, 1), 80},
                       {Ipv4Addr::from_octets(198, 18, 0, 2), 40000}};
constexpr auto kNow = instant_from_us(123'456'789);

}  // namespace

TEST_CASE("isn is stable for the same tuple and time", "[isn]") {
  const isn::IsnGenerator gen(kSecret);
  CHECK(gen.isn(kTuple, kNow) == gen.isn(kTuple, kNow));
  CHECK(isn::IsnGenerator(kSecret).isn(kTuple, kNow) == gen.isn(kTuple, kNow));
}

TEST_CASE("isn changes with each tuple field and with the secret", "[isn]") {
  const isn::IsnGenerator gen(kSecret);
  const SeqNum base = gen.isn(kTuple, kNow);
  FourTuple t = kTuple;
  t.local.addr.value ^= 1;
  CHECK(gen.isn(t, kNow) != base);
  t = kTuple;
  t.local.port ^= 1;
  CHECK(gen.isn(t, kNow) != base);
  t = kTuple;
  t.remote.addr.value ^= 1;
  CHECK(gen.isn(t, kNow) != base);
  t = kTuple;
  t.remote.port ^= 1;
  CHECK(gen.isn(t, kNow) != base);
  isn::Secret other = kSecret;
  other[0] ^= 1;
  CHECK(isn::IsnGenerator(other).isn(kTuple, kNow) != base);
}

TEST_CASE("isn advances by one every 4 us: 250000 per second", "[isn]") {
  const isn::IsnGenerator gen(kSecret);
  const SeqNum base = gen.isn(kTuple, kNow);
  CHECK(gen.isn(kTuple, kNow + Duration(4)) - base == 1);
  CHECK(gen.isn(kTuple, kNow + std::chrono::seconds(1)) - base == 250000);
  CHECK(gen.isn(kTuple, kNow + std::chrono::seconds(10)) - base == 2'500'000);
}

TEST_CASE("isn bits are each set about half the time over sequential ports", "[isn]") {
  const isn::IsnGenerator gen(kSecret);
  constexpr int kSamples = 100'000;
  std::array<int, 32> ones{};
  FourTuple t = kTuple;
  for (int i = 0; i < kSamples; ++i) {
    t.remote.port = static_cast<std::uint16_t>(1024 + i);
    t.remote.addr.value = kTuple.remote.addr.value + static_cast<std::uint32_t>((1024 + i) >> 16);
    const std::uint32_t v = gen.isn(t, kNow).raw();
    for (int bit = 0; bit < 32; ++bit) ones[static_cast<std::size_t>(bit)] += (v >> bit) & 1;
  }
  for (int bit = 0; bit < 32; ++bit) {
    INFO("bit " << bit);
    CHECK(ones[static_cast<std::size_t>(bit)] > kSamples * 48 / 100);
    CHECK(ones[static_cast<std::size_t>(bit)] < kSamples * 52 / 100);
  }
}

TEST_CASE("ephemeral_port_offset depends on the destination and the secret", "[isn]") {
  const Ipv4Addr local = kTuple.local.addr;
  const Endpoint remote = kTuple.remote;
  const std::uint32_t base = isn::ephemeral_port_offset(kSecret, local, remote);
  CHECK(isn::ephemeral_port_offset(kSecret, local, remote) == base);
  CHECK(isn::ephemeral_port_offset(kSecret, Ipv4Addr{local.value + 1}, remote) != base);
  CHECK(isn::ephemeral_port_offset(kSecret, local, {remote.addr, 40001}) != base);
  CHECK(isn::ephemeral_port_offset(kSecret, local, {Ipv4Addr{remote.addr.value + 1}, 40000}) !=
        base);
  isn::Secret other = kSecret;
  other[15] ^= 0x80;
  CHECK(isn::ephemeral_port_offset(other, local, remote) != base);
}

TEST_CASE("timestamp_offset depends on the two addresses and the secret, not the ports",
          "[isn]") {
  const isn::IsnGenerator gen(kSecret);
  const Ipv4Addr local = kTuple.local.addr;
  const Ipv4Addr remote = kTuple.remote.addr;
  const std::uint32_t base = gen.timestamp_offset(local, remote);
  CHECK(gen.timestamp_offset(local, remote) == base);
  CHECK(gen.timestamp_offset(Ipv4Addr{local.value + 1}, remote) != base);
  CHECK(gen.timestamp_offset(local, Ipv4Addr{remote.value + 1}) != base);
  CHECK(gen.timestamp_offset(remote, local) != base);
  isn::Secret other = kSecret;
  other[0] ^= 1;
  CHECK(isn::IsnGenerator(other).timestamp_offset(local, remote) != base);
}
