// ArpCache: a slab of entries on two intrusive lists (resolved, by last update;
// unresolved, by last request) and a slab of parked frames, each on its address's FIFO
// and on one global age list. Read arp_cache.h first, then RFC 826 "Packet Reception".
// Invariant: both slabs are sized once here, so no call allocates except index_ nodes.
#include "stack/arp/arp_cache.h"

#include <algorithm>

namespace utcp::stack::arp {

namespace {

// RFC 1812 §3.3.2: never believe a broadcast or multicast link address for a host;
// RFC 5227 §2.1.1: an ARP probe carries sender IP 0.0.0.0, which names no host.
bool learnable(wire::Ipv4Addr ip, const wire::MacAddr& mac) {
  return !mac.is_zero() && !mac.is_multicast() && !ip.is_unspecified() &&
         !ip.is_broadcast() && !ip.is_multicast();
}

ArpConfig sanitized(ArpConfig cfg) {
  // Slot indices are 32-bit with one value reserved for "none".
  constexpr std::size_t kMaxSlots = 0xfffffffeu;
  cfg.max_entries = std::clamp<std::size_t>(cfg.max_entries, 1, kMaxSlots);
  cfg.max_pending_total = std::clamp<std::size_t>(cfg.max_pending_total, 1, kMaxSlots);
  cfg.max_pending_per_addr = std::max<std::size_t>(cfg.max_pending_per_addr, 1);
  cfg.max_requests = std::max<std::uint32_t>(cfg.max_requests, 1);
  // A zero interval would make every entry due again the moment it was retried.
  cfg.retry_interval = std::max(cfg.retry_interval, Duration(1));
  return cfg;
}

}  // namespace

ArpCache::ArpCache(const ArpConfig& cfg)
    : cfg_(sanitized(cfg)), entries_(cfg_.max_entries), pending_(cfg_.max_pending_total) {
  for (std::size_t i = 0; i < entries_.size(); ++i) {
    entries_[i].next = i + 1 < entries_.size() ? static_cast<std::uint32_t>(i + 1) : kNil;
  }
  free_entry_ = 0;
  for (std::size_t i = 0; i < pending_.size(); ++i) {
    pending_[i].next_in_entry =
        i + 1 < pending_.size() ? static_cast<std::uint32_t>(i + 1) : kNil;
  }
  free_pending_ = 0;
  index_.reserve(cfg_.max_entries);
}

std::optional<wire::MacAddr> ArpCache::lookup(wire::Ipv4Addr ip, Instant now) const {
  const std::uint32_t idx = find(ip);
  if (idx == kNil) return std::nullopt;
  const Entry& e = entries_[idx];
  if (!e.resolved || !is_fresh(e, now)) return std::nullopt;
  return e.mac;
}

void ArpCache::update(wire::Ipv4Addr ip, wire::MacAddr mac, Instant now,
                      std::vector<io::PacketBuf*>& ready) {
  if (!learnable(ip, mac)) return;
  std::uint32_t idx = find(ip);
  if (idx == kNil) {
    if (!evict_for_resolved()) return;
    idx = make_entry(ip, /*resolved=*/true, now);
  }
  resolve(idx, mac, now, ready);
}

bool ArpCache::refresh_if_present(wire::Ipv4Addr ip, wire::MacAddr mac, Instant now,
                                  std::vector<io::PacketBuf*>& ready) {
  const std::uint32_t idx = find(ip);
  if (idx == kNil) return false;
  if (learnable(ip, mac)) resolve(idx, mac, now, ready);
  return true;
}

ArpCache::Enqueue ArpCache::enqueue(wire::Ipv4Addr ip, io::PacketBuf* frame, Instant now,
                                    std::vector<io::PacketBuf*>& dropped) {
  std::uint32_t idx = find(ip);
  if (idx == kNil) {
    evict_for_unresolved(dropped);
    idx = make_entry(ip, /*resolved=*/false, now);
  } else if (!entries_[idx].resolved) {
    park(idx, frame, dropped);
    return retry_due(idx, now) ? Enqueue::kSendRequest : Enqueue::kWaiting;
  }
  start_resolving(idx, now);
  park(idx, frame, dropped);
  return Enqueue::kSendRequest;
}

// RFC 1122 §2.3.2.1: at most one request per retry_interval for one address.
bool ArpCache::retry_due(std::uint32_t idx, Instant now) {
  Entry& e = entries_[idx];
  if (now < e.since + cfg_.retry_interval || e.requests >= cfg_.max_requests) return false;
  ++e.requests;
  e.since = now;
  unlink(unresolved_, idx);
  link_tail(unresolved_, idx);
  return true;
}

void ArpCache::on_timer(Instant now, std::vector<wire::Ipv4Addr>& resend,
                        std::vector<io::PacketBuf*>& dropped) {
  while (resolved_.head != kNil && !is_fresh(entries_[resolved_.head], now)) {
    remove_entry(resolved_.head);
  }
  // Each due entry is handled once: a retried one moves to the tail, no longer due.
  for (std::size_t n = unresolved_.size; n > 0 && unresolved_.head != kNil; --n) {
    const std::uint32_t idx = unresolved_.head;
    Entry& e = entries_[idx];
    if (now < e.since + cfg_.retry_interval) break;
    if (e.requests >= cfg_.max_requests) {
      release_frames(idx, dropped);
      remove_entry(idx);
    } else if (retry_due(idx, now)) {
      resend.push_back(e.ip);
    }
  }
}

Instant ArpCache::next_deadline() const {
  Instant deadline = kNever;
  if (resolved_.head != kNil) {
    deadline = std::min(deadline, entries_[resolved_.head].since + cfg_.entry_ttl);
  }
  if (unresolved_.head != kNil) {
    deadline = std::min(deadline, entries_[unresolved_.head].since + cfg_.retry_interval);
  }
  return deadline;
}

void ArpCache::drain_pending(std::vector<io::PacketBuf*>& out) {
  while (oldest_pending_ != kNil) out.push_back(pop_frame(pending_[oldest_pending_].entry));
}

std::size_t ArpCache::unresolved_count() const { return unresolved_.size; }

bool ArpCache::is_fresh(const Entry& e, Instant now) const {
  return now < e.since + cfg_.entry_ttl;
}

std::uint32_t ArpCache::find(wire::Ipv4Addr ip) const {
  const auto it = index_.find(ip.value);
  return it == index_.end() ? kNil : it->second;
}

std::uint32_t ArpCache::make_entry(wire::Ipv4Addr ip, bool resolved, Instant now) {
  const std::uint32_t idx = free_entry_;
  free_entry_ = entries_[idx].next;
  Entry& e = entries_[idx];
  e = Entry{};
  e.ip = ip;
  e.resolved = resolved;
  e.since = now;
  link_tail(list_of(e), idx);
  index_.emplace(ip.value, idx);
  return idx;
}

void ArpCache::remove_entry(std::uint32_t idx) {
  Entry& e = entries_[idx];
  unlink(list_of(e), idx);
  index_.erase(e.ip.value);
  e.next = free_entry_;
  free_entry_ = idx;
}

// A mapping learned on the side never costs a frame: it evicts only resolved entries.
bool ArpCache::evict_for_resolved() {
  if (free_entry_ != kNil) return true;
  if (resolved_.head == kNil) return false;
  remove_entry(resolved_.head);
  return true;
}

// A frame that needs resolving evicts the least recently updated resolved entry, and
// only when none is left the unresolved address asked about longest ago (with its frames).
void ArpCache::evict_for_unresolved(std::vector<io::PacketBuf*>& dropped) {
  if (evict_for_resolved()) return;
  const std::uint32_t victim = unresolved_.head;
  release_frames(victim, dropped);
  remove_entry(victim);
}

void ArpCache::resolve(std::uint32_t idx, wire::MacAddr mac, Instant now,
                       std::vector<io::PacketBuf*>& ready) {
  Entry& e = entries_[idx];
  unlink(list_of(e), idx);
  e.mac = mac;
  e.since = now;
  if (!e.resolved) {
    e.resolved = true;
    e.requests = 0;
    release_frames(idx, ready);
  }
  link_tail(resolved_, idx);
}

// Turns idx into an unresolved entry whose first request goes out now.
void ArpCache::start_resolving(std::uint32_t idx, Instant now) {
  Entry& e = entries_[idx];
  unlink(list_of(e), idx);
  e.resolved = false;
  e.requests = 1;
  e.since = now;
  link_tail(unresolved_, idx);
}

void ArpCache::link_tail(List& list, std::uint32_t idx) {
  Entry& e = entries_[idx];
  e.prev = list.tail;
  e.next = kNil;
  if (list.tail == kNil) {
    list.head = idx;
  } else {
    entries_[list.tail].next = idx;
  }
  list.tail = idx;
  ++list.size;
}

void ArpCache::unlink(List& list, std::uint32_t idx) {
  Entry& e = entries_[idx];
  if (e.prev == kNil) {
    list.head = e.next;
  } else {
    entries_[e.prev].next = e.next;
  }
  if (e.next == kNil) {
    list.tail = e.prev;
  } else {
    entries_[e.next].prev = e.prev;
  }
  e.prev = e.next = kNil;
  --list.size;
}

void ArpCache::park(std::uint32_t entry, io::PacketBuf* frame,
                    std::vector<io::PacketBuf*>& dropped) {
  if (entries_[entry].frame_count >= cfg_.max_pending_per_addr) {
    dropped.push_back(pop_frame(entry));
  }
  if (pending_count_ >= cfg_.max_pending_total) {
    // The globally oldest frame heads its own address's FIFO, so pop_frame takes it.
    dropped.push_back(pop_frame(pending_[oldest_pending_].entry));
  }
  const std::uint32_t n = free_pending_;
  free_pending_ = pending_[n].next_in_entry;
  pending_[n] = Pending{frame, entry, kNil, newest_pending_, kNil};

  Entry& e = entries_[entry];
  if (e.last_frame == kNil) {
    e.first_frame = n;
  } else {
    pending_[e.last_frame].next_in_entry = n;
  }
  e.last_frame = n;
  ++e.frame_count;

  if (newest_pending_ == kNil) {
    oldest_pending_ = n;
  } else {
    pending_[newest_pending_].newer = n;
  }
  newest_pending_ = n;
  ++pending_count_;
}

io::PacketBuf* ArpCache::pop_frame(std::uint32_t entry) {
  Entry& e = entries_[entry];
  const std::uint32_t n = e.first_frame;
  Pending& p = pending_[n];
  e.first_frame = p.next_in_entry;
  if (e.first_frame == kNil) e.last_frame = kNil;
  --e.frame_count;

  if (p.older == kNil) {
    oldest_pending_ = p.newer;
  } else {
    pending_[p.older].newer = p.newer;
  }
  if (p.newer == kNil) {
    newest_pending_ = p.older;
  } else {
    pending_[p.newer].older = p.older;
  }
  --pending_count_;

  io::PacketBuf* frame = p.frame;
  p = Pending{};
  p.next_in_entry = free_pending_;
  free_pending_ = n;
  return frame;
}

void ArpCache::release_frames(std::uint32_t entry, std::vector<io::PacketBuf*>& out) {
  while (entries_[entry].first_frame != kNil) out.push_back(pop_frame(entry));
}

}  // namespace utcp::stack::arp
