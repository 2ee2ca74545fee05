// The "permission denied" line (read attach_denied.h first). Only called after a
// refused connect(): it may take its time (the group database, a walk of the path).
#include "shim/attach_denied.h"

#include <fcntl.h>
#include <grp.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <vector>

namespace utcp::shim {
namespace {

std::string octal(mode_t mode) {
  char buf[8];
  std::snprintf(buf, sizeof buf, "%04o", static_cast<unsigned>(mode & 07777));
  return buf;
}

std::string group_name(gid_t gid) {
  group gr{};
  group* found = nullptr;
  std::vector<char> buf(16384);
  if (::getgrgid_r(gid, &gr, buf.data(), buf.size(), &found) == 0 && found != nullptr) {
    return found->gr_name;
  }
  return std::to_string(gid);
}

bool has_group(gid_t gid) {
  if (::getegid() == gid) return true;
  const int n = ::getgroups(0, nullptr);
  if (n <= 0) return false;
  std::vector<gid_t> groups(static_cast<std::size_t>(n));
  const int got = ::getgroups(n, groups.data());
  return got > 0 && std::find(groups.begin(), groups.begin() + got, gid) != groups.begin() + got;
}

// The first directory on the way to path that this process may not search, or path
// itself when every directory is open.
std::string blocker_of(const std::string& path) {
  for (std::size_t at = path.find('/', 1); at != std::string::npos; at = path.find('/', at + 1)) {
    const std::string dir = path.substr(0, at);
    if (::faccessat(AT_FDCWD, dir.c_str(), X_OK, AT_EACCESS) != 0) return dir;
  }
  return path;
}

}  // namespace

std::string denied_line(const std::string& path, const DeniedFacts& f) {
  std::string line = "permission denied on " + path + ": ";
  if (!f.in_group) return line + "not in group " + f.group_name;
  if (!f.is_socket) {
    return line + "cannot search " + f.blocker + " (mode " + octal(f.mode) + ", group " +
           f.group_name + ")";
  }
  return line + "mode " + octal(f.mode) + " does not let group " + f.group_name + " connect";
}

std::string attach_denied_line(const std::string& path) {
  DeniedFacts f;
  f.blocker = blocker_of(path);
  f.is_socket = f.blocker == path;
  struct stat st {};
  if (::stat(f.blocker.c_str(), &st) != 0) return "permission denied on " + path;
  f.group = st.st_gid;
  f.group_name = group_name(st.st_gid);
  f.mode = st.st_mode & 07777;
  f.in_group = has_group(st.st_gid);
  return denied_line(path, f);
}

}  // namespace utcp::shim
