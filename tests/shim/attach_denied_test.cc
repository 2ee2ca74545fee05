// The "permission denied" line (shim/attach_denied.h): what it says for each thing that
// can keep a process off the control socket.
#include <catch2/catch.hpp>

#include <string>

#include "shim/attach_denied.h"

using utcp::shim::DeniedFacts;
using utcp::shim::denied_line;

namespace {

constexpr const char* kPath = "/run/utcp/utcpd.sock";

DeniedFacts facts(std::string blocker, std::string group, mode_t mode, bool in_group) {
  DeniedFacts f;
  f.is_socket = blocker == kPath;
  f.blocker = std::move(blocker);
  f.group_name = std::move(group);
  f.mode = mode;
  f.in_group = in_group;
  return f;
}

}  // namespace

TEST_CASE("attach denied: not in the socket's group names the group") {
  CHECK(denied_line(kPath, facts(kPath, "utcp", 0660, false)) ==
        "permission denied on /run/utcp/utcpd.sock: not in group utcp");
}

TEST_CASE("attach denied: a closed directory on the way names its group too") {
  CHECK(denied_line(kPath, facts("/run/utcp", "utcp", 0750, false)) ==
        "permission denied on /run/utcp/utcpd.sock: not in group utcp");
  CHECK(denied_line(kPath, facts("/run/utcp", "utcp", 0700, true)) ==
        "permission denied on /run/utcp/utcpd.sock: cannot search /run/utcp (mode 0700, group utcp)");
}

TEST_CASE("attach denied: in the group, but the mode does not let the group connect") {
  CHECK(denied_line(kPath, facts(kPath, "ops", 0640, true)) ==
        "permission denied on /run/utcp/utcpd.sock: mode 0640 does not let group ops connect");
}
