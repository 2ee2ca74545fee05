// SleepFlag: the sleeper never sleeps through a published entry (the waker sees the
// flag, or the sleeper's last look sees the entry), and a busy pair sends no wake-ups.
#include <catch2/catch.hpp>

#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <atomic>
#include <cstdint>
#include <thread>

#include "shim/sleep_flag.h"
#include "shim/spsc_ring.h"

namespace utcp::shim::test {

TEST_CASE("sleep flag: no wake-up is lost between a sleeper and a waker",
          "[shim][sleep][threads]") {
  // 20,000 hand-offs, each with the sleeper going to sleep: a lost wake-up shows as a
  // 2 s poll() timeout while an entry waits in the ring.
  constexpr std::uint32_t kRounds = 20'000;
  struct alignas(64) Shared {
    SleepFlag flag;
    alignas(64) std::byte ring[SpscRing<std::uint32_t>::bytes_for(16)];
  };
  auto shared = std::make_unique<Shared>();
  SpscRing<std::uint32_t>::init(shared->ring, 16);
  const int efd = ::eventfd(0, EFD_CLOEXEC);
  REQUIRE(efd >= 0);
  std::atomic<std::uint32_t> wakeups{0};
  std::atomic<std::uint32_t> received{0};

  std::thread waker([&] {
    SpscRing<std::uint32_t> producer(shared->ring, 16);
    for (std::uint32_t i = 0; i < kRounds; ++i) {
      // One entry at a time, after the last was taken: the sleeper keeps running dry
      // and going to sleep, so the race this test is about happens often.
      while (received.load(std::memory_order_acquire) != i) std::this_thread::yield();
      while (!producer.push(i)) std::this_thread::yield();
      if (needs_wakeup(shared->flag)) {
        const std::uint64_t one = 1;
        [[maybe_unused]] const ssize_t w = ::write(efd, &one, sizeof one);
        wakeups.fetch_add(1, std::memory_order_relaxed);
      }
    }
  });

  SpscRing<std::uint32_t> consumer(shared->ring, 16);
  std::uint32_t timeouts = 0, sleeps = 0, wrong = 0;
  while (received.load() < kRounds && timeouts == 0) {
    if (auto v = consumer.pop()) {
      wrong += *v != received.load() ? 1 : 0;
      received.fetch_add(1, std::memory_order_release);
      continue;
    }
    announce_sleep(shared->flag);
    if (consumer.readable() == 0) {  // the last look
      ++sleeps;
      pollfd p{efd, POLLIN, 0};
      if (::poll(&p, 1, 2000) == 0) ++timeouts;
      std::uint64_t n = 0;
      if (p.revents & POLLIN) [[maybe_unused]] const ssize_t r = ::read(efd, &n, sizeof n);
    }
    end_sleep(shared->flag);
  }
  waker.join();
  ::close(efd);
  CHECK(timeouts == 0);
  CHECK(wrong == 0);
  CHECK(received.load() == kRounds);
  INFO("sleeps " << sleeps << ", wake-ups sent " << wakeups.load());
  CHECK(sleeps > 100);  // the sleep path was really taken
  CHECK(wakeups.load() <= kRounds);
}

TEST_CASE("sleep flag: a waker sends nothing to a side that is awake", "[shim][sleep]") {
  SleepFlag f;
  CHECK_FALSE(needs_wakeup(f));
  announce_sleep(f);
  CHECK(needs_wakeup(f));
  end_sleep(f);
  CHECK_FALSE(needs_wakeup(f));
}

}  // namespace utcp::shim::test
