// Software offloads, directly and through a MemoryLink that advertises them: checksums
// filled as a NIC would, RX verdicts that are true only for frames that verify, and TSO
// segments that reassemble to the original stream.
#include <catch2/catch.hpp>

#include <array>
#include <vector>

#include "stack/io/memory_link.h"
#include "stack/io/soft_offload.h"
#include "test_frames.h"

namespace utcp::stack::io {
namespace {

using testing::TcpFrame;
using testing::write_tcp_frame;

constexpr std::size_t kTcpAt = testing::kEth + testing::kIp;
const Instant kT0{};

struct Buffer {
  explicit Buffer(std::size_t size = 2048) : storage(size) {
    pkt.data = storage.data();
    pkt.capacity = static_cast<std::uint32_t>(size);
  }
  std::vector<std::uint8_t> storage;
  PacketBuf pkt;
};

TEST_CASE("fill_tx_checksums computes what the frame asks for", "[offload]") {
  Buffer buf;
  write_tcp_frame(buf.pkt, TcpFrame{.ip_checksum = false, .tcp_checksum = false});
  CHECK_FALSE(testing::ip_checksum_valid(buf.pkt));
  CHECK_FALSE(testing::tcp_checksum_valid(buf.pkt));

  REQUIRE(fill_tx_checksums(buf.pkt));
  CHECK(testing::ip_checksum_valid(buf.pkt));
  CHECK(testing::tcp_checksum_valid(buf.pkt));
  CHECK_FALSE(buf.pkt.tx_ip_checksum);
  CHECK_FALSE(buf.pkt.tx_l4_checksum);
}

TEST_CASE("fill_tx_checksums leaves a frame whose lengths do not fit", "[offload]") {
  Buffer buf;
  write_tcp_frame(buf.pkt, TcpFrame{.ip_checksum = false});
  buf.pkt.len = 30;  // cut inside the IPv4 header
  const std::vector<std::uint8_t> before(buf.pkt.data, buf.pkt.data + 30);
  CHECK_FALSE(fill_tx_checksums(buf.pkt));
  CHECK(std::vector<std::uint8_t>(buf.pkt.data, buf.pkt.data + 30) == before);
  CHECK(buf.pkt.tx_ip_checksum);
}

TEST_CASE("verify_rx_checksums says ok only for frames that verify", "[offload]") {
  IoCapabilities caps;
  caps.rx_ip_checksum = caps.rx_l4_checksum = true;
  Buffer buf;
  write_tcp_frame(buf.pkt, TcpFrame{});

  verify_rx_checksums(buf.pkt, caps);
  CHECK(buf.pkt.rx_ip_checksum_ok);
  CHECK(buf.pkt.rx_l4_checksum_ok);

  SECTION("a damaged payload fails the TCP check only") {
    buf.pkt.data[kTcpAt + 30] ^= 0x10;
    verify_rx_checksums(buf.pkt, caps);
    CHECK(buf.pkt.rx_ip_checksum_ok);
    CHECK_FALSE(buf.pkt.rx_l4_checksum_ok);
  }
  SECTION("a device without the capability says nothing") {
    verify_rx_checksums(buf.pkt, IoCapabilities{});
    CHECK_FALSE(buf.pkt.rx_ip_checksum_ok);
    CHECK_FALSE(buf.pkt.rx_l4_checksum_ok);
  }
  SECTION("a frame that is not IPv4 is not vouched for") {
    buf.pkt.data[12] = 0x86;  // IPv6 EtherType
    buf.pkt.data[13] = 0xdd;
    verify_rx_checksums(buf.pkt, caps);
    CHECK_FALSE(buf.pkt.rx_ip_checksum_ok);
    CHECK_FALSE(buf.pkt.rx_l4_checksum_ok);
  }
}

TEST_CASE("tso_segment splits the payload into MSS-sized segments", "[offload]") {
  Buffer big(8192);
  write_tcp_frame(big.pkt, TcpFrame{.seq = 0xfffffc00, .flags = 0x80 | 0x18 | 0x01,
                                    .ident = 0xfffe, .payload = 2500});
  big.pkt.tso_segsz = 1000;
  REQUIRE(tso_segment_count(big.pkt) == 3);

  std::array<Buffer, 3> bufs;
  std::array<PacketBuf*, 3> segs{&bufs[0].pkt, &bufs[1].pkt, &bufs[2].pkt};
  REQUIRE(tso_segment(big.pkt, segs));

  std::vector<std::uint8_t> stream;
  for (std::size_t i = 0; i < 3; ++i) {
    const PacketBuf& seg = *segs[i];
    const std::size_t chunk = i < 2 ? 1000 : 500;
    CAPTURE(i);
    CHECK(seg.len == kTcpAt + testing::kTcp + chunk);
    CHECK(wire::load_be16(seg.data + testing::kEth + 2) == testing::kIp + testing::kTcp + chunk);
    CHECK(wire::load_be16(seg.data + testing::kEth + 4) ==
          static_cast<std::uint16_t>(0xfffe + i));  // wraps
    CHECK(wire::load_be32(seg.data + kTcpAt + 4) ==
          static_cast<std::uint32_t>(0xfffffc00u + i * 1000));  // wraps
    const std::uint8_t flags = seg.data[kTcpAt + 13];
    CHECK(((flags & 0x80) != 0) == (i == 0));  // CWR first only
    CHECK(((flags & 0x09) != 0) == (i == 2));  // FIN and PSH last only
    CHECK((flags & 0x10) != 0);                // ACK on all
    CHECK(testing::ip_checksum_valid(seg));
    CHECK(testing::tcp_checksum_valid(seg));
    stream.insert(stream.end(), seg.data + kTcpAt + testing::kTcp, seg.data + seg.len);
  }
  REQUIRE(stream.size() == 2500);
  for (std::size_t i = 0; i < stream.size(); ++i) REQUIRE(stream[i] == testing::payload_byte(i));
}

TEST_CASE("tso_segment refuses segments without room", "[offload]") {
  Buffer big(8192);
  write_tcp_frame(big.pkt, TcpFrame{.payload = 2000});
  big.pkt.tso_segsz = 1000;
  std::array<Buffer, 2> bufs{Buffer(2048), Buffer(500)};
  std::array<PacketBuf*, 2> segs{&bufs[0].pkt, &bufs[1].pkt};
  CHECK_FALSE(tso_segment(big.pkt, segs));
  CHECK(bufs[0].pkt.len == 0);
}

TEST_CASE("a link performs the TX offloads it advertises", "[offload][memory_link]") {
  MemoryLinkConfig cfg;
  cfg.caps_template.tx_ip_checksum = cfg.caps_template.tx_l4_checksum = true;
  cfg.caps_template.rx_ip_checksum = cfg.caps_template.rx_l4_checksum = true;
  cfg.caps_template.tso = true;
  MemoryLink link(cfg);

  SECTION("checksums") {
    PacketBuf* pkt = link.a().alloc();
    write_tcp_frame(*pkt, TcpFrame{.ip_checksum = false, .tcp_checksum = false});
    REQUIRE(link.a().tx_burst(std::span(&pkt, 1), kT0) == 1);
    std::array<PacketBuf*, 2> got{};
    REQUIRE(link.b().rx_burst(got, kT0) == 1);
    CHECK(testing::ip_checksum_valid(*got[0]));
    CHECK(testing::tcp_checksum_valid(*got[0]));
    CHECK(got[0]->rx_ip_checksum_ok);
    CHECK(got[0]->rx_l4_checksum_ok);
    link.b().free(got[0]);
  }
  SECTION("TSO, with the big buffer returned to the pool") {
    MemoryLinkConfig big_cfg = cfg;
    big_cfg.buffer_size = 9000;
    MemoryLink big_link(big_cfg);
    PacketBuf* pkt = big_link.a().alloc();
    write_tcp_frame(*pkt, TcpFrame{.payload = 4000, .ip_checksum = false, .tcp_checksum = false});
    pkt->tso_segsz = 1460;
    REQUIRE(big_link.a().tx_burst(std::span(&pkt, 1), kT0) == 1);
    CHECK(big_link.stats().a_to_b == 3);
    std::array<PacketBuf*, 4> got{};
    REQUIRE(big_link.b().rx_burst(got, kT0) == 3);
    for (std::size_t i = 0; i < 3; ++i) {
      CHECK(got[i]->rx_l4_checksum_ok);
      CHECK(got[i]->len <= testing::kEth + big_cfg.mtu);
      big_link.b().free(got[i]);
    }
    CHECK(big_link.buffers_in_use() == 0);
  }
  SECTION("TSO without enough queue room refuses the whole frame") {
    MemoryLinkConfig small_cfg = cfg;
    small_cfg.buffer_size = 9000;
    small_cfg.queue_limit = 2;
    MemoryLink small_link(small_cfg);
    PacketBuf* pkt = small_link.a().alloc();
    write_tcp_frame(*pkt, TcpFrame{.payload = 4000});
    pkt->tso_segsz = 1460;
    CHECK(small_link.a().tx_burst(std::span(&pkt, 1), kT0) == 0);
    CHECK(small_link.stats().refused == 1);
    CHECK(small_link.buffers_in_use() == 1);
    small_link.a().free(pkt);
  }
}

}  // namespace
}  // namespace utcp::stack::io
