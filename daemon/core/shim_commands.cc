// The commands an app queues for one engine (read shim_server.h first): each is
// checked against the daemon's own record of the slot (range, generation) before it
// reaches the engine, and answered in the reply ring unless it is a no-reply command.
#include <sys/socket.h>

#include <cerrno>
#include <optional>

#include "daemon/core/credentials.h"
#include "daemon/core/shim_server.h"

namespace utcp::daemon {
namespace {

using stack::Instant;
namespace events = stack::tcp::events;
namespace st = shim::state;

std::uint64_t bit(std::uint32_t c) { return std::uint64_t{1} << c; }

}  // namespace

ShimServer::Slot* ShimServer::checked(RegionState& r, const shim::Command& cmd) {
  if (cmd.slot >= r.g.sockets) return nullptr;
  Slot& s = r.slots[cmd.slot];
  if (!s.used || s.released || s.generation != cmd.generation) return nullptr;
  return &s;
}

stack::Errno ShimServer::check_bind(RegionState& r, std::uint32_t c, const shim::Command& cmd,
                                    std::uint32_t* uid) {
  const bool privileged = cmd.port != 0 && cmd.port < unprivileged_port_start_;
  if (!privileged && cmd.b == 0) return 0;  // the common case reads nothing
  const std::optional<Credentials> cred = read_credentials(r.region->proc_fd(c));
  // Linux's inet_bind: `if (snum && inet_port_requires_bind_service(net, snum) &&
  // !ns_capable(net->user_ns, CAP_NET_BIND_SERVICE)) return -EACCES;` before it looks
  // at who holds the port. A process that is gone is refused.
  if (!cred || (privileged && !cred->has(kCapNetBindService))) {
    ++counters_.binds_refused;
    return EACCES;
  }
  *uid = cred->fsuid;  // a new socket's sk_uid is the creator's fsuid
  return 0;
}

void ShimServer::execute(RegionState& r, std::uint32_t c, const shim::Command& cmd, Instant now) {
  ++counters_.commands;
  shim::Reply rep;
  rep.tag = cmd.tag;
  rep.slot = cmd.slot;
  rep.generation = cmd.generation;
  const stack::wire::Endpoint ep{stack::wire::Ipv4Addr{cmd.ip}, cmd.port};

  if (cmd.op == shim::Op::kSocket) {
    auto id = engine_.socket();
    if (!id) {
      rep.result = -id.err();
    } else if (auto s = open_slot(r, c, *id)) {
      rep.slot = *s;
      rep.generation = r.slots[*s].generation;
    } else {
      (void)engine_.close(*id, now);
      rep.result = -ENFILE;
    }
    reply(r, c, rep);
    return;
  }
  if (cmd.op == shim::Op::kBarrier) {
    // Answered after the next round's mail (run()): whatever the control thread posted
    // before the app sent this is in the mailbox by then, even if this round took its
    // mail before the post.
    barriers_.push_back({r.region.get(), c, rep});
    ++work_;
    return;
  }
  if (cmd.op == shim::Op::kListen && cmd.slot < r.g.sockets && !r.slots[cmd.slot].owner &&
      cmd.slot % r.g.engines != e_) {
    // This engine's share of a listener another engine handed out.
    Slot& s = r.slots[cmd.slot];
    if (s.used) {
      rep.result = s.generation == cmd.generation ? 0 : -EBADF;
      reply(r, c, rep);
      return;
    }
    // The owner engine judged the bind and recorded the socket's uid; a share takes
    // that record (the process may have dropped privileges since, as nginx's workers
    // do, and Linux does not judge listen() again). Without one that matches (an app
    // that skipped bind, or asks for SO_REUSEPORT where it bound without: it would
    // otherwise join a group under a uid nobody read), the share is judged as a bind
    // of the calling process.
    std::uint32_t uid = 0;
    stack::Errno err = 0;
    if (auto granted = r.region->granted(cmd.slot, cmd.generation, cmd.port, cmd.b != 0)) {
      uid = *granted;
    } else {
      err = check_bind(r, c, cmd, &uid);
    }
    std::optional<stack::engine::SocketId> id;
    if (err == 0) {
      if (auto made = engine_.socket()) {
        id = *made;
      } else {
        err = made.err();
      }
    }
    if (err == 0 && (cmd.a != 0 || cmd.b != 0)) {
      auto opts = engine_.options(*id);
      opts->reuse_addr = cmd.a != 0;
      opts->reuse_port = cmd.b != 0;
      opts->uid = uid;
      err = engine_.set_options(*id, *opts, now);
    }
    if (err == 0) err = engine_.bind(*id, ep);
    if (err == 0) err = engine_.listen(*id, static_cast<int>(cmd.value));
    if (err != 0) {
      if (id) (void)engine_.close(*id, now);
      rep.result = -err;
    } else {
      s = Slot{};
      ++r.used;
      s.used = true;
      s.listener = true;
      s.registered = true;  // released by the owner's kRelease broadcast or kClose
      s.generation = cmd.generation;
      s.id = *id;
      s.watchers = bit(c);
      by_socket_[id->raw()] = {&r, cmd.slot};
    }
    reply(r, c, rep);
    return;
  }

  Slot* slot = checked(r, cmd);
  if (slot == nullptr) {
    const bool posted =
        cmd.op == shim::Op::kKick || cmd.op == shim::Op::kWatch || cmd.op == shim::Op::kClose ||
        cmd.op == shim::Op::kSendMore || cmd.op == shim::Op::kRecordEnd;
    // A kick posted just before close() often arrives after the hang-up released the
    // slot (mail is read before commands): normal, and nothing to do.
    if (posted && cmd.slot < r.g.sockets) {
      ++counters_.stale_commands;
    } else {
      ++counters_.bad_commands;
    }
    if (!posted) {
      rep.result = -EBADF;
      reply(r, c, rep);
    }
    return;
  }
  const std::uint32_t s = cmd.slot;
  switch (cmd.op) {
    case shim::Op::kBind: {
      std::uint32_t uid = 0;
      stack::Errno err = check_bind(r, c, cmd, &uid);
      if (err == 0 && (cmd.a != 0 || cmd.b != 0)) {
        auto opts = engine_.options(slot->id);
        opts->reuse_addr = cmd.a != 0;
        opts->reuse_port = cmd.b != 0;
        opts->uid = uid;
        err = engine_.set_options(slot->id, *opts, now);
      }
      if (err == 0) err = engine_.bind(slot->id, ep);
      rep.result = -err;
      if (auto name = engine_.getsockname(slot->id)) {
        rep.ip = name->addr.value;
        rep.port = name->port;
        if (err == 0) r.region->grant(s, cmd.generation, name->port, cmd.b != 0, uid);
      }
      break;
    }
    case shim::Op::kListen:
      rep.result = -engine_.listen(slot->id, static_cast<int>(cmd.value));
      if (rep.result == 0) {
        slot->listener = true;
        r.region->view().socket(s).state.fetch_or(st::kListening, std::memory_order_release);
      }
      break;
    case shim::Op::kAccept: {
      if (r.free.empty()) {
        rep.result = -ENFILE;
        break;
      }
      stack::wire::Endpoint peer;
      auto id = engine_.accept(slot->id, &peer);
      auto ready = engine_.readiness(slot->id);
      if (!ready || (*ready & events::kReadable) == 0) {
        r.region->view().socket(s).acceptable.fetch_and(~bit(e_), std::memory_order_release);
      }
      if (!id) {
        rep.result = -id.err();
        break;
      }
      ++(static_cast<std::uint32_t>(cmd.a) == e_ ? counters_.accepts_home : counters_.accepts_remote);
      const std::uint32_t child = *open_slot(r, c, *id);
      rep.value = child;
      rep.value2 = r.slots[child].generation;
      rep.ip = peer.addr.value;
      rep.port = peer.port;
      r.region->view().socket(child).state.store(st::kConnected, std::memory_order_release);
      transfer(r, child, now);  // the peer may have sent (or finished) already
      break;
    }
    case shim::Op::kConnect: {
      const stack::Errno err = engine_.connect(slot->id, ep, now);
      rep.result = -err;
      shim::SocketBlock& b = r.region->view().socket(s);
      if (err == EINPROGRESS) {
        b.state.store(st::kConnecting, std::memory_order_release);  // a retry starts afresh
        b.error.store(0, std::memory_order_relaxed);
      } else if (err == 0) {
        b.state.fetch_or(st::kConnected, std::memory_order_release);
      }
      if (auto name = engine_.getsockname(slot->id)) {
        rep.ip = name->addr.value;
        rep.port = name->port;
      }
      break;
    }
    case shim::Op::kShutdown: {
      const bool wr = cmd.a != SHUT_RD;
      const bool rd = cmd.a != SHUT_WR;
      shim::SocketBlock& b = r.region->view().socket(s);
      // Linux's inet_shutdown: a socket past both FINs (TIME-WAIT is the engine's, the
      // app's socket is closed) is not connected.
      if (auto info = engine_.info(slot->id);
          !slot->listener && info && (info->state == stack::tcp::State::kTimeWait ||
                                      info->state == stack::tcp::State::kClosed)) {
        rep.result = -ENOTCONN;
        break;
      }
      if (rd) {
        rep.result = -engine_.shutdown(slot->id, stack::engine::ShutdownHow::kRead, now);
        if (rep.result == 0) b.state.fetch_or(st::kRxShut, std::memory_order_release);
      }
      if (wr && rep.result == 0) {
        auto ready = engine_.readiness(slot->id);
        if (slot->listener || !ready) {
          rep.result = slot->listener ? -ENOTCONN : -EBADF;
        } else {
          b.state.fetch_or(st::kTxShut, std::memory_order_release);
          slot->shut_wr_pending = true;
          pump_tx(r, s, now);  // sends FIN once what was written is in the engine
        }
      }
      break;
    }
    case shim::Op::kSetOption:
      set_option(r, *slot, cmd, rep, now);
      if (cmd.flags & shim::kNoReply) return;
      break;
    case shim::Op::kGetOption:
      get_option(r, *slot, cmd, rep);
      break;
    case shim::Op::kGetName:
    case shim::Op::kGetPeer: {
      auto name = cmd.op == shim::Op::kGetName ? engine_.getsockname(slot->id)
                                                : engine_.getpeername(slot->id);
      if (!name) {
        rep.result = -name.err();
      } else {
        rep.ip = name->addr.value;
        rep.port = name->port;
      }
      break;
    }
    case shim::Op::kTcpInfo: {
      auto info = engine_.info(slot->id);
      if (!info) {
        rep.result = -info.err();
        break;
      }
      shim::InfoPayload& p = rep.info;
      // The app's socket is closed once it is in TIME-WAIT (Linux hands that state to a
      // separate timewait sock), so TCP_INFO says CLOSE.
      p.state = info->state == stack::tcp::State::kTimeWait ? linux_tcp_state(stack::tcp::State::kClosed)
                                                            : linux_tcp_state(info->state);
      p.options = static_cast<std::uint8_t>((info->timestamps ? 1 : 0) | (info->sack ? 2 : 0) |
                                            (info->snd_wscale || info->rcv_wscale ? 4 : 0));
      p.snd_wscale = info->snd_wscale;
      p.rcv_wscale = info->rcv_wscale;
      p.retransmits = info->retransmits_current;
      p.rto_us = static_cast<std::uint32_t>(info->rto.count());
      p.snd_mss = info->snd_mss;
      p.rcv_mss = info->rcv_mss;
      p.unacked = info->snd_mss ? info->bytes_in_flight / info->snd_mss : 0;
      p.rtt_us = static_cast<std::uint32_t>(info->srtt.count());
      p.rttvar_us = static_cast<std::uint32_t>(info->rttvar.count());
      p.snd_ssthresh = info->snd_mss ? info->ssthresh_bytes / info->snd_mss : 0;
      p.snd_cwnd = info->snd_mss ? info->cwnd_bytes / info->snd_mss : 0;
      p.rcv_space = info->rcv_wnd;
      p.total_retrans = static_cast<std::uint32_t>(info->total_retransmits);
      p.advmss = info->rcv_mss;
      p.bytes_acked = info->bytes_acked;
      p.bytes_received = info->bytes_received;
      p.segs_out = static_cast<std::uint32_t>(info->segs_out);
      p.segs_in = static_cast<std::uint32_t>(info->segs_in);
      p.notsent_bytes = info->unsent_bytes;
      p.unacked_bytes = info->bytes_in_flight;
      p.snd_wnd = info->snd_wnd;
      break;
    }
    case shim::Op::kKick:
      // Cleared before looking, so data written after this point brings a new kick.
      r.region->view().socket(s).kick.store(0, std::memory_order_seq_cst);
      transfer(r, s, now);
      return;
    case shim::Op::kSendMore:
      // Posted before the MSG_MORE data is written (so it is held from its first byte)
      // and after the data of the send that releases it (which goes out with the rest).
      if (cmd.a != 0) {
        slot->more = true;
        transfer(r, s, now);
        return;
      }
      transfer(r, s, now);
      slot->more = false;
      (void)engine_.send(slot->id, {}, {}, now);  // an empty send without MSG_MORE pushes
      return;
    case shim::Op::kRecordEnd:
      // Bounded: an end the pump already passed is dropped there; past the bound, a
      // record merges with the next one (the app is told nothing either way).
      if (slot->tx && slot->record_ends.size() < kMaxRecordEnds) {
        slot->record_ends.push_back(static_cast<std::uint32_t>(cmd.value));
      }
      transfer(r, s, now);
      return;
    case shim::Op::kWatch:
      slot->watchers |= bit(c);
      mark(r, s);  // a first event, so the newcomer looks at the state now
      return;
    case shim::Op::kClose:
      release(r, s, now);
      return;
    default:
      ++counters_.bad_commands;
      rep.result = -EINVAL;
      break;
  }
  reply(r, c, rep);
}

}  // namespace utcp::daemon
