// Layout arithmetic and region initialisation (read protocol.h first).
#include "shim/protocol.h"

#include <new>

namespace utcp::shim {
namespace {

constexpr std::size_t align64(std::size_t n) { return (n + 63) & ~std::size_t{63}; }

}  // namespace

bool Geometry::valid() const {
  return engines >= 1 && engines <= kMaxEngines && channels >= 1 && channels <= kMaxChannels &&
         sockets >= 1 && sockets <= (1u << 20) && CommandRing::valid_capacity(command_capacity) &&
         ReplyRing::valid_capacity(reply_capacity) && EventRing::valid_capacity(event_capacity) &&
         ByteStream::valid_capacity(stream_capacity);
}

Layout::Layout(const Geometry& g) : g_(g) {
  std::size_t at = align64(sizeof(RegionHeader));
  flags_ = at;
  at += align64(std::size_t{g.engines} * sizeof(SleepFlag));
  channels_ = at;
  at += align64(std::size_t{g.channels} * sizeof(ChannelBlock));
  cmd_bytes_ = align64(CommandRing::bytes_for(g.command_capacity));
  reply_bytes_ = align64(ReplyRing::bytes_for(g.reply_capacity));
  event_bytes_ = align64(EventRing::bytes_for(g.event_capacity));
  pair_bytes_ = cmd_bytes_ + reply_bytes_ + event_bytes_;
  rings_ = at;
  at += std::size_t{g.channels} * g.engines * pair_bytes_;
  // Socket slots start on a page so that the streams of busy sockets do not share
  // pages with the rings.
  at = (at + 4095) & ~std::size_t{4095};
  sockets_ = at;
  stream_bytes_ = align64(ByteStream::bytes_for(g.stream_capacity));
  socket_bytes_ = align64(sizeof(SocketBlock)) + 2 * stream_bytes_;
  total_ = sockets_ + std::size_t{g.sockets} * socket_bytes_;
  total_ = (total_ + 4095) & ~std::size_t{4095};
}

// Daemon only, on a fresh (zero-filled) mapping.
void RegionView::init() {
  const Geometry& g = layout_.geometry();
  new (&header()) RegionHeader{kRegionMagic, kProtocolVersion, g};
  for (std::uint32_t e = 0; e < g.engines; ++e) new (&engine_flag(e)) SleepFlag;
  for (std::uint32_t c = 0; c < g.channels; ++c) reset_channel(c);
  // Socket blocks and streams are written when a slot is handed out: a fresh memfd is
  // all zeroes already, and touching every page here would commit them all.
}

}  // namespace utcp::shim

namespace utcp::shim {

void RegionView::reset_channel(std::uint32_t c) const {
  new (&channel(c)) ChannelBlock;
  // Only the indices: the slots need no clearing (nothing reads past an index), and
  // writing them would commit ~10 MB per region for rings most processes never fill.
  for (std::uint32_t e = 0; e < layout_.geometry().engines; ++e) {
    new (command_ring(c, e)) RingControl;
    new (reply_ring(c, e)) RingControl;
    new (event_ring(c, e)) RingControl;
  }
  std::atomic_thread_fence(std::memory_order_release);
}

}  // namespace utcp::shim
