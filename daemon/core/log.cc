#include "daemon/core/log.h"

#include <array>
#include <atomic>
#include <cstdarg>

namespace utcp::daemon {
namespace {

constexpr std::array<std::string_view, 5> kNames = {"error", "warning", "notice", "info", "debug"};

std::atomic<LogLevel> g_level{LogLevel::kNotice};
std::atomic<std::FILE*> g_stream{nullptr};  // nullptr: stderr (not a constant initializer)

}  // namespace

std::optional<LogLevel> parse_log_level(std::string_view name) {
  for (std::size_t i = 0; i < kNames.size(); ++i) {
    if (kNames[i] == name) return static_cast<LogLevel>(i);
  }
  return std::nullopt;
}

std::string_view log_level_name(LogLevel level) { return kNames[static_cast<std::size_t>(level)]; }

void set_log_level(LogLevel level) { g_level.store(level, std::memory_order_relaxed); }
LogLevel log_level() { return g_level.load(std::memory_order_relaxed); }
void set_log_stream(std::FILE* stream) { g_stream.store(stream, std::memory_order_relaxed); }

void log(LogLevel level, const char* format, ...) {
  if (!log_enabled(level)) return;
  char text[512];
  va_list args;
  va_start(args, format);
  std::vsnprintf(text, sizeof text, format, args);
  va_end(args);
  std::FILE* out = g_stream.load(std::memory_order_relaxed);
  std::fprintf(out ? out : stderr, "utcpd: %s: %s\n", log_level_name(level).data(), text);
}

}  // namespace utcp::daemon
