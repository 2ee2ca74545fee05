// Engine invariants (read invariants.h). The TCP ones are those tcp/tcb.h, cc/rtt.h and
// cc/congestion.h state, seen through TcpInfo: SND.UNA <= SND.MAX (a flight that wrapped
// below zero would be ~4 GB), RCV.NXT <= RCV.ADV, buffers within their sizes,
// min_rto <= RTO <= max_rto, SMSS <= cwnd <= 2^30, ssthresh >= 2 SMSS.
#include "tests/fuzz/engine/invariants.h"

#include <array>
#include <cstdio>
#include <vector>

#include "tests/fuzz/support/check.h"

namespace utcp::fuzz {
namespace {

using stack::tcp::State;

constexpr std::uint32_t kMaxScaledWindow = 0xffffu << 14;  // RFC 7323 §2.3
constexpr std::uint32_t kMaxCwnd = 1u << 30;
constexpr std::uint8_t kMaxWindowScale = 14;

void print_reports(const std::vector<se::SocketReport>& reports) {
  for (const se::SocketReport& r : reports) {
    std::fprintf(stderr, "  socket %u/%u %s%s %s:%u -> %s:%u state %s flight %u unsent %u unread %u\n",
                 r.id.index, r.id.generation, r.listener ? "listener" : "connection",
                 r.orphan ? " (orphan)" : "", r.local.addr.to_string().c_str(), r.local.port,
                 r.remote.addr.to_string().c_str(), r.remote.port, stack::tcp::to_string(r.info.state),
                 r.info.bytes_in_flight, r.info.unsent_bytes, r.info.unread_bytes);
  }
}

void check_info(const stack::tcp::TcpInfo& i, const Bounds& b, const stack::tcp::TcpConfig& t) {
  const char* st = stack::tcp::to_string(i.state);
  FUZZ_CHECK(i.state != State::kListen, "a connection in LISTEN\n");
  // SYN and FIN take one sequence number each beyond the buffered data.
  FUZZ_CHECK(i.bytes_in_flight <= b.sndbuf + 2, "%s: %u bytes in flight, sndbuf %u\n", st,
             i.bytes_in_flight, b.sndbuf);
  FUZZ_CHECK(i.unsent_bytes <= b.sndbuf, "%s: %u unsent, sndbuf %u\n", st, i.unsent_bytes, b.sndbuf);
  FUZZ_CHECK(i.unread_bytes <= b.rcvbuf, "%s: %u unread, rcvbuf %u\n", st, i.unread_bytes, b.rcvbuf);
  // The window we offered: never beyond the buffer (plus the rounding of one scale unit).
  FUZZ_CHECK(i.rcv_wnd <= b.rcvbuf + (1u << kMaxWindowScale), "%s: rcv_wnd %u, rcvbuf %u\n", st,
             i.rcv_wnd, b.rcvbuf);
  FUZZ_CHECK(i.ooo_ranges <= t.max_ooo_ranges, "%s: %u out-of-order ranges\n", st, i.ooo_ranges);
  FUZZ_CHECK(i.snd_wscale <= kMaxWindowScale && i.rcv_wscale <= kMaxWindowScale,
             "%s: window scales %u/%u\n", st, i.snd_wscale, i.rcv_wscale);
  FUZZ_CHECK(i.snd_wnd <= kMaxScaledWindow, "%s: snd_wnd %u\n", st, i.snd_wnd);
  FUZZ_CHECK(i.snd_mss >= 1 && i.snd_mss <= b.mss_max, "%s: snd_mss %u\n", st, i.snd_mss);
  FUZZ_CHECK(i.rto >= t.min_rto && i.rto <= t.max_rto, "%s: rto %lld us\n", st,
             static_cast<long long>(i.rto.count()));
  FUZZ_CHECK(i.cwnd_bytes >= i.snd_mss && i.cwnd_bytes <= kMaxCwnd, "%s: cwnd %u, smss %u\n", st,
             i.cwnd_bytes, i.snd_mss);
  FUZZ_CHECK(i.ssthresh_bytes >= 2 * i.snd_mss, "%s: ssthresh %u, smss %u\n", st,
             i.ssthresh_bytes, i.snd_mss);
  FUZZ_CHECK(i.bytes_acked <= i.bytes_sent, "%s: %llu bytes acked, %llu sent\n", st,
             static_cast<unsigned long long>(i.bytes_acked),
             static_cast<unsigned long long>(i.bytes_sent));
}

// What one application socket's TCP_INFO must say given what the application did.
void check_app_socket(const AppSocket& s, const stack::tcp::TcpInfo& i, const Bounds& b) {
  const char* st = stack::tcp::to_string(i.state);
  // Everything send() took is acknowledged or still in the send buffer.
  FUZZ_CHECK(i.bytes_acked <= s.sent && s.sent - i.bytes_acked <= b.sndbuf,
             "%s: app sent %llu, %llu acked, sndbuf %u\n", st, static_cast<unsigned long long>(s.sent),
             static_cast<unsigned long long>(i.bytes_acked), b.sndbuf);
  // Our FIN was acknowledged, so was every byte before it.
  if (i.state == State::kFinWait2 || i.state == State::kTimeWait) {
    FUZZ_CHECK(i.bytes_acked == s.sent, "%s: app sent %llu, only %llu acked\n", st,
               static_cast<unsigned long long>(s.sent),
               static_cast<unsigned long long>(i.bytes_acked));
  }
  // Everything received in order was read or is waiting to be.
  FUZZ_CHECK(i.bytes_received == s.read + i.unread_bytes,
             "%s: %llu bytes received, app read %llu, %u unread\n", st,
             static_cast<unsigned long long>(i.bytes_received),
             static_cast<unsigned long long>(s.read), i.unread_bytes);
}

}  // namespace

void check_engine(World& world, const Apps& apps, int e) {
  se::Engine& en = world.engine(e);
  const se::EngineCounters& c = en.counters();
  const std::vector<se::SocketReport> reports = en.report_sockets();
  std::array<std::uint64_t, se::kStateCount> by_state{};
  std::uint64_t listeners = 0, connections = 0, held_in_report = 0;
  std::uint64_t syn_queued = 0, accept_queued = 0, orphans = 0, orphans_syn_received = 0;
  for (std::size_t k = 0; k < reports.size(); ++k) {
    const se::SocketReport& r = reports[k];
    const bool held = apps.holds(e, r.id);
    if (r.orphan == held) print_reports(reports);
    FUZZ_CHECK(r.orphan != held, "engine %d: socket %u/%u orphan=%d, application holds it: %d\n",
               e, r.id.index, r.id.generation, r.orphan, held);
    held_in_report += held ? 1 : 0;
    if (r.listener) {
      ++listeners;
      syn_queued += r.syn_queue;
      accept_queued += r.accept_queue;
      // listen() again may lower the backlog below what is queued (as on Linux): the
      // bound is the largest backlog there can be.
      FUZZ_CHECK(r.accept_queue <= en.config().somaxconn + 1 && r.backlog <= en.config().somaxconn,
                 "accept queue %u, backlog %u\n", r.accept_queue, r.backlog);
      continue;
    }
    ++connections;
    ++by_state[static_cast<std::size_t>(r.info.state)];
    if (r.orphan) {
      ++orphans;
      if (r.info.state == State::kSynReceived) ++orphans_syn_received;
    }
    check_info(r.info, apps.bounds(), en.config().tcp);
    for (std::size_t j = 0; j < k; ++j) {
      FUZZ_CHECK(reports[j].listener || !(reports[j].local == r.local && reports[j].remote == r.remote),
                 "two connections on one four-tuple\n");
    }
  }
  FUZZ_CHECK(listeners == c.listeners, "engine %d: %llu listeners, gauge %llu\n", e,
             static_cast<unsigned long long>(listeners), static_cast<unsigned long long>(c.listeners));
  FUZZ_CHECK(connections == c.connections, "engine %d: %llu connections, flow table %llu\n", e,
             static_cast<unsigned long long>(connections),
             static_cast<unsigned long long>(c.connections));
  for (std::size_t s = 0; s < se::kStateCount; ++s) {
    FUZZ_CHECK(by_state[s] == c.connections_by_state[s], "engine %d: %llu in %s, gauge %llu\n", e,
               static_cast<unsigned long long>(by_state[s]),
               stack::tcp::to_string(static_cast<State>(s)),
               static_cast<unsigned long long>(c.connections_by_state[s]));
  }
  // Fresh sockets (not listening, not connected) are the application's and not reported.
  const std::uint64_t fresh = apps.held(e) - held_in_report;
  FUZZ_CHECK(c.sockets == reports.size() + fresh, "engine %d: socket gauge %llu, %zu reported + %llu fresh\n",
             e, static_cast<unsigned long long>(c.sockets), reports.size(),
             static_cast<unsigned long long>(fresh));
  FUZZ_CHECK(syn_queued <= orphans_syn_received && accept_queued <= orphans,
             "engine %d: %llu in SYN queues, %llu in accept queues, %llu orphans\n", e,
             static_cast<unsigned long long>(syn_queued), static_cast<unsigned long long>(accept_queued),
             static_cast<unsigned long long>(orphans));
  FUZZ_CHECK(c.buffers_held <= en.config().tx_hold + en.config().arp.max_pending_total,
             "engine %d: %llu buffers held\n", e, static_cast<unsigned long long>(c.buffers_held));
  apps.for_each(e, [&](const AppSocket& s) {
    const auto info = en.info(s.id);
    FUZZ_CHECK(info.ok(), "info() of a live id\n");
    check_app_socket(s, *info, apps.bounds());
  });
}

void check_all_released(World& world) {
  for (int e = 0; e < 2; ++e) {
    const se::EngineCounters& c = world.engine(e).counters();
    if (c.sockets != 0 || c.connections != 0 || c.listeners != 0 || c.buffers_held != 0) {
      print_reports(world.engine(e).report_sockets());
    }
    FUZZ_CHECK(c.sockets == 0 && c.connections == 0 && c.listeners == 0 && c.buffers_held == 0,
               "engine %d after closing everything: %llu sockets, %llu connections, %llu listeners, "
               "%llu buffers held\n",
               e, static_cast<unsigned long long>(c.sockets),
               static_cast<unsigned long long>(c.connections),
               static_cast<unsigned long long>(c.listeners),
               static_cast<unsigned long long>(c.buffers_held));
    for (std::size_t s = 0; s < se::kStateCount; ++s) {
      FUZZ_CHECK(c.connections_by_state[s] == 0, "engine %d: %llu left in %s\n", e,
                 static_cast<unsigned long long>(c.connections_by_state[s]),
                 stack::tcp::to_string(static_cast<State>(s)));
    }
  }
  FUZZ_CHECK(world.link().buffers_in_use() == 0, "%zu link buffers never came back\n",
             world.link().buffers_in_use());
}

}  // namespace utcp::fuzz
