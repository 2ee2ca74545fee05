// SpscRing: order, full and empty, the 2^32 index wrap, hostile indices from the
// other side (poisoned, never out of bounds), bursts, two threads, and two processes
// sharing a mapping, one of them killed mid-stream.
#include <catch2/catch.hpp>

#include <signal.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <thread>
#include <vector>

#include "shim/spsc_ring.h"

namespace utcp::shim::test {
namespace {

struct Entry {
  std::uint64_t seq;
  std::uint32_t check;  // derived from seq: a torn or stale entry shows
  std::uint32_t pad;
};
Entry entry(std::uint64_t seq) { return {seq, static_cast<std::uint32_t>(seq * 2654435761u), 0}; }
bool intact(const Entry& e) { return e.check == static_cast<std::uint32_t>(e.seq * 2654435761u); }

using Ring = SpscRing<Entry>;

// Shared, anonymous memory (also across fork()), 64-byte aligned by mmap.
class SharedMemory {
 public:
  explicit SharedMemory(std::size_t bytes) : bytes_(bytes) {
    p_ = ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    REQUIRE(p_ != MAP_FAILED);
  }
  ~SharedMemory() { ::munmap(p_, bytes_); }
  SharedMemory(const SharedMemory&) = delete;
  SharedMemory& operator=(const SharedMemory&) = delete;
  void* get() const { return p_; }
  RingControl& control() const { return *static_cast<RingControl*>(p_); }

 private:
  std::size_t bytes_;
  void* p_;
};

}  // namespace

TEST_CASE("ring: entries come out in order, and full and empty are refused", "[shim][ring]") {
  SharedMemory mem(Ring::bytes_for(8));
  Ring::init(mem.get(), 8);
  Ring producer(mem.get(), 8);
  Ring consumer(mem.get(), 8);
  CHECK_FALSE(consumer.pop());
  for (std::uint64_t i = 0; i < 8; ++i) CHECK(producer.push(entry(i)));
  CHECK_FALSE(producer.push(entry(8)));  // full
  CHECK(consumer.readable() == 8);
  for (std::uint64_t i = 0; i < 8; ++i) {
    const auto e = consumer.pop();
    REQUIRE(e);
    CHECK(e->seq == i);
  }
  CHECK_FALSE(consumer.pop());
  CHECK_FALSE(producer.poisoned());
  CHECK_FALSE(consumer.poisoned());
}

TEST_CASE("ring: indices wrap past 2^32", "[shim][ring]") {
  SharedMemory mem(Ring::bytes_for(4));
  Ring::init(mem.get(), 4, 0xffff'fffdu);
  Ring producer(mem.get(), 4);
  Ring consumer(mem.get(), 4);
  std::uint64_t next_in = 0, next_out = 0;
  for (int round = 0; round < 10; ++round) {
    while (producer.push(entry(next_in))) ++next_in;
    while (auto e = consumer.pop()) {
      CHECK(e->seq == next_out++);
    }
  }
  CHECK(next_out == 40);
  CHECK(mem.control().head.value.load() == 0xffff'fffdu + 40);  // wrapped
  CHECK_FALSE(consumer.poisoned());
}

TEST_CASE("ring: bursts take what fits and publish once", "[shim][ring]") {
  SharedMemory mem(Ring::bytes_for(16));
  Ring::init(mem.get(), 16);
  Ring producer(mem.get(), 16);
  Ring consumer(mem.get(), 16);
  std::vector<Entry> in;
  for (std::uint64_t i = 0; i < 20; ++i) in.push_back(entry(i));
  CHECK(producer.push_burst(in) == 16);
  std::vector<Entry> out(10);
  CHECK(consumer.pop_burst(out) == 10);
  CHECK(out[9].seq == 9);
  CHECK(producer.push_burst(std::span<const Entry>(in).subspan(16)) == 4);
  CHECK(consumer.pop_burst(out) == 10);
  CHECK(out[0].seq == 10);
  CHECK(out[9].seq == 19);
}

TEST_CASE("ring: a producer index beyond the capacity poisons the consumer", "[shim][ring]") {
  SharedMemory mem(Ring::bytes_for(8));
  Ring::init(mem.get(), 8);
  Ring consumer(mem.get(), 8);
  mem.control().head.value.store(9);  // claims 9 entries in a ring of 8
  CHECK_FALSE(consumer.pop());
  CHECK(consumer.poisoned());
  mem.control().head.value.store(1);  // even a sane value later is not trusted again
  CHECK_FALSE(consumer.pop());
  CHECK(consumer.readable() == 0);
}

TEST_CASE("ring: a producer index moving backwards poisons the consumer", "[shim][ring]") {
  SharedMemory mem(Ring::bytes_for(8));
  Ring::init(mem.get(), 8, 100);
  Ring producer(mem.get(), 8);
  Ring consumer(mem.get(), 8);
  producer.push(entry(1));
  CHECK(consumer.pop());
  mem.control().head.value.store(99);  // behind what was consumed
  CHECK_FALSE(consumer.pop());
  CHECK(consumer.poisoned());
}

TEST_CASE("ring: a consumer index running ahead poisons the producer", "[shim][ring]") {
  SharedMemory mem(Ring::bytes_for(8));
  Ring::init(mem.get(), 8);
  Ring producer(mem.get(), 8);
  CHECK(producer.push(entry(0)));
  mem.control().tail.value.store(5);  // "consumed" entries never published
  CHECK_FALSE(producer.push(entry(1)));
  CHECK(producer.poisoned());
}

TEST_CASE("ring: each side ignores writes to its own published index", "[shim][ring]") {
  // A hostile peer rewriting our index cannot make us reuse or skip slots: we only
  // ever store it. (It will look inconsistent to the peer itself, its problem.)
  SharedMemory mem(Ring::bytes_for(8));
  Ring::init(mem.get(), 8);
  Ring producer(mem.get(), 8);
  Ring consumer(mem.get(), 8);
  CHECK(producer.push(entry(0)));
  mem.control().head.value.store(0);  // the "consumer" rewinds our head
  mem.control().head.value.store(1);  // and restores it
  CHECK(producer.push(entry(1)));
  CHECK(consumer.pop()->seq == 0);
  CHECK(consumer.pop()->seq == 1);
}

TEST_CASE("ring: attaching to a ring with impossible indices is poisoned at once",
          "[shim][ring]") {
  SharedMemory mem(Ring::bytes_for(8));
  Ring::init(mem.get(), 8);
  mem.control().head.value.store(1000);
  Ring late(mem.get(), 8);
  CHECK(late.poisoned());
  CHECK_FALSE(Ring::valid_capacity(6));
  Ring odd(mem.get(), 6);
  CHECK(odd.poisoned());
}

TEST_CASE("ring: one million entries between two threads arrive intact and in order",
          "[shim][ring][threads]") {
  constexpr std::uint64_t kCount = 1'000'000;
  SharedMemory mem(Ring::bytes_for(256));
  Ring::init(mem.get(), 256);
  std::thread producer_thread([&] {
    Ring producer(mem.get(), 256);
    std::vector<Entry> batch;
    for (std::uint64_t next = 0; next < kCount;) {
      batch.clear();
      for (std::uint64_t i = next; i < std::min(kCount, next + 32); ++i) batch.push_back(entry(i));
      const std::size_t n = producer.push_burst(batch);
      next += n;
      if (n == 0) std::this_thread::yield();
    }
  });
  Ring consumer(mem.get(), 256);
  std::vector<Entry> out(64);
  std::uint64_t expected = 0;
  bool ok = true;
  while (expected < kCount && ok) {
    const std::size_t n = consumer.pop_burst(out);
    for (std::size_t i = 0; i < n; ++i) {
      ok = ok && out[i].seq == expected && intact(out[i]);
      ++expected;
    }
    if (n == 0) std::this_thread::yield();
  }
  producer_thread.join();
  CHECK(ok);
  CHECK(expected == kCount);
  CHECK_FALSE(consumer.poisoned());
}

TEST_CASE("ring: across fork, a producer killed mid-stream leaves a consistent ring",
          "[shim][ring][process]") {
  SharedMemory mem(Ring::bytes_for(64));
  Ring::init(mem.get(), 64);
  const pid_t child = ::fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    Ring producer(mem.get(), 64);
    for (std::uint64_t i = 0;; ++i) {
      while (!producer.push(entry(i))) {
      }
    }
  }
  Ring consumer(mem.get(), 64);
  std::uint64_t expected = 0;
  bool ok = true;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (expected < 100'000 && ok && std::chrono::steady_clock::now() < deadline) {
    if (auto e = consumer.pop()) {
      ok = e->seq == expected++ && intact(*e);
    }
  }
  ::kill(child, SIGKILL);  // at any instruction, maybe inside push()
  int status = 0;
  REQUIRE(::waitpid(child, &status, 0) == child);
  // What was published before the kill is whole and in order; nothing more appears.
  while (auto e = consumer.pop()) {
    ok = ok && e->seq == expected++ && intact(*e);
  }
  CHECK(ok);
  CHECK(expected >= 100'000);
  CHECK_FALSE(consumer.pop());
  CHECK_FALSE(consumer.poisoned());
}

}  // namespace utcp::shim::test
