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
  for (auto& fd : proc_fds_) fd.store(-1);
  grants_ = std::make_unique<Grant[]>(g.sockets);
}

Region::~Region() {
  for (std::uint32_t c = 0; c < shim::kMaxChannels; ++c) close_wake_fd(c);
  ::munmap(base_, bytes_);
  ::close(memfd_);
}

void Region::set_wake_fd(std::uint32_t c, int fd) {
  const int old = wake_fds_[c].exchange(fd, std::memory_order_acq_rel);
  if (old >= 0) ::close(old);
}

void Region::close_wake_fd(std::uint32_t c) {
  const int fd = wake_fds_[c].exchange(-1);
  if (fd >= 0) ::close(fd);
  const int proc = proc_fds_[c].exchange(-1);
  if (proc >= 0) ::close(proc);
}

void Region::set_proc_fd(std::uint32_t c, int fd) {
  const int old = proc_fds_[c].exchange(fd, std::memory_order_acq_rel);
  if (old >= 0) ::close(old);
}

namespace {
std::uint64_t grant_key(std::uint32_t generation, std::uint16_t port, bool reuse_port) {
  return (std::uint64_t{generation} << 32) | (reuse_port ? 1u << 17 : 0u) | (1u << 16) | port;
}
}  // namespace

void Region::grant(std::uint32_t slot, std::uint32_t generation, std::uint16_t port,
                   bool reuse_port, std::uint32_t uid) {
  if (slot >= geometry().sockets) return;
  grants_[slot].uid.store(uid, std::memory_order_relaxed);
  grants_[slot].key.store(grant_key(generation, port, reuse_port), std::memory_order_release);
}

std::optional<std::uint32_t> Region::granted(std::uint32_t slot, std::uint32_t generation,
                                             std::uint16_t port, bool reuse_port) const {
  if (slot >= geometry().sockets) return std::nullopt;
  const std::uint64_t want = grant_key(generation, port, reuse_port);
  if (grants_[slot].key.load(std::memory_order_acquire) != want) return std::nullopt;
  return grants_[slot].uid.load(std::memory_order_relaxed);
}

}  // namespace utcp::daemon
