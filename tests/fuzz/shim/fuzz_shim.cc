// fuzz_shim: the daemon's ShimServer (daemon/core/shim_server.h) reading a region of
// app-writable shared memory. The input picks the attacked region's geometry and then
// plays its processes (program.h): proper and malformed commands (bad ops, slots,
// generations), raw ring entries with impossible indices, stores anywhere in the
// region (socket blocks, stream indices and contents), stream traffic, the control
// thread's mail, engine A's connections, and time. ShimWorld checks after every
// operation and at the end that nothing crashed, leaked or reached the victim region.
#include <cstddef>
#include <cstdint>

#include "tests/fuzz/shim/program.h"
#include "tests/fuzz/shim/shim_world.h"
#include "tests/fuzz/support/byte_reader.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace utcp::fuzz;
  ByteReader in({data, size});
  ShimWorld world(in.u8());
  for (std::size_t n = 0; n < shim_program::kMaxOps && !in.done(); ++n) {
    world.execute(in.u8(), in);
    world.check();
  }
  world.finish();
  return 0;
}
