// The control socket's group and modes (read control_access.h first).
#include "daemon/core/control_access.h"

#include <grp.h>
#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <vector>

namespace utcp::daemon {
namespace {

// getgrnam_r, then (for a number) getgrgid_r: as chgrp reads its argument.
std::optional<gid_t> lookup_group(const std::string& name) {
  group gr{};
  group* found = nullptr;
  std::vector<char> buf(16384);
  if (::getgrnam_r(name.c_str(), &gr, buf.data(), buf.size(), &found) == 0 && found != nullptr) {
    return found->gr_gid;
  }
  if (!std::all_of(name.begin(), name.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    return std::nullopt;
  }
  const auto gid = static_cast<gid_t>(std::strtoul(name.c_str(), nullptr, 10));
  if (::getgrgid_r(gid, &gr, buf.data(), buf.size(), &found) == 0 && found != nullptr) {
    return found->gr_gid;
  }
  return std::nullopt;
}

}  // namespace

std::optional<ControlAccess> resolve_control_access(const Options& o, std::string* error,
                                                    int* exit_status) {
  const auto gid = lookup_group(o.control_group);
  if (!gid) {
    if (o.control_group_given) {
      *error = "bad --group '" + o.control_group + "': no such group";
      *exit_status = 2;
    } else {
      *error = "group " + o.control_group + " does not exist: create it (scripts/install-deps.sh "
               "runs groupadd --system " + o.control_group + ") or name another with --group NAME";
      *exit_status = 1;
    }
    return std::nullopt;
  }
  return ControlAccess{*gid, static_cast<mode_t>(o.control_mode)};
}

mode_t directory_mode(mode_t socket_mode) {
  mode_t dir = S_IRWXU;
  if (socket_mode & (S_IRGRP | S_IWGRP | S_IXGRP)) dir |= S_IRGRP | S_IXGRP;
  if (socket_mode & (S_IROTH | S_IWOTH | S_IXOTH)) dir |= S_IROTH | S_IXOTH;
  return dir;
}

}  // namespace utcp::daemon
