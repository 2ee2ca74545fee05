// Crafted frames of fuzz_engine (argument layouts in program.h): a segment posing as one
// side of a flow the World saw, with sequence and acknowledgment numbers near what each
// side expects (or a fresh tuple aimed at a listening port); a recent segment changed
// and sent again; ARP and ICMP from neighbours real and invented; raw input bytes with
// optional fix-ups. A frame that parses as TCP taints its tuple's streams (Apps::taint)
// before it goes out, since the engine may accept its payload.
#pragma once

#include "tests/fuzz/engine/apps.h"
#include "tests/fuzz/engine/world.h"
#include "tests/fuzz/support/byte_reader.h"

namespace utcp::fuzz {

void craft_tcp(World& world, Apps& apps, ByteReader& in);
void craft_other(World& world, Apps& apps, ByteReader& in);
void mutate_recent(World& world, Apps& apps, ByteReader& in);
void raw_frame(World& world, Apps& apps, ByteReader& in);

}  // namespace utcp::fuzz
