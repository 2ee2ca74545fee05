// PcapCapture (utcpd --pcap): the file is a valid pcap (header, one record per frame
// received or sent, wall-clock timestamps), frames the device refused are recorded
// only when they finally go, and the engine's frames pass through untouched.
#include <catch2/catch.hpp>

#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <deque>
#include <fstream>
#include <iterator>
#include <vector>

#include "daemon/core/pcap_capture.h"

namespace utcp::daemon {
namespace {

using stack::io::PacketBuf;

// A device: frames to receive are queued; tx takes at most `tx_room` frames per call.
class FakeIo final : public stack::io::PacketIo {
 public:
  std::deque<std::vector<std::uint8_t>> to_receive;
  std::vector<std::vector<std::uint8_t>> sent;
  std::size_t tx_room = 64;

  std::size_t rx_burst(std::span<PacketBuf*> out, stack::Instant) override {
    std::size_t n = 0;
    while (n < out.size() && !to_receive.empty()) {
      PacketBuf* p = alloc();
      std::memcpy(p->data, to_receive.front().data(), to_receive.front().size());
      p->len = static_cast<std::uint32_t>(to_receive.front().size());
      to_receive.pop_front();
      out[n++] = p;
    }
    return n;
  }
  std::size_t tx_burst(std::span<PacketBuf* const> pkts, stack::Instant) override {
    const std::size_t n = std::min(tx_room, pkts.size());
    for (std::size_t i = 0; i < n; ++i) {
      sent.emplace_back(pkts[i]->data, pkts[i]->data + pkts[i]->len);
      std::memset(pkts[i]->data, 0xee, pkts[i]->len);  // the device reuses the bytes
      free(pkts[i]);
    }
    return n;
  }
  PacketBuf* alloc() override {
    auto* p = new PacketBuf;
    p->data = new std::uint8_t[2048];
    p->capacity = 2048;
    return p;
  }
  void free(PacketBuf* p) override {
    delete[] p->data;
    delete p;
  }
  const stack::io::IoCapabilities& capabilities() const override { return caps_; }

 private:
  stack::io::IoCapabilities caps_;
};

struct Record {
  std::uint32_t sec, usec;
  std::vector<std::uint8_t> bytes;
};

std::vector<std::uint8_t> slurp(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>()};
}

std::uint32_t u32(const std::vector<std::uint8_t>& b, std::size_t at) {
  std::uint32_t v;
  std::memcpy(&v, b.data() + at, 4);
  return v;
}

std::vector<Record> records(const std::vector<std::uint8_t>& file) {
  std::vector<Record> out;
  for (std::size_t at = 24; at + 16 <= file.size();) {
    const std::uint32_t len = u32(file, at + 8);
    REQUIRE(u32(file, at + 12) == len);
    REQUIRE(at + 16 + len <= file.size());
    out.push_back({u32(file, at), u32(file, at + 4),
                   {file.begin() + static_cast<std::ptrdiff_t>(at + 16),
                    file.begin() + static_cast<std::ptrdiff_t>(at + 16 + len)}});
    at += 16 + len;
  }
  return out;
}

std::vector<std::uint8_t> frame(std::uint8_t fill, std::size_t len) {
  return std::vector<std::uint8_t>(len, fill);
}

std::string temp_path() {
  char tmpl[] = "/tmp/utcp-pcap-test-XXXXXX";
  const int fd = ::mkstemp(tmpl);
  REQUIRE(fd >= 0);
  ::close(fd);
  return tmpl;
}

}  // namespace

TEST_CASE("pcap capture: header, received and sent frames, wall-clock timestamps",
          "[daemon][pcap]") {
  const std::string path = temp_path();
  FakeIo io;
  io.to_receive = {frame(1, 60), frame(2, 1514)};
  {
    // Engine time 5.25 s; wall clock 1,700,000,000 s later.
    PcapCapture cap(io, path, 1'700'000'000'000'000);
    REQUIRE(cap.ok());
    const stack::Instant now = stack::instant_from_us(5'250'000);
    PacketBuf* got[4];
    REQUIRE(cap.rx_burst(got, now) == 2);
    CHECK(got[1]->len == 1514);  // untouched for the engine
    for (PacketBuf* p : {got[0], got[1]}) cap.free(p);
    PacketBuf* out = cap.alloc();
    std::memset(out->data, 3, 100);
    out->len = 100;
    REQUIRE(cap.tx_burst(std::span<PacketBuf* const>(&out, 1), now) == 1);
    CHECK(cap.frames() == 3);
  }
  const std::vector<std::uint8_t> file = slurp(path);
  REQUIRE(file.size() >= 24);
  CHECK(u32(file, 0) == 0xa1b2c3d4);
  CHECK(u32(file, 16) == 65535);  // snaplen
  CHECK(u32(file, 20) == 1);      // Ethernet
  const std::vector<Record> r = records(file);
  REQUIRE(r.size() == 3);
  CHECK(r[0].bytes == frame(1, 60));
  CHECK(r[1].bytes == frame(2, 1514));
  CHECK(r[2].bytes == frame(3, 100));  // as sent, not as the device left the buffer
  CHECK(r[0].sec == 1'700'000'005);
  CHECK(r[0].usec == 250'000);
  std::remove(path.c_str());
}

TEST_CASE("pcap capture: a frame the device refused is recorded once, when it goes",
          "[daemon][pcap]") {
  const std::string path = temp_path();
  FakeIo io;
  {
    PcapCapture cap(io, path, 0);
    std::vector<PacketBuf*> pkts;
    for (std::uint8_t i = 1; i <= 3; ++i) {
      PacketBuf* p = cap.alloc();
      std::memset(p->data, i, 64);
      p->len = 64;
      pkts.push_back(p);
    }
    io.tx_room = 1;
    REQUIRE(cap.tx_burst(pkts, stack::instant_from_us(1)) == 1);
    io.tx_room = 64;
    REQUIRE(cap.tx_burst(std::span<PacketBuf* const>(pkts).subspan(1), stack::instant_from_us(2)) == 2);
  }
  const std::vector<Record> r = records(slurp(path));
  REQUIRE(r.size() == 3);
  CHECK(r[0].bytes == frame(1, 64));
  CHECK(r[1].bytes == frame(2, 64));
  CHECK(r[2].bytes == frame(3, 64));
  std::remove(path.c_str());
}

TEST_CASE("pcap capture: a path that cannot be opened is reported, frames still flow",
          "[daemon][pcap]") {
  FakeIo io;
  io.to_receive = {frame(9, 60)};
  PcapCapture cap(io, "/nonexistent-dir/x.pcap", 0);
  CHECK_FALSE(cap.ok());
  PacketBuf* got[1];
  REQUIRE(cap.rx_burst(got, stack::instant_from_us(1)) == 1);
  cap.free(got[0]);
}

}  // namespace utcp::daemon
