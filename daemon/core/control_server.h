// ControlServer: utcpd's control thread side of the app channel (shim/control.h).
// It accepts attaching processes, creates a region per process family, hands out
// channels, watches every placeholder fd the apps registered, and tells the engines
// (through their mailboxes, then the doorbells of those that sleep) what changed:
//   - a process attached or joined       -> kChannelUp
//   - a placeholder was registered       -> kPlaceholder
//   - a placeholder's last reference closed (kernel-counted) -> kRelease, every engine
//   - a control connection closed (the process is gone)      -> kChannelGone, every engine
// A channel number is reused only after every engine confirmed it let go (the region's
// channel_pending count), so an engine never wakes a stranger through a stale eventfd.
#pragma once

#include <sys/epoll.h>
#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "daemon/core/control_access.h"
#include "daemon/core/mailbox.h"
#include "daemon/core/region.h"
#include "shim/control.h"

namespace utcp::daemon {

struct ControlConfig {
  std::string path;
  ControlAccess access;             // the socket's group and mode (who may attach)
  shim::Geometry geometry;          // engines is set from doorbells.size()
  std::uint32_t ip = 0;             // host order
  std::uint32_t prefix_len = 0;
  std::vector<int> engine_cpus;     // per engine
  std::vector<int> doorbells;       // per engine: eventfd the engine sleeps on (not owned)
  // After a batch of events, the control thread lets the next ones gather this long
  // before it waits again. Nobody waits for its work (placeholders and hang-ups are
  // fire-and-forget; kSync looks for hang-ups itself), and on a VM every wake-up is a
  // costly context switch: one per event was half a core at 2,500 connections/s.
  std::chrono::microseconds batch_pause{500};
  // Answers kQuery (`utcp stat`, `utcp ss`) with the text to send; unset: ENOSYS.
  // Runs on the control thread, which it may hold up to the engines' answer time.
  std::function<std::string(shim::Query what, std::uint32_t flags)> report;
};

struct ControlCounters {
  std::uint64_t attaches = 0;
  std::uint64_t joins = 0;
  std::uint64_t rejected = 0;       // bad message, unknown region, no free channel
  std::uint64_t placeholders = 0;
  std::uint64_t releases = 0;
  std::uint64_t processes_gone = 0;
  std::uint64_t families = 0;       // live now
  std::uint64_t queries = 0;        // utcp stat / ss answered
};

class ControlServer {
 public:
  ControlServer(ControlConfig cfg, std::vector<Mailbox*> mailboxes);
  ~ControlServer();
  ControlServer(const ControlServer&) = delete;
  ControlServer& operator=(const ControlServer&) = delete;

  // Creates the socket, root:access.group with access.mode (its directory too, no wider
  // than that: control_access.h; a stale socket file is replaced).
  bool open(std::string* error);
  // Serves whatever is ready, waiting up to timeout_ms. Returns false on a fatal error.
  bool serve(int timeout_ms);

  const ControlCounters& counters() const { return counters_; }
  const std::string& path() const { return cfg_.path; }

 private:
  struct Family {
    std::shared_ptr<Region> region;
    std::uint64_t channels = 0;   // in use (live or still being let go by engines)
    std::uint64_t draining = 0;   // gone, waiting for every engine
    std::uint64_t placeholders = 0;
  };
  struct Watch {  // what an epoll entry stands for
    enum class Kind : std::uint8_t { kListen, kConnection, kPlaceholder } kind;
    int fd = -1;
    Family* family = nullptr;
    std::uint32_t channel = 0;    // kConnection
    std::uint32_t slot = 0;       // kPlaceholder
    std::uint32_t generation = 0;
    pid_t pid = 0;                // kConnection: the process (SO_PEERCRED), for the log
    std::uint32_t serial = 0;     // which watch of this fd number (see watch_of)
  };
  // Registers w's fd in the epoll set under (serial, fd); false when epoll refuses it.
  bool watch(Watch& w, std::uint32_t events);
  // The watch an event is for, or null. An event of a batch can outlive its watch: a
  // kSync handles hang-ups of the same batch early, and the fd number a forgotten
  // placeholder had may already name a new one (its hang-up would release the new
  // socket). The serial in the event's data tells them apart.
  Watch* watch_of(const epoll_event& ev);

  std::uint32_t next_serial_ = 0;
  void accept_connections();
  void on_connection(Watch& w);
  void attach(Watch& w, const shim::ControlMsg& msg, std::span<int> fds);
  void placeholder(Watch& w, const shim::ControlMsg& msg, int fd);
  void query(Watch& w, const shim::ControlMsg& msg);
  void connection_gone(Watch& w);
  void placeholder_gone(Watch& w);
  void serve_ready_placeholders();
  void drain_channels();
  void post_all(const EngineMsg& msg);  // rung by ring_sleepers() at the end of serve()
  void ring_sleepers();
  void forget(Watch& w);

  ControlConfig cfg_;
  std::vector<Mailbox*> mailboxes_;
  int listen_fd_ = -1;
  int epoll_fd_ = -1;
  // The listen socket and the processes' connections only: the batch pause waits on
  // it, so a process's message (a kSync that close() waits for) ends the pause.
  int pause_fd_ = -1;
  std::uint64_t next_region_id_ = 1;
  std::vector<std::unique_ptr<Family>> families_;
  std::unordered_map<int, std::unique_ptr<Watch>> watches_;  // by fd
  ControlCounters counters_;
  std::uint64_t to_ring_ = 0;  // engines whose mailbox got mail while they may sleep
};

}  // namespace utcp::daemon
