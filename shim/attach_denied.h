// Why this process may not attach: the one line libutcp.so ("utcp: ...") and the
// `utcp` tool print when connect() on the control socket answers EACCES (DESIGN.md §4;
// docs/security.md "Who may attach"). The kernel decided, from the socket's mode and
// group and its directories'; this only names what blocked, so the fix is obvious.
#pragma once

#include <sys/types.h>

#include <string>

namespace utcp::shim {

// What blocked the connect(): the socket itself, or a directory on its path that this
// process may not search.
struct DeniedFacts {
  std::string blocker;     // the socket's path, or the directory that is closed
  bool is_socket = true;
  gid_t group = 0;         // the blocker's group ...
  std::string group_name;  // ... by name (its number when it has none)
  mode_t mode = 0;         // the blocker's permission bits
  bool in_group = false;   // this process has that group (effective or supplementary)
};

// "permission denied on PATH: not in group utcp" when the process lacks the group;
// else the blocker's mode and group, so a narrower --mode is visible.
std::string denied_line(const std::string& path, const DeniedFacts& facts);

// Looks at the path as this process (effective ids) and returns denied_line's text.
std::string attach_denied_line(const std::string& path);

}  // namespace utcp::shim
