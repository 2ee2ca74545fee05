// One engine's data path, l3fwd-style: burst in, classify, hand other engines' frames
// over SPSC rings, burst out, hand back what TX refused. Read queue_io.h first.
// Invariants: every mbuf ends in exactly one place (the caller, a ring, the device, or
// freed); its PacketBuf lives in the mbuf's private area, so nothing here allocates.
#include "dpdk_io/queue_io.h"

#include <rte_ethdev.h>

#include <fcntl.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>

#include "stack/io/soft_offload.h"

namespace utcp::dpdk_io {
namespace {

using stack::io::PacketBuf;

PacketBuf* buf_of(rte_mbuf* m) { return static_cast<PacketBuf*>(rte_mbuf_to_priv(m)); }
rte_mbuf* mbuf_of(PacketBuf* pb) { return static_cast<rte_mbuf*>(pb->owner); }

std::uint8_t* start_of(rte_mbuf* m) { return static_cast<std::uint8_t*>(m->buf_addr) + m->data_off; }

// A fresh PacketBuf for an mbuf whose data starts at data_off.
PacketBuf* reset_buf(rte_mbuf* m) {
  PacketBuf* pb = buf_of(m);
  *pb = PacketBuf{};
  pb->data = start_of(m);
  pb->len = m->pkt_len;
  pb->capacity = static_cast<std::uint32_t>(m->buf_len - m->data_off);
  pb->owner = m;
  return pb;
}

}  // namespace

QueueCounters CounterCells::snapshot() const {
  auto v = [](const std::atomic<std::uint64_t>& c) { return c.load(std::memory_order_relaxed); };
  QueueCounters c;
  c.rx_packets = v(rx_packets);
  c.rx_bytes = v(rx_bytes);
  c.tx_packets = v(tx_packets);
  c.tx_bytes = v(tx_bytes);
  c.rx_dropped = v(rx_dropped);
  c.tx_refused = v(tx_refused);
  c.tx_dropped = v(tx_dropped);
  c.steered_out = v(steered_out);
  c.steered_in = v(steered_in);
  c.steer_ring_full = v(steer_ring_full);
  c.alloc_failures = v(alloc_failures);
  c.arp_copies = v(arp_copies);
  return c;
}

QueueIo::QueueIo(const QueueConfig& cfg, Fabric* fabric)
    : port_id_(cfg.port_id),
      engine_(cfg.engine),
      pool_(cfg.pool),
      caps_(cfg.caps),
      rx_intr_fd_(cfg.rx_intr_fd),
      rx_signal_to_engine_(cfg.rx_signal_to_engine),
      fabric_(fabric),
      handover_(fabric->engines),
      handover_len_(fabric->engines, 0) {}

QueueIo::~QueueIo() {
  release();
  if (epoll_fd_ >= 0) ::close(epoll_fd_);
  int& doorbell = fabric_->sleepers[engine_].doorbell;
  if (doorbell >= 0) ::close(doorbell);
  doorbell = -1;
}

void QueueIo::release() {
  for (std::uint16_t i = 0; i < stash_len_; ++i) rte_pktmbuf_free(stash_[i]);
  stash_len_ = 0;
  if (fabric_->rings.empty()) return;
  std::array<rte_mbuf*, kBurst> mbufs{};
  for (std::uint16_t from = 0; from < fabric_->engines; ++from) {
    if (from == engine_ || fabric_->ring(from, engine_) == nullptr) continue;
    unsigned k;
    while ((k = rte_ring_sc_dequeue_burst(fabric_->ring(from, engine_),
                                          reinterpret_cast<void**>(mbufs.data()), kBurst,
                                          nullptr)) > 0) {
      for (unsigned i = 0; i < k; ++i) rte_pktmbuf_free(mbufs[i]);
    }
  }
}

// ---------------------------------------------------------------------------- RX

std::size_t QueueIo::rx_burst(std::span<PacketBuf*> out, stack::Instant /*now*/) {
  std::size_t n = 0;
  // 1. What prepare_sleep's last look found.
  const std::uint16_t from_stash =
      static_cast<std::uint16_t>(std::min<std::size_t>(stash_len_, out.size()));
  for (std::uint16_t i = 0; i < from_stash; ++i) dispatch(stash_[i], out, n);
  std::copy(stash_.begin() + from_stash, stash_.begin() + stash_len_, stash_.begin());
  stash_len_ = static_cast<std::uint16_t>(stash_len_ - from_stash);

  // 2. Frames other engines received for us: they arrived first, so they go first.
  n += drain_rings(out.subspan(n));

  // 3. The device queue.
  const std::uint16_t room = static_cast<std::uint16_t>(std::min<std::size_t>(out.size() - n, kBurst));
  if (room > 0) {
    std::array<rte_mbuf*, kBurst> mbufs{};
    const std::uint16_t k = rte_eth_rx_burst(port_id_, engine_, mbufs.data(), room);
    for (std::uint16_t i = 0; i < k; ++i) dispatch(mbufs[i], out, n);
  }
  flush_handovers();

  std::uint64_t bytes = 0;
  for (std::size_t i = 0; i < n; ++i) bytes += out[i]->len;
  bump(cells_.rx_packets, n);
  bump(cells_.rx_bytes, bytes);
  return n;
}

void QueueIo::dispatch(rte_mbuf* m, std::span<PacketBuf*> out, std::size_t& n) {
  // Buffers are sized for the MTU, so a chained mbuf means a frame we did not ask for
  // (a device ignoring the MTU); the stack works on contiguous frames only.
  if (m->nb_segs != 1) {
    rte_pktmbuf_free(m);
    bump(cells_.rx_dropped);
    return;
  }
  PacketBuf* pb = reset_buf(m);
  if (caps_.rx_ip_checksum) {
    pb->rx_ip_checksum_ok = (m->ol_flags & RTE_MBUF_F_RX_IP_CKSUM_MASK) == RTE_MBUF_F_RX_IP_CKSUM_GOOD;
  }
  if (caps_.rx_l4_checksum) {
    pb->rx_l4_checksum_ok = (m->ol_flags & RTE_MBUF_F_RX_L4_CKSUM_MASK) == RTE_MBUF_F_RX_L4_CKSUM_GOOD;
  }
  const bool device_hash = fabric_->mode == RssMode::kDevice &&
                           (m->ol_flags & RTE_MBUF_F_RX_RSS_HASH) != 0 &&
                           !fabric_->device_hash_untrusted.load(std::memory_order_relaxed);
  if (fabric_->engines == 1) {
    if (device_hash) {
      pb->rss_hash = m->hash.rss;
      pb->rss_hash_valid = true;
    }
    deliver(pb, out, n);
    return;
  }

  const std::uint32_t* tcp_hash = device_hash ? &m->hash.rss : nullptr;
  if (tcp_hash != nullptr && verify_left_ > 0) {
    // Trust, but verify: a device that claims RSS yet hashes with another function or
    // key would send flows to the wrong engine for good.
    const SteerTarget sw = fabric_->steering->classify(pb->bytes(), nullptr);
    if (sw.is_tcp && sw.hash_valid) {
      --verify_left_;
      if (sw.hash != *tcp_hash) {
        fabric_->device_hash_untrusted.store(true, std::memory_order_relaxed);
        tcp_hash = nullptr;
      }
    }
  }
  const SteerTarget t = fabric_->steering->classify(pb->bytes(), tcp_hash);
  pb->rss_hash = t.hash;
  pb->rss_hash_valid = t.hash_valid;
  if (t.kind == SteerTarget::Kind::kAllEngines) {
    copy_to_others(m);
    deliver(pb, out, n);
  } else if (t.engine == engine_ || t.engine >= fabric_->engines) {
    deliver(pb, out, n);
  } else {
    hand_over(t.engine, m);
  }
}

void QueueIo::deliver(PacketBuf* pb, std::span<PacketBuf*> out, std::size_t& n) { out[n++] = pb; }

void QueueIo::hand_over(std::uint16_t owner, rte_mbuf* m) {
  std::uint16_t& len = handover_len_[owner];
  if (len == handover_[owner].size()) {  // cannot happen: at most 2 * kBurst per call
    rte_pktmbuf_free(m);
    bump(cells_.steer_ring_full);
    return;
  }
  handover_[owner][len++] = m;
}

void QueueIo::copy_to_others(rte_mbuf* m) {
  const PacketBuf* src = buf_of(m);
  for (std::uint16_t e = 0; e < fabric_->engines; ++e) {
    if (e == engine_) continue;
    rte_mbuf* c = rte_pktmbuf_alloc(pool_);
    if (c == nullptr) {
      bump(cells_.alloc_failures);
      continue;
    }
    const std::uint32_t len = std::min(src->len, static_cast<std::uint32_t>(rte_pktmbuf_tailroom(c)));
    std::memcpy(start_of(c), src->data, len);
    c->data_len = static_cast<std::uint16_t>(len);
    c->pkt_len = len;
    PacketBuf* pb = reset_buf(c);
    pb->rx_ip_checksum_ok = src->rx_ip_checksum_ok;
    pb->rx_l4_checksum_ok = src->rx_l4_checksum_ok;
    hand_over(e, c);
    bump(cells_.arp_copies);
  }
}

void QueueIo::flush_handovers() {
  for (std::uint16_t owner = 0; owner < fabric_->engines; ++owner) {
    std::uint16_t& len = handover_len_[owner];
    if (len == 0) continue;
    const unsigned k = rte_ring_sp_enqueue_burst(fabric_->ring(engine_, owner),
                                                 reinterpret_cast<void* const*>(handover_[owner].data()),
                                                 len, nullptr);
    for (unsigned i = k; i < len; ++i) rte_pktmbuf_free(handover_[owner][i]);
    bump(cells_.steer_ring_full, len - k);
    bump(cells_.steered_out, k);
    len = 0;
    if (k == 0) continue;
    // Pairs with prepare_sleep: either the owner sees the ring non-empty after saying
    // it sleeps, or we see it sleeping after our enqueue and ring the doorbell.
    std::atomic_thread_fence(std::memory_order_seq_cst);
    Sleeper& s = fabric_->sleepers[owner];
    if (s.sleeping.load(std::memory_order_relaxed)) {
      const std::uint64_t one = 1;
      [[maybe_unused]] const ssize_t w = ::write(s.doorbell, &one, sizeof one);
    }
  }
}

std::size_t QueueIo::drain_rings(std::span<PacketBuf*> out) {
  if (fabric_->rings.empty()) return 0;
  std::size_t n = 0;
  for (std::uint16_t from = 0; from < fabric_->engines && n < out.size(); ++from) {
    if (from == engine_) continue;
    std::array<rte_mbuf*, kBurst> mbufs{};
    const unsigned want = static_cast<unsigned>(std::min<std::size_t>(out.size() - n, kBurst));
    const unsigned k = rte_ring_sc_dequeue_burst(fabric_->ring(from, engine_),
                                                 reinterpret_cast<void**>(mbufs.data()), want, nullptr);
    for (unsigned i = 0; i < k; ++i) out[n++] = buf_of(mbufs[i]);
    bump(cells_.steered_in, k);
  }
  return n;
}

bool QueueIo::ring_pending() const {
  if (fabric_->rings.empty()) return false;
  for (std::uint16_t from = 0; from < fabric_->engines; ++from) {
    if (from != engine_ && rte_ring_count(fabric_->ring(from, engine_)) > 0) return true;
  }
  return false;
}

// ---------------------------------------------------------------------------- TX

std::size_t QueueIo::tx_burst(std::span<PacketBuf* const> pkts, stack::Instant /*now*/) {
  std::size_t done = 0;
  while (done < pkts.size()) {
    std::array<rte_mbuf*, kBurst> mbufs{};
    std::uint16_t cnt = 0;
    bool bad = false;  // pkts[done + cnt] cannot be sent as it is
    while (cnt < kBurst && done + cnt < pkts.size()) {
      PacketBuf* pb = pkts[done + cnt];
      rte_mbuf* m = mbuf_of(pb);
      const auto* base = static_cast<std::uint8_t*>(m->buf_addr);
      if (pb->data < base || pb->data + pb->len > base + m->buf_len || pb->len > UINT16_MAX ||
          (pb->tso_segsz != 0 && !caps_.tso)) {
        bad = true;
        break;
      }
      // The stack asked for a checksum the device does not fill: do it here rather
      // than put a bad checksum on the wire.
      if ((pb->tx_ip_checksum && !caps_.tx_ip_checksum) ||
          (pb->tx_l4_checksum && !caps_.tx_l4_checksum)) {
        stack::io::fill_tx_checksums(*pb);
      }
      m->data_off = static_cast<std::uint16_t>(pb->data - base);
      m->data_len = static_cast<std::uint16_t>(pb->len);
      m->pkt_len = pb->len;
      std::uint64_t flags = 0;
      if (pb->tx_ip_checksum) flags |= RTE_MBUF_F_TX_IPV4 | RTE_MBUF_F_TX_IP_CKSUM;
      if (pb->tx_l4_checksum) flags |= RTE_MBUF_F_TX_IPV4 | RTE_MBUF_F_TX_TCP_CKSUM;
      if (pb->tso_segsz != 0) {
        flags |= RTE_MBUF_F_TX_IPV4 | RTE_MBUF_F_TX_IP_CKSUM | RTE_MBUF_F_TX_TCP_SEG;
        m->tso_segsz = pb->tso_segsz;
      }
      m->ol_flags = flags;
      m->l2_len = pb->l2_len;
      m->l3_len = pb->l3_len;
      m->l4_len = pb->l4_len;
      mbufs[cnt++] = m;
    }
    const std::uint16_t ok = rte_eth_tx_prepare(port_id_, engine_, mbufs.data(), cnt);
    const std::uint16_t sent = rte_eth_tx_burst(port_id_, engine_, mbufs.data(), ok);
    std::uint64_t bytes = 0;
    for (std::uint16_t i = 0; i < sent; ++i) bytes += mbufs[i]->pkt_len;
    bump(cells_.tx_packets, sent);
    bump(cells_.tx_bytes, bytes);
    done += sent;
    if (sent < ok) {  // the queue is full: the caller keeps the rest
      bump(cells_.tx_refused, pkts.size() - done);
      return done;
    }
    if (ok < cnt || bad) {
      // The driver's tx_prepare (or our check) rejected this frame: it never can be
      // sent, so it is taken and dropped, as a wire would lose it.
      rte_pktmbuf_free(mbuf_of(pkts[done]));
      bump(cells_.tx_dropped);
      ++done;
    }
  }
  return done;
}

PacketBuf* QueueIo::alloc() {
  rte_mbuf* m = rte_pktmbuf_alloc(pool_);
  if (m == nullptr) {
    bump(cells_.alloc_failures);
    return nullptr;
  }
  return reset_buf(m);  // len 0, capacity = everything after the headroom
}

void QueueIo::free(PacketBuf* pkt) {
  if (pkt != nullptr) rte_pktmbuf_free(mbuf_of(pkt));
}

// ---------------------------------------------------------------------------- sleep

bool QueueIo::open_wakeup(std::string* error) {
  epoll_fd_ = ::epoll_create1(EPOLL_CLOEXEC);
  const int doorbell = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  fabric_->sleepers[engine_].doorbell = doorbell;
  if (epoll_fd_ < 0 || doorbell < 0) {
    *error = "engine " + std::to_string(engine_) + ": epoll/eventfd: " + std::strerror(errno);
    return false;
  }
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.fd = doorbell;
  if (::epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, doorbell, &ev) != 0) {
    *error = "engine " + std::to_string(engine_) + ": epoll_ctl: " + std::strerror(errno);
    return false;
  }
  if (rx_intr_fd_ >= 0) {
    // Edge-triggered and never read: for tap the fd is the queue's own tap fd (reading
    // it would eat a frame), for memif an eventfd the peer writes once per kick.
    ev.events = EPOLLIN | EPOLLET;
    ev.data.fd = rx_intr_fd_;
    if (::epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, rx_intr_fd_, &ev) != 0) rx_intr_fd_ = -1;
  }
  return true;
}

void QueueIo::adopt_thread() {
  if (!rx_signal_to_engine_ || rx_intr_fd_ < 0) return;
  // For tap the interrupt fd is the queue's own tap fd, which carries O_ASYNC.
  f_owner_ex owner{};
  owner.type = F_OWNER_TID;
  owner.pid = ::gettid();
  ::fcntl(rx_intr_fd_, F_SETOWN_EX, &owner);
}

void QueueIo::set_interrupt(bool on) {
  if (rx_intr_fd_ < 0) return;
  // Drivers without an enable/disable hook (tap) always signal; their error is moot.
  if (on) {
    rte_eth_dev_rx_intr_enable(port_id_, engine_);
  } else {
    rte_eth_dev_rx_intr_disable(port_id_, engine_);
  }
}

bool QueueIo::prepare_sleep() {
  set_interrupt(true);
  fabric_->sleepers[engine_].sleeping.store(true, std::memory_order_seq_cst);
  // One last look after arming: a frame that arrived before the interrupt was armed
  // (memif masks kicks while disarmed) or a hand-over racing our flag raises no event.
  if (stash_len_ < kBurst) {
    stash_len_ = static_cast<std::uint16_t>(
        stash_len_ + rte_eth_rx_burst(port_id_, engine_, stash_.data() + stash_len_,
                                      static_cast<std::uint16_t>(kBurst - stash_len_)));
  }
  if (stash_len_ > 0 || ring_pending()) {
    finish_sleep(false);
    return false;
  }
  return true;
}

void QueueIo::finish_sleep(bool woken) {
  fabric_->sleepers[engine_].sleeping.store(false, std::memory_order_relaxed);
  set_interrupt(false);
  // Not woken through wakeup_fd(): nothing to consume, and two syscalls saved on
  // every timed-out poll sleep. A doorbell rung since then wakes the next sleep early.
  if (!woken) return;
  std::uint64_t count = 0;
  [[maybe_unused]] const ssize_t r = ::read(fabric_->sleepers[engine_].doorbell, &count, sizeof count);
  // Consume the edge-triggered events so wakeup_fd() reads idle until new work comes.
  std::array<epoll_event, 4> evs{};
  while (::epoll_wait(epoll_fd_, evs.data(), static_cast<int>(evs.size()), 0) ==
         static_cast<int>(evs.size())) {
  }
}

}  // namespace utcp::dpdk_io
