// The pcap file format (read pcap_capture.h first): the classic libpcap layout,
// microsecond timestamps, link type Ethernet, native byte order (readers detect it
// from the magic number).
#include "daemon/core/pcap_capture.h"

#include <algorithm>
#include <cstring>

namespace utcp::daemon {
namespace {

constexpr std::uint32_t kMagicMicroseconds = 0xa1b2c3d4;
constexpr std::uint32_t kSnapLen = 65535;
constexpr std::uint32_t kLinkTypeEthernet = 1;
constexpr auto kFlushEvery = std::chrono::milliseconds(100);

struct FileHeader {
  std::uint32_t magic = kMagicMicroseconds;
  std::uint16_t version_major = 2;
  std::uint16_t version_minor = 4;
  std::int32_t thiszone = 0;
  std::uint32_t sigfigs = 0;
  std::uint32_t snaplen = kSnapLen;
  std::uint32_t network = kLinkTypeEthernet;
};
static_assert(sizeof(FileHeader) == 24);

struct RecordHeader {
  std::uint32_t ts_sec = 0;
  std::uint32_t ts_usec = 0;
  std::uint32_t incl_len = 0;
  std::uint32_t orig_len = 0;
};
static_assert(sizeof(RecordHeader) == 16);

}  // namespace

PcapCapture::PcapCapture(stack::io::PacketIo& inner, const std::string& path,
                         std::int64_t realtime_offset_us)
    : inner_(inner), offset_us_(realtime_offset_us) {
  file_ = std::fopen(path.c_str(), "wb");
  if (file_ == nullptr) return;
  const FileHeader h;
  failed_ = std::fwrite(&h, sizeof h, 1, file_) != 1 || std::fflush(file_) != 0;
}

PcapCapture::~PcapCapture() {
  if (file_ != nullptr) std::fclose(file_);
}

void PcapCapture::record(const std::uint8_t* data, std::uint32_t len, stack::Instant now) {
  if (file_ == nullptr || failed_) return;
  const std::int64_t us = stack::to_us(now) + offset_us_;
  RecordHeader r;
  r.ts_sec = static_cast<std::uint32_t>(us / 1'000'000);
  r.ts_usec = static_cast<std::uint32_t>(us % 1'000'000);
  r.incl_len = std::min(len, kSnapLen);
  r.orig_len = len;
  // A failed write (disk full) stops the capture; the stack goes on.
  failed_ = std::fwrite(&r, sizeof r, 1, file_) != 1 ||
            std::fwrite(data, 1, r.incl_len, file_) != r.incl_len;
  ++frames_;
}

void PcapCapture::maybe_flush(stack::Instant now) {
  if (file_ == nullptr || failed_ || now - last_flush_ < kFlushEvery) return;
  last_flush_ = now;
  failed_ = std::fflush(file_) != 0;
}

std::size_t PcapCapture::rx_burst(std::span<stack::io::PacketBuf*> out, stack::Instant now) {
  const std::size_t n = inner_.rx_burst(out, now);
  for (std::size_t i = 0; i < n; ++i) record(out[i]->data, out[i]->len, now);
  maybe_flush(now);
  return n;
}

std::size_t PcapCapture::tx_burst(std::span<stack::io::PacketBuf* const> pkts, stack::Instant now) {
  // Copied first: once inner took a frame, the device owns its bytes.
  tx_copy_.clear();
  tx_lengths_.clear();
  for (const stack::io::PacketBuf* p : pkts) {
    tx_copy_.insert(tx_copy_.end(), p->data, p->data + p->len);
    tx_lengths_.push_back(p->len);
  }
  const std::size_t n = inner_.tx_burst(pkts, now);
  std::size_t at = 0;
  for (std::size_t i = 0; i < n; ++i) {
    record(tx_copy_.data() + at, tx_lengths_[i], now);
    at += tx_lengths_[i];
  }
  maybe_flush(now);
  return n;
}

}  // namespace utcp::daemon
