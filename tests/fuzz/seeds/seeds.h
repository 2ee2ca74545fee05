// The seed corpora of the fuzz targets, as programs: `fuzz_seeds DIR` writes
// DIR/wire, DIR/engine and DIR/shim (tests/fuzz/corpus/ holds the committed output;
// docs/fuzzing.md says when to regenerate it). Each seed is small and meaningful: a
// valid frame of each kind, an operation program that reaches one area of behaviour.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace utcp::fuzz::seeds {

using Seed = std::pair<std::string, std::vector<std::uint8_t>>;  // file name, bytes

std::vector<Seed> wire_seeds();
std::vector<Seed> engine_seeds();
std::vector<Seed> shim_seeds();

}  // namespace utcp::fuzz::seeds
