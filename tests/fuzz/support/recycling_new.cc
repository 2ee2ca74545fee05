// Global operator new/delete of the fuzz targets: large blocks one input frees are handed
// to the next input's requests of the same size instead of going back to the OS.
// Why: ASan maps every block above its 128 KiB size classes fresh and unmaps it on free,
// so each input paid the page faults of zeroing two engines' port tables (1.5 MB each),
// timer wheels and link pools again: perf showed ~70% of fuzz_engine and fuzz_shim there,
// against ~3% in the stack itself. Only block reuse changes; a cached block is poisoned,
// so a use after its delete is still reported (as use-after-poison).
// The cache is the process's one piece of mutable global state: an allocator has no
// other place to keep it. Single-threaded, like the fuzz targets.
#include <sanitizer/allocator_interface.h>
#include <sanitizer/asan_interface.h>

#include <array>
#include <cstddef>
#include <cstdlib>
#include <new>

namespace {

constexpr std::size_t kLarge = 32 * 1024;
constexpr std::size_t kMaxCachedBytes = std::size_t{128} << 20;
constexpr std::size_t kPerSize = 4;

struct Cached {
  void* p = nullptr;
  std::size_t size = 0;
};

struct Cache {
  std::array<Cached, 128> blocks{};
  std::size_t bytes = 0;
};

Cache& cache() {
  static Cache c;
  return c;
}

void* allocate(std::size_t n) {
  if (n >= kLarge) {
    for (Cached& b : cache().blocks) {
      if (b.p != nullptr && b.size == n) {
        void* p = b.p;
        b.p = nullptr;
        cache().bytes -= n;
        ASAN_UNPOISON_MEMORY_REGION(p, n);
        return p;
      }
    }
  }
  return std::malloc(n == 0 ? 1 : n);
}

void release(void* p) noexcept {
  if (p == nullptr) return;
  const std::size_t n = __sanitizer_get_allocated_size(p);
  Cache& c = cache();
  // A few blocks per size, first come first kept: the engines' tables (same sizes on
  // every input) stay cached however many short-lived buffers come and go.
  Cached* free_entry = nullptr;
  std::size_t same_size = 0;
  if (n >= kLarge && c.bytes + n <= kMaxCachedBytes) {
    for (Cached& b : c.blocks) {
      if (b.p == nullptr) {
        if (free_entry == nullptr) free_entry = &b;
      } else if (b.size == n) {
        ++same_size;
      }
    }
  }
  if (free_entry == nullptr || same_size >= kPerSize) {
    std::free(p);
    return;
  }
  ASAN_POISON_MEMORY_REGION(p, n);
  *free_entry = Cached{p, n};
  c.bytes += n;
}

void* allocate_or_throw(std::size_t n) {
  void* p = allocate(n);
  if (p == nullptr) throw std::bad_alloc();
  return p;
}

}  // namespace

void* operator new(std::size_t n) { return allocate_or_throw(n); }
void* operator new[](std::size_t n) { return allocate_or_throw(n); }
void* operator new(std::size_t n, const std::nothrow_t&) noexcept { return allocate(n); }
void* operator new[](std::size_t n, const std::nothrow_t&) noexcept { return allocate(n); }
void operator delete(void* p) noexcept { release(p); }
void operator delete[](void* p) noexcept { release(p); }
void operator delete(void* p, std::size_t) noexcept { release(p); }
void operator delete[](void* p, std::size_t) noexcept { release(p); }
void operator delete(void* p, const std::nothrow_t&) noexcept { release(p); }
void operator delete[](void* p, const std::nothrow_t&) noexcept { release(p); }
