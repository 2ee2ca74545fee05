// SHA-256 (FIPS 180-4 §6.2), streaming, for checking that a byte stream arrived
// intact across the simulated wire. Test support only: clarity over speed.
// Invariant: update() may be called with any split of the input; finish() once.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>

namespace utcp::stack::engine::test {

class Sha256 {
 public:
  using Digest = std::array<std::uint8_t, 32>;

  Sha256();
  void update(std::span<const std::uint8_t> data);
  Digest finish();

  static std::string hex(const Digest& d);

 private:
  void compress(const std::uint8_t* block);

  std::array<std::uint32_t, 8> h_;
  std::array<std::uint8_t, 64> block_{};
  std::size_t block_len_ = 0;
  std::uint64_t total_bytes_ = 0;
};

}  // namespace utcp::stack::engine::test
