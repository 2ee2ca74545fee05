// Invariant checks of the fuzz targets: a violated invariant must crash, so that
// libFuzzer records the input as an artifact like any memory error (issue 6: "semantic
// bugs crash too"). The message says which invariant and with what values.
#pragma once

#include <cstdio>
#include <cstdlib>

namespace utcp::fuzz {

[[noreturn]] inline void invariant_failed(const char* what, const char* file, int line) {
  std::fprintf(stderr, "\n*** fuzz invariant violated: %s\n    at %s:%d\n", what, file, line);
  std::fflush(stderr);
  std::abort();
}

}  // namespace utcp::fuzz

// FUZZ_CHECK(cond, fmt, ...): prints the formatted detail, then aborts when cond is false.
#define FUZZ_CHECK(cond, ...)                                              \
  do {                                                                     \
    if (!(cond)) {                                                         \
      std::fprintf(stderr, "\n*** detail: " __VA_ARGS__);                  \
      ::utcp::fuzz::invariant_failed(#cond, __FILE__, __LINE__);           \
    }                                                                      \
  } while (0)
