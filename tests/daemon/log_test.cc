// utcpd's log: lines at or above the level are written, one per call, with the level
// named; lines below it cost nothing and appear nowhere.
#include <catch2/catch.hpp>

#include <cstdio>
#include <string>

#include "daemon/core/log.h"

using namespace utcp::daemon;

namespace {

// Captures what log() writes while it lives; restores stderr and the level after.
class Capture {
 public:
  explicit Capture(LogLevel level) : saved_(log_level()), file_(std::tmpfile()) {
    REQUIRE(file_ != nullptr);
    set_log_stream(file_);
    set_log_level(level);
  }
  ~Capture() {
    set_log_stream(nullptr);
    set_log_level(saved_);
    std::fclose(file_);
  }
  std::string text() {
    std::fflush(file_);
    std::rewind(file_);
    std::string out;
    for (int c; (c = std::fgetc(file_)) != EOF;) out += static_cast<char>(c);
    return out;
  }

 private:
  LogLevel saved_;
  std::FILE* file_;
};

}  // namespace

TEST_CASE("log: messages below the level are dropped, the rest name their level", "[daemon][log]") {
  Capture cap(LogLevel::kNotice);
  log(LogLevel::kError, "engine %u: %s", 1u, "stopped");
  log(LogLevel::kWarning, "refused");
  log(LogLevel::kNotice, "ready");
  log(LogLevel::kInfo, "process %d attached", 42);
  log(LogLevel::kDebug, "placeholder");
  CHECK(cap.text() == "utcpd: error: engine 1: stopped\n"
                      "utcpd: warning: refused\n"
                      "utcpd: notice: ready\n");
}

TEST_CASE("log: debug shows everything; names round-trip", "[daemon][log]") {
  Capture cap(LogLevel::kDebug);
  CHECK(log_enabled(LogLevel::kDebug));
  log(LogLevel::kDebug, "x=%d", 7);
  CHECK(cap.text() == "utcpd: debug: x=7\n");
  for (const auto level : {LogLevel::kError, LogLevel::kWarning, LogLevel::kNotice, LogLevel::kInfo,
                           LogLevel::kDebug}) {
    CHECK(parse_log_level(log_level_name(level)) == level);
  }
  CHECK_FALSE(parse_log_level("Info"));
  CHECK_FALSE(parse_log_level(""));
}
