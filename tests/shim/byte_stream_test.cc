// ByteStream: bytes in order across the ring's end and the 2^32 counter wrap, partial
// writes when full, MSG_PEEK semantics, hostile counters, and 64 MiB between two
// threads in random-sized chunks with a checksum.
#include <catch2/catch.hpp>

#include <cstdint>
#include <cstdlib>
#include <memory>
#include <random>
#include <thread>
#include <vector>

#include "shim/byte_stream.h"

namespace utcp::shim::test {
namespace {

// Aligned, zeroed memory for one stream (shared between threads in a test).
struct Memory {
  explicit Memory(std::uint32_t capacity)
      : bytes(static_cast<std::byte*>(std::aligned_alloc(64, ByteStream::bytes_for(capacity)))) {
    ByteStream::init(bytes.get(), capacity);
  }
  struct Free {
    void operator()(std::byte* p) const { std::free(p); }
  };
  std::unique_ptr<std::byte, Free> bytes;
  RingControl& control() const { return *reinterpret_cast<RingControl*>(bytes.get()); }
};

std::vector<std::byte> pattern(std::size_t n, std::uint32_t seed) {
  std::vector<std::byte> v(n);
  std::minstd_rand r(seed);
  for (auto& b : v) b = static_cast<std::byte>(r());
  return v;
}

}  // namespace

TEST_CASE("stream: bytes come out in order across the ring's end", "[shim][stream]") {
  Memory m(64);
  ByteStream w(m.bytes.get(), 64), r(m.bytes.get(), 64);
  const auto data = pattern(1000, 1);
  std::vector<std::byte> got;
  std::size_t at = 0;
  std::vector<std::byte> buf(23);
  while (got.size() < data.size()) {
    at += w.write(std::span(data).subspan(at, std::min<std::size_t>(37, data.size() - at)));
    const std::size_t n = r.read(buf);
    got.insert(got.end(), buf.begin(), buf.begin() + static_cast<std::ptrdiff_t>(n));
  }
  CHECK(got == data);
}

TEST_CASE("stream: a full stream takes part of a write, and peek does not consume",
          "[shim][stream]") {
  Memory m(64);
  ByteStream w(m.bytes.get(), 64), r(m.bytes.get(), 64);
  const auto data = pattern(100, 2);
  CHECK(w.write(data) == 64);
  CHECK(w.writable() == 0);
  CHECK(w.write(data) == 0);
  std::vector<std::byte> a(10), b(10);
  CHECK(r.peek(a) == 10);
  CHECK(r.readable() == 64);
  CHECK(r.read(b) == 10);
  CHECK(a == b);
  CHECK(r.consume(100) == 54);  // only what is there
  CHECK(r.readable() == 0);
  CHECK(w.writable() == 64);
}

TEST_CASE("stream: counters wrap past 2^32", "[shim][stream]") {
  Memory m(64);
  ByteStream::init(m.bytes.get(), 64, 0xffff'ffc0u);
  ByteStream w(m.bytes.get(), 64), r(m.bytes.get(), 64);
  const auto data = pattern(640, 3);
  std::vector<std::byte> got(640);
  std::size_t in = 0, out = 0;
  while (out < data.size()) {
    in += w.write(std::span(data).subspan(in, std::min<std::size_t>(50, data.size() - in)));
    out += r.read(std::span(got).subspan(out));
  }
  CHECK(got == data);
  CHECK_FALSE(r.poisoned());
}

TEST_CASE("stream: impossible counters from the other side poison, never overrun",
          "[shim][stream]") {
  Memory m(64);
  ByteStream w(m.bytes.get(), 64), r(m.bytes.get(), 64);
  SECTION("a writer claiming more than the capacity") {
    m.control().head.value.store(65);
    std::vector<std::byte> buf(100);
    CHECK(r.read(buf) == 0);
    CHECK(r.poisoned());
  }
  SECTION("a reader consuming what was never written") {
    m.control().tail.value.store(10);
    CHECK(w.write(pattern(5, 4)) == 0);
    CHECK(w.poisoned());
  }
  SECTION("a bad capacity") {
    ByteStream odd(m.bytes.get(), 100);
    CHECK(odd.poisoned());
  }
}

TEST_CASE("stream: 64 MiB between two threads arrive intact", "[shim][stream][threads]") {
  constexpr std::size_t kTotal = 64u << 20;
  constexpr std::uint32_t kCap = 1u << 16;
  Memory m(kCap);
  std::thread writer([&] {
    ByteStream w(m.bytes.get(), kCap);
    std::minstd_rand sizes(5);
    std::vector<std::byte> chunk(9000);
    std::uint8_t next = 0;
    for (std::size_t sent = 0; sent < kTotal;) {
      const std::size_t want = std::min<std::size_t>(1 + sizes() % chunk.size(), kTotal - sent);
      for (std::size_t i = 0; i < want; ++i) chunk[i] = static_cast<std::byte>(next + i);
      std::size_t done = 0;
      while (done < want) {
        const std::size_t n = w.write(std::span(chunk).subspan(done, want - done));
        if (n == 0) std::this_thread::yield();
        done += n;
      }
      next = static_cast<std::uint8_t>(next + want);
      sent += want;
    }
  });
  ByteStream r(m.bytes.get(), kCap);
  std::vector<std::byte> buf(7000);
  std::uint8_t expect = 0;
  bool ok = true;
  for (std::size_t got = 0; got < kTotal && ok;) {
    const std::size_t n = r.read(buf);
    for (std::size_t i = 0; i < n; ++i) ok = ok && buf[i] == static_cast<std::byte>(expect++);
    got += n;
    if (n == 0) std::this_thread::yield();
  }
  writer.join();
  CHECK(ok);
  CHECK_FALSE(r.poisoned());
}

}  // namespace utcp::shim::test
