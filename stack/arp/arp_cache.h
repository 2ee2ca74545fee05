// ArpCache: the IPv4 -> MAC resolution state of one engine (RFC 826 "Packet Reception",
// RFC 1122 §2.3.2.1 flood limit, §2.3.2.2 queueing while unresolved).
// Invariants: entry_count() <= max_entries; pending_count() <= max_pending_total and
// <= max_pending_per_addr per address; `now` never goes backwards between calls.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <unordered_map>
#include <vector>

#include "stack/base/time.h"
#include "stack/io/packet_io.h"
#include "stack/wire/addresses.h"

namespace utcp::stack::arp {

// Bounds of zero are raised to one: a cache that can hold nothing could never resolve.
struct ArpConfig {
  Duration entry_ttl = std::chrono::seconds(60);      // a learned mapping is used this long, then re-resolved
  Duration retry_interval = std::chrono::seconds(1);  // between requests for an unresolved address
  std::uint32_t max_requests = 3;                     // then unreachable: queued frames dropped
  std::size_t max_entries = 1024;                     // bounded: least recently updated entry evicted
  std::size_t max_pending_per_addr = 16;              // frames waiting for one address (oldest dropped beyond)
  std::size_t max_pending_total = 1024;
};

// The cache parks frames but never frees them (it has no PacketIo): every frame it
// took comes back through `ready`, `dropped` or drain_pending(). Call drain_pending()
// before destroying a cache that may still hold frames.
class ArpCache {
 public:
  explicit ArpCache(const ArpConfig& cfg);

  // The mapping for ip if it is resolved and younger than entry_ttl.
  std::optional<wire::MacAddr> lookup(wire::Ipv4Addr ip, Instant now) const;

  // Learn or refresh (a reply, or a request for our address: RFC 826 merge). Frames
  // that waited for ip are appended to `ready` in FIFO order (the caller writes the
  // destination MAC and transmits). Ignored for addresses that must never be learned
  // (zero/broadcast/multicast MAC or IP). A new address is not learned when every
  // entry is an unresolved address with parked frames (those are never evicted here).
  void update(wire::Ipv4Addr ip, wire::MacAddr mac, Instant now,
              std::vector<io::PacketBuf*>& ready);
  // RFC 826 merge_flag: refresh only if present (resolved or being resolved).
  // Returns whether ip was present.
  bool refresh_if_present(wire::Ipv4Addr ip, wire::MacAddr mac, Instant now,
                          std::vector<io::PacketBuf*>& ready);

  enum class Enqueue { kSendRequest, kWaiting };
  // Parks a frame until ip resolves. Says whether to send an ARP request now (first
  // time, or retry_interval passed and fewer than max_requests were sent). Frames
  // pushed out by the bounds go to `dropped` (caller frees and counts). Meant for an
  // address lookup() did not resolve; a still-valid mapping is discarded and re-resolved.
  Enqueue enqueue(wire::Ipv4Addr ip, io::PacketBuf* frame, Instant now,
                  std::vector<io::PacketBuf*>& dropped);

  // Expires entries; gives up on addresses after max_requests (their frames go to
  // `dropped`); appends to `resend` the addresses needing another request now.
  void on_timer(Instant now, std::vector<wire::Ipv4Addr>& resend,
                std::vector<io::PacketBuf*>& dropped);
  // When on_timer next has work (an expiry or a retry); kNever when empty.
  Instant next_deadline() const;

  // At shutdown the caller takes every parked frame (oldest first). Unresolved
  // addresses stay and keep retrying.
  void drain_pending(std::vector<io::PacketBuf*>& out);

  std::size_t entry_count() const { return index_.size(); }  // resolved + unresolved
  std::size_t pending_count() const { return pending_count_; }
  std::size_t unresolved_count() const;

 private:
  static constexpr std::uint32_t kNil = 0xffffffffu;

  // One address. `prev`/`next` link it into resolved_ or unresolved_; both lists are
  // ordered by `since`, so each head holds the earliest deadline of its kind.
  struct Entry {
    wire::Ipv4Addr ip;
    wire::MacAddr mac;
    bool resolved = false;
    Instant since{};              // resolved: last update; unresolved: last request sent
    std::uint32_t requests = 0;   // requests sent for this resolution attempt
    std::uint32_t prev = kNil, next = kNil;
    std::uint32_t first_frame = kNil, last_frame = kNil;  // FIFO of parked frames
    std::size_t frame_count = 0;
  };
  // One parked frame: in its entry's FIFO (`next_in_entry`) and in the global age
  // order (`older`/`newer`) that max_pending_total drops from.
  struct Pending {
    io::PacketBuf* frame = nullptr;
    std::uint32_t entry = kNil;
    std::uint32_t next_in_entry = kNil;
    std::uint32_t older = kNil, newer = kNil;
  };
  struct List {
    std::uint32_t head = kNil, tail = kNil;
    std::size_t size = 0;
  };

  bool is_fresh(const Entry& e, Instant now) const;
  std::uint32_t find(wire::Ipv4Addr ip) const;
  std::uint32_t make_entry(wire::Ipv4Addr ip, bool resolved, Instant now);
  void remove_entry(std::uint32_t idx);
  // Frees a slot if one can be had without dropping frames; false if not.
  bool evict_for_resolved();
  void evict_for_unresolved(std::vector<io::PacketBuf*>& dropped);
  // Sends another request if the interval passed and the budget allows.
  bool retry_due(std::uint32_t idx, Instant now);
  void resolve(std::uint32_t idx, wire::MacAddr mac, Instant now,
               std::vector<io::PacketBuf*>& ready);
  void start_resolving(std::uint32_t idx, Instant now);

  List& list_of(const Entry& e) { return e.resolved ? resolved_ : unresolved_; }
  void link_tail(List& list, std::uint32_t idx);
  void unlink(List& list, std::uint32_t idx);

  void park(std::uint32_t entry, io::PacketBuf* frame, std::vector<io::PacketBuf*>& dropped);
  // Removes the oldest frame of `entry` and returns it.
  io::PacketBuf* pop_frame(std::uint32_t entry);
  void release_frames(std::uint32_t entry, std::vector<io::PacketBuf*>& out);

  ArpConfig cfg_;
  std::vector<Entry> entries_;        // slab; free slots chained through `next`
  std::uint32_t free_entry_ = kNil;
  std::unordered_map<std::uint32_t, std::uint32_t> index_;  // ip -> slot
  List resolved_, unresolved_;
  std::vector<Pending> pending_;      // slab; free slots chained through `next_in_entry`
  std::uint32_t free_pending_ = kNil;
  std::uint32_t oldest_pending_ = kNil, newest_pending_ = kNil;
  std::size_t pending_count_ = 0;
};

}  // namespace utcp::stack::arp
