// The test-support SHA-256 against the FIPS 180-2 appendix B examples, so a stream
// digest mismatch in the engine tests can only mean the stream differed.
#include "stack/engine/support/sha256.h"

#include <catch2/catch.hpp>
#include <string_view>
#include <vector>

namespace utcp::stack::engine::test {
namespace {

std::string digest_of(std::string_view text, std::size_t piece) {
  Sha256 sha;
  for (std::size_t i = 0; i < text.size(); i += piece) {
    const std::string_view part = text.substr(i, piece);
    sha.update({reinterpret_cast<const std::uint8_t*>(part.data()), part.size()});
  }
  return Sha256::hex(sha.finish());
}

}  // namespace

TEST_CASE("sha256: FIPS 180-2 B.1 one-block message \"abc\"", "[engine][sha256]") {
  CHECK(digest_of("abc", 3) ==
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST_CASE("sha256: FIPS 180-2 B.2 448-bit message, fed whole and byte by byte",
          "[engine][sha256]") {
  constexpr std::string_view kMsg = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
  constexpr const char* kExpected =
      "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1";
  CHECK(digest_of(kMsg, kMsg.size()) == kExpected);
  CHECK(digest_of(kMsg, 1) == kExpected);
  CHECK(digest_of(kMsg, 7) == kExpected);
}

TEST_CASE("sha256: empty message", "[engine][sha256]") {
  CHECK(digest_of("", 1) == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

}  // namespace utcp::stack::engine::test
