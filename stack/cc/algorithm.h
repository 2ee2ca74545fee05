// Names of the congestion-control algorithms (the strategies behind
// stack/cc/congestion.h). Kept apart so configuration can name one without
// pulling in the implementations.
#pragma once

#include <cstdint>

namespace utcp::stack::cc {

enum class Algorithm : std::uint8_t {
  kNewReno,  // RFC 5681 + RFC 6582
  kCubic,    // RFC 9438, the default as on Linux
};

}  // namespace utcp::stack::cc
