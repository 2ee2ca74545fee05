// The engine-wide invariants fuzz_engine checks after every operation, and the ones
// that must hold once everything is closed and time has passed (no socket, connection,
// timer-held frame or link buffer left). A violation aborts with a description.
#pragma once

#include "tests/fuzz/engine/apps.h"
#include "tests/fuzz/engine/world.h"

namespace utcp::fuzz {

// Gauges against what report_sockets() shows, every connection's TCP_INFO against the
// bounds, and the application's sockets against the engine's idea of who holds what.
void check_engine(World& world, const Apps& apps, int e);

// After close_all() and enough virtual time: nothing may be left.
void check_all_released(World& world);

}  // namespace utcp::fuzz
