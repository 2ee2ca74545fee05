// Region creation (read region.h first).
#include "daemon/core/region.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace utcp::daemon {

std::shared_ptr<Region> Region::create(const shim::Geometry& g, std::uint64_t id, std::string* error) {
  if (!g.valid()) {
    *error = "invalid region geometry";
    return nullptr;
  }
  const shim::Layout layout(g);
  const int fd = ::memfd_create("utcp-region", MFD_CLOEXEC | MFD_ALLOW_SEALING);
  if (fd < 0) {
    *error = std::string("memfd_create: ") + std::strerror(errno);
    return nullptr;
  }
  struct stat st {};
  void* base = MAP_FAILED;
  if (::ftruncate(fd, static_cast<off_t>(layout.total_bytes())) != 0 ||
      ::fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) != 0 ||
      ::fstat(fd, &st) != 0 ||
      (base = ::mmap(nullptr, layout.total_bytes(), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0)) ==
          MAP_FAILED) {
    *error = std::string("region setup: ") + std::strerror(errno);
    ::close(fd);
    return nullptr;
  }
  auto r = std::shared_ptr<Region>(new Region(fd, st.st_ino, base, layout.total_bytes(), g, id));
  r->view_.init();
  return r;
}

Region::Region(int memfd, ino_t inode, void* base, std::size_t bytes, const shim::Geometry& g,
               std::uint64_t id)
    : memfd_(memfd), inode_(inode), base_(base), bytes_(bytes), view_(base, g), id_(id) {
  for (auto& fd : wake_fds_) fd.store(-1);
}

Region::~Region() {
  for (std::uint32_t c = 0; c < shim::kMaxChannels; ++c) close_wake_fd(c);
  ::munmap(base_, bytes_);
  ::close(memfd_);
}

void Region::set_wake_fd(std::uint32_t c, int fd) {
  close_wake_fd(c);
  wake_fds_[c].store(fd, std::memory_order_release);
}

void Region::close_wake_fd(std::uint32_t c) {
  const int fd = wake_fds_[c].exchange(-1);
  if (fd >= 0) ::close(fd);
}

}  // namespace utcp::daemon
