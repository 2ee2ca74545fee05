// Why a frame was rejected. Every value has a drop counter in the engine, so an
// operator can tell which class of bad input arrives (issue 6: "every dropped
// packet class has a counter").
#pragma once

#include <cstdint>
#include <string_view>

namespace utcp::stack::wire {

enum class ParseError : std::uint8_t {
  kNone = 0,
  kTruncated,          // shorter than a header or than a length field claims
  kBadVersion,         // IPv4 version != 4
  kBadHeaderLength,    // IHL < 5, TCP data offset < 5, or beyond the buffer
  kBadTotalLength,     // IPv4 total length < header or > frame
  kBadChecksum,
  kFragment,           // IPv4 MF set or offset != 0: we send DF and clamp MSS
  kBadOption,          // malformed TCP option length
  kUnsupported,        // well-formed but not for us (other ethertype, protocol, ARP hw type)
  kCount
};

std::string_view to_string(ParseError e);

}  // namespace utcp::stack::wire
