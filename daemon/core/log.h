// utcpd's own messages, with levels (syslog's names, as DPDK uses them): errors that
// stop something, warnings about what was refused or cut short, notices of the
// daemon's lifecycle (the default), information about processes and families coming
// and going, and debug detail of the control channel. `--log-level` sets it.
// Lines go to stderr as "utcpd: LEVEL: text"; one fprintf per line (stdio locks the
// stream), so threads never interleave within a line.
#pragma once

#include <cstdio>
#include <optional>
#include <string_view>

namespace utcp::daemon {

enum class LogLevel { kError, kWarning, kNotice, kInfo, kDebug };

std::optional<LogLevel> parse_log_level(std::string_view name);  // "error" ... "debug"
std::string_view log_level_name(LogLevel level);

// Process-wide, set once at start (before threads) and read by every thread.
void set_log_level(LogLevel level);
LogLevel log_level();
inline bool log_enabled(LogLevel level) { return level <= log_level(); }
// Where lines go (stderr by default); for tests.
void set_log_stream(std::FILE* stream);

void log(LogLevel level, const char* format, ...) __attribute__((format(printf, 2, 3)));

}  // namespace utcp::daemon
