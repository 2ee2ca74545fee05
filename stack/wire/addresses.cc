// Text forms of addresses: for logs, configuration and the command line.
// Ipv4Addr::parse is as strict as glibc's inet_pton(AF_INET): exactly four decimal
// octets, no leading zeros (they would read as octal elsewhere), nothing trailing.
#include "stack/wire/addresses.h"

#include <cstdio>

namespace utcp::stack::wire {

std::string MacAddr::to_string() const {
  char buf[18];
  std::snprintf(buf, sizeof buf, "%02x:%02x:%02x:%02x:%02x:%02x", bytes[0], bytes[1], bytes[2],
                bytes[3], bytes[4], bytes[5]);
  return buf;
}

namespace {

// Reads one octet at text[pos...]; advances pos past its digits.
bool parse_octet(const std::string& text, std::size_t& pos, std::uint32_t& octet) {
  const std::size_t start = pos;
  octet = 0;
  while (pos < text.size() && text[pos] >= '0' && text[pos] <= '9' && pos - start < 3) {
    octet = octet * 10 + static_cast<std::uint32_t>(text[pos] - '0');
    ++pos;
  }
  const std::size_t digits = pos - start;
  if (digits == 0 || octet > 255) return false;
  return !(digits > 1 && text[start] == '0');
}

}  // namespace

bool Ipv4Addr::parse(const std::string& text, Ipv4Addr& out) {
  std::uint32_t value = 0;
  std::size_t pos = 0;
  for (int i = 0; i < 4; ++i) {
    if (i > 0) {
      if (pos >= text.size() || text[pos] != '.') return false;
      ++pos;
    }
    std::uint32_t octet = 0;
    if (!parse_octet(text, pos, octet)) return false;
    value = (value << 8) | octet;
  }
  if (pos != text.size()) return false;
  out.value = value;
  return true;
}

std::string Ipv4Addr::to_string() const {
  char buf[16];
  std::snprintf(buf, sizeof buf, "%u.%u.%u.%u", value >> 24, (value >> 16) & 0xff,
                (value >> 8) & 0xff, value & 0xff);
  return buf;
}

}  // namespace utcp::stack::wire
