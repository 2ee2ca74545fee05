// fuzz_seeds DIR: writes the seed corpora (seeds.h) into DIR/wire, DIR/engine, DIR/shim,
// replacing files of the same name. Deterministic: the same build writes the same bytes.
#include <cstdio>
#include <filesystem>
#include <fstream>

#include "tests/fuzz/seeds/seeds.h"

namespace {

namespace fs = std::filesystem;

bool write_all(const fs::path& dir, const std::vector<utcp::fuzz::seeds::Seed>& seeds) {
  fs::create_directories(dir);
  for (const auto& [name, bytes] : seeds) {
    std::ofstream out(dir / name, std::ios::binary | std::ios::trunc);
    out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
    if (!out) {
      std::fprintf(stderr, "fuzz_seeds: cannot write %s\n", (dir / name).c_str());
      return false;
    }
  }
  std::printf("%s: %zu seeds\n", dir.c_str(), seeds.size());
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: fuzz_seeds DIR   (writes DIR/wire, DIR/engine, DIR/shim)\n");
    return 2;
  }
  const fs::path dir = argv[1];
  namespace s = utcp::fuzz::seeds;
  const bool ok = write_all(dir / "wire", s::wire_seeds()) &&
                  write_all(dir / "engine", s::engine_seeds()) &&
                  write_all(dir / "shim", s::shim_seeds());
  return ok ? 0 : 1;
}
