// PcapCapture: a PacketIo decorator that writes every frame an engine receives and
// sends to a pcap file (utcpd --pcap FILE), for tcpdump, tshark or Wireshark. Frames
// are recorded as the device sees them: with TX checksum offload the TCP checksum
// field still holds the pseudo-header sum (like a capture on a Linux host with
// offload), and a TSO frame is one large frame.
// Invariants: a received frame is recorded once, when inner hands it over; a sent
// frame once, when inner accepted it (a refused frame is recorded when it finally
// goes). Writes are buffered and flushed at most every 100 ms of engine time and on
// destruction, so a killed utcpd loses at most that much of the tail.
#pragma once

#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

#include "stack/io/packet_io.h"

namespace utcp::daemon {

class PcapCapture final : public stack::io::PacketIo {
 public:
  // Opens (truncates) path and writes the pcap header; ok() says whether it worked.
  // realtime_offset_us: wall-clock minus engine-clock microseconds, for the timestamps.
  PcapCapture(stack::io::PacketIo& inner, const std::string& path, std::int64_t realtime_offset_us);
  ~PcapCapture() override;
  PcapCapture(const PcapCapture&) = delete;
  PcapCapture& operator=(const PcapCapture&) = delete;

  bool ok() const { return file_ != nullptr && !failed_; }
  std::uint64_t frames() const { return frames_; }

  std::size_t rx_burst(std::span<stack::io::PacketBuf*> out, stack::Instant now) override;
  std::size_t tx_burst(std::span<stack::io::PacketBuf* const> pkts, stack::Instant now) override;
  stack::io::PacketBuf* alloc() override { return inner_.alloc(); }
  void free(stack::io::PacketBuf* pkt) override { inner_.free(pkt); }
  const stack::io::IoCapabilities& capabilities() const override { return inner_.capabilities(); }
  stack::Instant next_deadline() const override { return inner_.next_deadline(); }

 private:
  void record(const std::uint8_t* data, std::uint32_t len, stack::Instant now);
  void maybe_flush(stack::Instant now);

  stack::io::PacketIo& inner_;
  std::FILE* file_ = nullptr;
  bool failed_ = false;
  std::int64_t offset_us_;
  std::uint64_t frames_ = 0;
  stack::Instant last_flush_{};
  std::vector<std::uint8_t> tx_copy_;       // offered frames, until inner says which went
  std::vector<std::uint32_t> tx_lengths_;
};

}  // namespace utcp::daemon
