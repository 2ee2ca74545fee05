// Who may attach (DESIGN.md §4, docs/security.md "Who may attach"): the control
// socket's owner (root), group and mode, and the mode of a directory utcpd makes for it.
// The kernel enforces them at connect(); utcpd only sets them up. Invariant: nothing
// here lets in more than the socket's own mode does.
#pragma once

#include <sys/types.h>

#include <optional>
#include <string>

#include "daemon/core/options.h"

namespace utcp::daemon {

struct ControlAccess {
  gid_t group = static_cast<gid_t>(-1);  // -1: leave the file's group as created
  mode_t mode = kDefaultControlMode;
};

// Looks --group up in the group database (a name, or a number that names a group).
// nullopt and one line naming the flag when there is no such group; exit_status is what
// utcpd exits with: 2 for a bad --group, 1 when the default group was never created.
std::optional<ControlAccess> resolve_control_access(const Options& o, std::string* error,
                                                    int* exit_status);

// A directory utcpd creates for the socket: search and list only for the classes
// (owner, group, other) the socket's mode lets in at all; the owner always.
// 0660 -> 0750, 0666 -> 0755, 0600 -> 0700.
mode_t directory_mode(mode_t socket_mode);

}  // namespace utcp::daemon
