// parse_fault_spec: the text of utcpd's --fault flag (grammar in fault_injector.h).
// Numbers go through std::from_chars, which is locale-independent and reads the
// whole token or reports where it stopped. Invariant: on failure nothing is returned
// but the message, so a half-parsed spec can never be used.
#include <charconv>
#include <cmath>
#include <string>

#include "stack/io/fault_injector.h"

namespace utcp::stack::io {

namespace {

constexpr std::string_view kKnownKeys =
    "loss, dup, duplicate, reorder, corrupt, delay, reorder_delay, limit, seed";
// Longer holds would only hide a typo ("delay=10s" meant as ms) and overflow nothing
// useful: an hour of frames does not fit any pool.
constexpr double kMaxDelayUs = 3600.0 * 1e6;

bool fail(std::string* error, std::string message) {
  if (error != nullptr) *error = std::move(message);
  return false;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && s.front() == ' ') s.remove_prefix(1);
  while (!s.empty() && s.back() == ' ') s.remove_suffix(1);
  return s;
}

// A finite, non-negative decimal that fills `text` exactly.
bool parse_number(std::string_view text, double& out) {
  const char* end = text.data() + text.size();
  const auto [ptr, ec] = std::from_chars(text.data(), end, out, std::chars_format::fixed);
  return ec == std::errc() && ptr == end && std::isfinite(out) && out >= 0;
}

bool parse_probability(std::string_view value, double& out, std::string& why) {
  const bool percent = !value.empty() && value.back() == '%';
  if (percent) value.remove_suffix(1);
  double number = 0;
  if (!parse_number(value, number)) {
    why = "expected a probability such as 1% or 0.01";
    return false;
  }
  out = percent ? number / 100 : number;
  if (out > 1) {
    why = "probability above 100%";
    return false;
  }
  return true;
}

bool parse_duration(std::string_view value, Duration& out, std::string& why) {
  struct Unit {
    std::string_view suffix;
    double us;
  };
  constexpr Unit kUnits[] = {{"us", 1}, {"ms", 1e3}, {"s", 1e6}};  // "s" last: it ends the others
  double scale = 0;
  std::string_view number = value;
  for (const Unit& unit : kUnits) {
    if (value.ends_with(unit.suffix)) {
      scale = unit.us;
      number.remove_suffix(unit.suffix.size());
      break;
    }
  }
  double amount = 0;
  if (scale == 0 || !parse_number(number, amount)) {
    why = "expected a duration such as 10ms (units: us, ms, s)";
    return false;
  }
  const double us = amount * scale;
  if (us > kMaxDelayUs) {
    why = "duration above one hour";
    return false;
  }
  out = Duration(std::llround(us));
  return true;
}

bool parse_unsigned(std::string_view value, std::uint64_t& out, std::string& why) {
  const char* end = value.data() + value.size();
  const auto [ptr, ec] = std::from_chars(value.data(), end, out);
  if (ec != std::errc() || ptr != end || value.empty()) {
    why = "expected a non-negative integer";
    return false;
  }
  return true;
}

// Sets one key of one direction's config; false with `why` on a bad key or value.
bool set_key(FaultConfig& cfg, std::string_view key, std::string_view value, std::string& why) {
  if (key == "loss") return parse_probability(value, cfg.loss, why);
  if (key == "dup" || key == "duplicate") return parse_probability(value, cfg.duplicate, why);
  if (key == "reorder") return parse_probability(value, cfg.reorder, why);
  if (key == "corrupt") return parse_probability(value, cfg.corrupt, why);
  if (key == "delay") return parse_duration(value, cfg.delay, why);
  if (key == "reorder_delay") return parse_duration(value, cfg.reorder_delay, why);
  if (key == "limit") {
    std::uint64_t limit = 0;
    if (!parse_unsigned(value, limit, why)) return false;
    if (limit < 2) {
      why = "limit must be at least 2 (room for a frame and its duplicate)";
      return false;
    }
    cfg.max_held = static_cast<std::size_t>(limit);
    return true;
  }
  why = "unknown key (known: " + std::string(kKnownKeys) + ")";
  return false;
}

// Applies one "[rx:|tx:]key=value" item to `spec`.
bool apply_item(FaultSpec& spec, std::string_view item, std::string& why) {
  bool rx = true, tx = true;
  if (item.starts_with("rx:")) {
    tx = false;
    item.remove_prefix(3);
  } else if (item.starts_with("tx:")) {
    rx = false;
    item.remove_prefix(3);
  }
  const std::size_t eq = item.find('=');
  if (eq == std::string_view::npos) {
    why = "expected key=value";
    return false;
  }
  const std::string_view key = trim(item.substr(0, eq));
  const std::string_view value = trim(item.substr(eq + 1));
  if (key == "seed") {
    if (!rx || !tx) {
      why = "seed applies to both directions; drop the rx:/tx: prefix";
      return false;
    }
    return parse_unsigned(value, spec.seed, why);
  }
  return (!rx || set_key(spec.rx, key, value, why)) && (!tx || set_key(spec.tx, key, value, why));
}

}  // namespace

std::optional<FaultSpec> parse_fault_spec(std::string_view text, std::string* error) {
  if (trim(text).empty()) {
    fail(error, "empty fault spec: expected items such as loss=1%,delay=10ms");
    return std::nullopt;
  }
  FaultSpec spec;
  while (true) {
    const std::size_t comma = text.find(',');
    const std::string_view item = trim(text.substr(0, comma));
    std::string why = "empty item";  // apply_item replaces it with its own reason
    if (item.empty() || !apply_item(spec, item, why)) {
      fail(error, "fault spec item '" + std::string(item) + "': " + why);
      return std::nullopt;
    }
    if (comma == std::string_view::npos) break;
    text.remove_prefix(comma + 1);
  }
  return spec;
}

}  // namespace utcp::stack::io
