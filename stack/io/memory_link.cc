// MemoryLink: two buffer pools, two bounded queues (one per direction) and two ends.
// A frame moves by pointer from the sender's hands into the queue and out through the
// peer's rx_burst; TX offloads the end advertises are done in software on the way in.
// Invariant: pools and queues are sized at construction; no call allocates memory.
#include "stack/io/memory_link.h"

#include <algorithm>
#include <cstdlib>
#include <functional>

#include "stack/io/soft_offload.h"

namespace utcp::stack::io {

namespace {
// A misuse that would corrupt memory on a real device ends the test run here.
[[noreturn]] void misuse() { std::abort(); }
}  // namespace

class MemoryLink::Pool {
 public:
  Pool(std::size_t count, std::uint32_t buffer_size)
      : storage_(std::make_unique_for_overwrite<std::uint8_t[]>(count * buffer_size)),
        bufs_(count),
        in_use_(count, false),
        buffer_size_(buffer_size) {
    free_.reserve(count);
    // Lowest index on top, so allocation order is the same on every run.
    for (std::size_t i = count; i > 0; --i) free_.push_back(static_cast<std::uint32_t>(i - 1));
  }

  PacketBuf* alloc() {
    if (free_.empty()) return nullptr;
    const std::uint32_t i = free_.back();
    free_.pop_back();
    in_use_[i] = true;
    PacketBuf& buf = bufs_[i];
    buf = PacketBuf{};
    buf.data = storage_.get() + std::size_t{i} * buffer_size_;
    buf.capacity = buffer_size_;
    buf.owner = this;
    return &buf;
  }

  bool owns(const PacketBuf* pkt) const {
    const std::less<const PacketBuf*> before;
    return !bufs_.empty() && !before(pkt, bufs_.data()) && before(pkt, bufs_.data() + bufs_.size());
  }

  // The buffer must be one this pool gave out and not yet got back.
  void check_in_use(const PacketBuf* pkt) const {
    if (!in_use_[index(pkt)] || pkt->len > pkt->capacity) misuse();
  }

  void release(PacketBuf* pkt) {
    const std::size_t i = index(pkt);
    if (!in_use_[i]) misuse();
    in_use_[i] = false;
    free_.push_back(static_cast<std::uint32_t>(i));
  }

  std::size_t in_use() const { return bufs_.size() - free_.size(); }

 private:
  std::size_t index(const PacketBuf* pkt) const {
    return static_cast<std::size_t>(pkt - bufs_.data());
  }

  std::unique_ptr<std::uint8_t[]> storage_;
  std::vector<PacketBuf> bufs_;
  std::vector<bool> in_use_;
  std::vector<std::uint32_t> free_;
  std::uint32_t buffer_size_;
};

// A fixed ring of frames in flight in one direction.
class MemoryLink::Queue {
 public:
  explicit Queue(std::size_t limit) : ring_(std::max<std::size_t>(limit, 1)), limit_(limit) {}

  std::size_t room() const { return limit_ - size_; }
  std::size_t size() const { return size_; }
  void push(PacketBuf* pkt) {
    ring_[(head_ + size_) % ring_.size()] = pkt;
    ++size_;
  }
  PacketBuf* pop() {
    PacketBuf* pkt = ring_[head_];
    head_ = (head_ + 1) % ring_.size();
    --size_;
    return pkt;
  }

 private:
  std::vector<PacketBuf*> ring_;
  std::size_t limit_;
  std::size_t head_ = 0, size_ = 0;
};

class MemoryLink::End final : public PacketIo {
 public:
  End(MemoryLink& link, Pool& pool, Queue& inbound, Queue& outbound, std::uint64_t& sent,
      const IoCapabilities& caps)
      : link_(link), pool_(pool), inbound_(inbound), outbound_(outbound), sent_(sent),
        caps_(caps) {}

  std::size_t rx_burst(std::span<PacketBuf*> out, Instant /*now*/) override {
    const std::size_t n = std::min(out.size(), inbound_.size());
    for (std::size_t i = 0; i < n; ++i) {
      PacketBuf* pkt = inbound_.pop();
      prepare_rx(*pkt);
      out[i] = pkt;
    }
    return n;
  }

  std::size_t tx_burst(std::span<PacketBuf* const> pkts, Instant /*now*/) override {
    for (std::size_t i = 0; i < pkts.size(); ++i) {
      link_.check_owned(pkts[i]);
      if (!send(pkts[i])) {
        link_.stats_.refused += pkts.size() - i;
        return i;
      }
    }
    return pkts.size();
  }

  PacketBuf* alloc() override { return pool_.alloc(); }
  void free(PacketBuf* pkt) override { link_.pool_of(pkt)->release(pkt); }
  const IoCapabilities& capabilities() const override { return caps_; }

 private:
  // False when the frame does not fit now; the caller keeps it.
  bool send(PacketBuf* pkt) {
    if (caps_.tso && pkt->tso_segsz != 0 && tso_segment_count(*pkt) != 0) return send_tso(pkt);
    if (outbound_.room() == 0) return false;
    // Only offloads this end advertises are performed: a request for any other
    // leaves the field as the stack wrote it, and the peer's check will say so.
    pkt->tx_ip_checksum = pkt->tx_ip_checksum && caps_.tx_ip_checksum;
    pkt->tx_l4_checksum = pkt->tx_l4_checksum && caps_.tx_l4_checksum;
    if (pkt->tx_ip_checksum || pkt->tx_l4_checksum) fill_tx_checksums(*pkt);
    outbound_.push(pkt);
    ++sent_;
    return true;
  }

  // Segments into fresh buffers from this end's pool, as a NIC would, also when one
  // segment is all it makes (the checksums still need filling); all go, or none.
  bool send_tso(PacketBuf* pkt) {
    const std::size_t count = tso_segment_count(*pkt);
    if (outbound_.room() < count || pool_free() < count) return false;
    segs_.clear();
    for (std::size_t i = 0; i < count; ++i) segs_.push_back(pool_.alloc());
    if (!tso_segment(*pkt, segs_)) {
      for (PacketBuf* seg : segs_) pool_.release(seg);
      return false;
    }
    for (PacketBuf* seg : segs_) outbound_.push(seg);
    sent_ += count;
    link_.pool_of(pkt)->release(pkt);
    return true;
  }

  std::size_t pool_free() const { return link_.cfg_.pool_size - pool_.in_use(); }

  // A received frame carries only what a device reports: no stale TX requests.
  void prepare_rx(PacketBuf& pkt) const {
    PacketBuf fresh;
    fresh.data = pkt.data;
    fresh.len = pkt.len;
    fresh.capacity = pkt.capacity;
    fresh.owner = pkt.owner;
    pkt = fresh;
    verify_rx_checksums(pkt, caps_);
  }

  MemoryLink& link_;
  Pool& pool_;
  Queue& inbound_;
  Queue& outbound_;
  std::uint64_t& sent_;
  IoCapabilities caps_;
  std::vector<PacketBuf*> segs_;
};

namespace {
IoCapabilities caps_for(const MemoryLinkConfig& cfg, const wire::MacAddr& mac) {
  IoCapabilities caps = cfg.caps_template;
  caps.mac = mac;
  caps.mtu = cfg.mtu;
  return caps;
}
}  // namespace

MemoryLink::MemoryLink(const MemoryLinkConfig& cfg)
    : cfg_(cfg),
      pool_a_(std::make_unique<Pool>(cfg.pool_size, cfg.buffer_size)),
      pool_b_(std::make_unique<Pool>(cfg.pool_size, cfg.buffer_size)),
      to_b_(std::make_unique<Queue>(cfg.queue_limit)),
      to_a_(std::make_unique<Queue>(cfg.queue_limit)),
      end_a_(std::make_unique<End>(*this, *pool_a_, *to_a_, *to_b_, stats_.a_to_b,
                                   caps_for(cfg, cfg.mac_a))),
      end_b_(std::make_unique<End>(*this, *pool_b_, *to_b_, *to_a_, stats_.b_to_a,
                                   caps_for(cfg, cfg.mac_b))) {}

MemoryLink::~MemoryLink() = default;

PacketIo& MemoryLink::a() { return *end_a_; }
PacketIo& MemoryLink::b() { return *end_b_; }

std::size_t MemoryLink::buffers_in_use() const {
  return pool_a_->in_use() + pool_b_->in_use();
}

MemoryLink::Pool* MemoryLink::pool_of(const PacketBuf* pkt) const {
  if (pool_a_->owns(pkt)) return pool_a_.get();
  if (pool_b_->owns(pkt)) return pool_b_.get();
  misuse();
}

void MemoryLink::check_owned(const PacketBuf* pkt) const { pool_of(pkt)->check_in_use(pkt); }

}  // namespace utcp::stack::io
