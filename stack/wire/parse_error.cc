// Names of ParseError values, as counters and logs print them.
// Invariant: every enumerator below kCount has a distinct name.
#include "stack/wire/parse_error.h"

namespace utcp::stack::wire {

std::string_view to_string(ParseError e) {
  switch (e) {
    case ParseError::kNone: return "none";
    case ParseError::kTruncated: return "truncated";
    case ParseError::kBadVersion: return "bad_version";
    case ParseError::kBadHeaderLength: return "bad_header_length";
    case ParseError::kBadTotalLength: return "bad_total_length";
    case ParseError::kBadChecksum: return "bad_checksum";
    case ParseError::kFragment: return "fragment";
    case ParseError::kBadOption: return "bad_option";
    case ParseError::kUnsupported: return "unsupported";
    case ParseError::kCount: break;
  }
  return "invalid";
}

}  // namespace utcp::stack::wire
