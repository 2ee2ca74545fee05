// ShimServer: one engine's side of the app channel (shim/protocol.h). Each round it
// executes the commands apps queued for this engine, turns the engine's readiness
// events into stream transfers (engine buffers <-> the socket's shared byte streams)
// and app events, and wakes the apps that sleep. Pure: no DPDK, no threads; the only
// syscalls are the eventfd write that wakes a sleeping app and, at a privileged bind,
// reading the caller's credentials from /proc (credentials.h).
//
// Trust: everything read from a region is untrusted. Slot numbers are bounds-checked
// and matched against the generation the daemon keeps privately; ring and stream
// indices are checked by SpscRing/ByteStream (a poisoned ring detaches its channel);
// values are copied out before use. A corrupt app can only hurt its own family.
//
// Slot ownership: engine e hands out the slots s with s % engines == e, so engines
// never race for a slot. A listening socket has a share on every engine (its
// connections arrive on every queue), created by the kListen each engine receives.
//
// Closing: a socket closes when the control thread reports that the last app
// reference of its placeholder fd is gone (kRelease), or when the only process that
// could still register one dies. What the app had queued is sent first, then FIN,
// or RST when the app left received data unread (as Linux's tcp_close does).
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <unordered_map>
#include <vector>

#include "daemon/core/mailbox.h"
#include "daemon/core/region.h"
#include "shim/protocol.h"
#include "stack/base/time.h"
#include "stack/engine/engine.h"

namespace utcp::daemon {
inline constexpr std::uint32_t kNoChannel = 0xffffffffu;
}

namespace utcp::daemon {

struct ShimCounters {
  std::uint64_t commands = 0;
  std::uint64_t bad_commands = 0;      // unknown op, bad slot, or a call on a stale slot
  std::uint64_t stale_commands = 0;    // kick/watch/close for a slot already released
  std::uint64_t poisoned_channels = 0; // a ring index that could not be right
  std::uint64_t sockets_opened = 0;    // slots handed out (socket + accept)
  std::uint64_t sockets_released = 0;  // slots given back
  std::uint64_t released_by_death = 0; // of those: never registered before the app died
  std::uint64_t released_at_family_end = 0;  // of those: left when the family ended (an app
                                             // asked a listener share for a slot nobody owns)
  std::uint64_t channels_gone = 0;
  std::uint64_t bytes_to_apps = 0;
  std::uint64_t bytes_from_apps = 0;
  std::uint64_t events = 0;
  std::uint64_t event_overflows = 0;
  std::uint64_t app_wakeups = 0;       // eventfd writes
  std::uint64_t open_slots = 0;        // gauge: slots handed out and not given back
  std::uint64_t accepts_home = 0;      // accepted by a thread whose CPU this engine serves
  std::uint64_t accepts_remote = 0;    // taken by a thread of another core (no one idle here)
  std::uint64_t binds_refused = 0;     // EACCES: a low port without CAP_NET_BIND_SERVICE,
                                       // or a process whose credentials could not be read

  template <class Fn>
  void for_each(Fn&& fn) const {
    fn("shim_commands", commands);
    fn("shim_bad_commands", bad_commands);
    fn("shim_stale_commands", stale_commands);
    fn("shim_poisoned_channels", poisoned_channels);
    fn("shim_sockets_opened", sockets_opened);
    fn("shim_sockets_released", sockets_released);
    fn("shim_released_by_death", released_by_death);
    fn("shim_released_at_family_end", released_at_family_end);
    fn("shim_channels_gone", channels_gone);
    fn("shim_bytes_to_apps", bytes_to_apps);
    fn("shim_bytes_from_apps", bytes_from_apps);
    fn("shim_events", events);
    fn("shim_event_overflows", event_overflows);
    fn("shim_app_wakeups", app_wakeups);
    fn("shim_open_slots", open_slots);
    fn("shim_accepts_home", accepts_home);
    fn("shim_accepts_remote", accepts_remote);
    fn("shim_binds_refused", binds_refused);
  }
};

// Linux's TCP_* state number (include/net/tcp_states.h) for TCP_INFO.
std::uint8_t linux_tcp_state(stack::tcp::State s);

class ShimServer {
 public:
  // Events of sockets the shim does not own (utcpd's diagnostic services) go to `other`.
  using OtherEvents = std::function<void(const stack::engine::SocketEvent&)>;

  // Binds below `unprivileged_port_start` need CAP_NET_BIND_SERVICE (Linux's
  // net.ipv4.ip_unprivileged_port_start, as utcpd's namespace has it).
  ShimServer(stack::engine::Engine& engine, std::uint32_t engine_index, OtherEvents other,
             std::uint32_t unprivileged_port_start = 1024);
  ~ShimServer();
  ShimServer(const ShimServer&) = delete;
  ShimServer& operator=(const ShimServer&) = delete;

  void deliver(const EngineMsg& msg, stack::Instant now);
  // One round after engine.poll(): the control thread's mail, then commands, engine
  // events, transfers, app wake-ups. Mail goes first so that whatever the control
  // thread posted before an app queued a command (a socket released by close(), then
  // bind() to its port) is seen before that command. Returns the work done (0: nothing).
  std::size_t run(stack::Instant now, Mailbox& mail);
  // Before the engine sleeps: tells every app to ring the doorbell, then looks at the
  // command rings once more. False: work arrived, do not sleep.
  bool prepare_sleep();
  void finish_sleep();
  // utcpd stops: every connection is reset and every app told the network is down.
  void abort_all(stack::Instant now);

  const ShimCounters& counters() const { return counters_; }
  std::size_t open_slots() const { return by_socket_.size(); }

 private:
  struct Slot {
    bool used = false;
    bool owner = false;         // handed out by this engine (else: a listener's share)
    bool listener = false;
    bool registered = false;    // the app's placeholder fd is known to the control thread
    bool released = false;      // no app holds it any more: finish sending, then close
    bool shut_wr_pending = false;  // shutdown(SHUT_WR) waits for tx to drain
    bool tx_refused = false;       // the engine takes no more data (EPIPE, an error): tx never drains
    bool more = false;             // the app's last send had MSG_MORE (kSendMore)
    // MSG_EOR record ends in tx (ByteStream counters), oldest first (kRecordEnd).
    std::vector<std::uint32_t> record_ends;
    bool dirty = false;
    std::uint32_t pending_channel = kNoChannel;  // the only process that may register it
    std::uint32_t generation = 0;
    stack::engine::SocketId id{};
    std::uint64_t watchers = 0;  // channels that get this slot's events
    int so_error = 0;            // pending SO_ERROR
    std::optional<shim::ByteStream> tx;  // we consume
    std::optional<shim::ByteStream> rx;  // we produce
  };

  struct RegionState {
    std::shared_ptr<Region> region;
    shim::Geometry g;
    std::uint64_t live = 0;  // channels attached
    std::vector<std::optional<shim::CommandRing>> commands;  // per channel, this engine's
    std::vector<std::optional<shim::ReplyRing>> replies;
    std::vector<std::optional<shim::EventRing>> events;
    std::vector<Slot> slots;
    std::vector<std::uint32_t> free;  // this engine's unused slots (a stack)
    std::vector<std::uint32_t> dirty;
    std::uint64_t to_wake = 0;
    std::uint32_t used = 0;  // slots in use here (owned or a listener's share)
  };


  RegionState* region_state(const std::shared_ptr<Region>& region);
  void serve_channel(RegionState& r, std::uint32_t c, stack::Instant now);
  void execute(RegionState& r, std::uint32_t c, const shim::Command& cmd, stack::Instant now);
  Slot* checked(RegionState& r, const shim::Command& cmd);
  std::optional<std::uint32_t> open_slot(RegionState& r, std::uint32_t c,
                                         stack::engine::SocketId id);
  void reply(RegionState& r, std::uint32_t c, const shim::Reply& rep);
  void on_engine_event(const stack::engine::SocketEvent& ev, stack::Instant now);
  void transfer(RegionState& r, std::uint32_t s, stack::Instant now);
  void pump_tx(RegionState& r, std::uint32_t s, stack::Instant now);
  // Bytes from tx's read position to the next MSG_EOR record end (0: none); drops
  // ends already passed.
  static std::uint32_t next_record_end(Slot& slot);
  static constexpr std::size_t kMaxRecordEnds = 64;  // pending per socket
  void pump_rx(RegionState& r, std::uint32_t s, stack::Instant now);
  void note_error(RegionState& r, std::uint32_t s, int err);
  void mark(RegionState& r, std::uint32_t s);
  void release(RegionState& r, std::uint32_t s, stack::Instant now);
  void maybe_finish_close(RegionState& r, std::uint32_t s, stack::Instant now);
  void free_slot(RegionState& r, std::uint32_t s);
  void channel_gone(RegionState& r, std::uint32_t c, stack::Instant now);
  void family_over(RegionState& r, stack::Instant now);
  void publish_events(RegionState& r);
  void wake_apps(RegionState& r);
  void forget_finished_regions();
  void set_option(RegionState& r, Slot& slot, const shim::Command& cmd, shim::Reply& rep,
                  stack::Instant now);
  void get_option(RegionState& r, Slot& slot, const shim::Command& cmd, shim::Reply& rep);

  // bind's permission checks (credentials.h): EACCES below the unprivileged ports
  // without CAP_NET_BIND_SERVICE; a SO_REUSEPORT socket takes the process's uid.
  stack::Errno check_bind(RegionState& r, std::uint32_t c, const shim::Command& cmd,
                          std::uint32_t* uid);

  stack::engine::Engine& engine_;
  const std::uint32_t e_;
  const std::uint32_t unprivileged_port_start_;
  OtherEvents other_;
  std::vector<std::unique_ptr<RegionState>> regions_;
  // Engine socket (SocketId::raw) -> its region and slot.
  std::unordered_map<std::uint64_t, std::pair<RegionState*, std::uint32_t>> by_socket_;
  std::vector<stack::engine::SocketEvent> events_;
  std::vector<std::uint8_t> scratch_;
  std::vector<shim::Command> commands_;  // one channel's burst
  // kBarrier commands waiting for the next round's mail, then answered.
  struct Barrier {
    const Region* region;
    std::uint32_t channel;
    shim::Reply reply;
  };
  std::vector<Barrier> barriers_;
  void answer_barriers(const std::vector<Barrier>& due);
  std::size_t work_ = 0;
  ShimCounters counters_;
};

}  // namespace utcp::daemon
