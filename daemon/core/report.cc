// `utcp stat` and `utcp ss` formats (read report.h first).
#include "daemon/core/report.h"

#include <algorithm>
#include <cstdio>
#include <map>

namespace utcp::daemon {
namespace {

using stack::tcp::State;

std::string endpoint(const stack::wire::Endpoint& e) {
  return e.addr.to_string() + ":" + (e.port == 0 ? std::string("*") : std::to_string(e.port));
}

std::string ms(stack::Duration d) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.3f", static_cast<double>(d.count()) / 1000.0);
  std::string s = buf;
  // ss prints "0.05", not "0.050": trailing zeros go, and a bare point too.
  while (s.back() == '0') s.pop_back();
  if (s.back() == '.') s.pop_back();
  return s;
}

// Send-Q as Linux reports it for a connection: bytes written and not yet acknowledged.
std::uint64_t send_queue(const stack::engine::SocketReport& r) {
  return std::uint64_t{r.info.unsent_bytes} + r.info.bytes_in_flight;
}

bool wanted(const stack::engine::SocketReport& r, SocketFilter f) {
  switch (f) {
    case SocketFilter::kConnections: return !r.listener;
    case SocketFilter::kListeners: return r.listener;
    case SocketFilter::kAll: return true;
  }
  return true;
}

void append(std::string& out, const char* fmt, auto... args) {
  char buf[512];
  const int n = std::snprintf(buf, sizeof buf, fmt, args...);
  if (n > 0) out.append(buf, static_cast<std::size_t>(std::min<int>(n, sizeof buf - 1)));
}

// The TCP details line of one connection (ss -i style; RTT and RTO in milliseconds,
// cwnd and ssthresh in segments).
std::string details(std::size_t engine, const stack::engine::SocketReport& r) {
  std::string out = "\t engine:" + std::to_string(engine);
  if (r.listener) {
    append(out, " syn_queue:%u", r.syn_queue);
    return out + (r.orphan ? " orphan" : "") + "\n";
  }
  const stack::tcp::TcpInfo& i = r.info;
  if (i.timestamps) out += " ts";
  if (i.sack) out += " sack";
  append(out, " wscale:%u,%u", unsigned{i.snd_wscale}, unsigned{i.rcv_wscale});
  out += " rto:" + ms(i.rto) + " rtt:" + ms(i.srtt) + "/" + ms(i.rttvar);
  const std::uint32_t mss = std::max<std::uint32_t>(i.snd_mss, 1);
  append(out, " mss:%u rcvmss:%u cwnd:%u", i.snd_mss, i.rcv_mss, i.cwnd_bytes / mss);
  // Linux leaves out an ssthresh that was never set (still "infinite").
  if (i.ssthresh_bytes < (1u << 30)) append(out, " ssthresh:%u", i.ssthresh_bytes / mss);
  append(out, " bytes_sent:%llu bytes_acked:%llu bytes_received:%llu segs_out:%llu segs_in:%llu",
         static_cast<unsigned long long>(i.bytes_sent),
         static_cast<unsigned long long>(i.bytes_acked),
         static_cast<unsigned long long>(i.bytes_received),
         static_cast<unsigned long long>(i.segs_out), static_cast<unsigned long long>(i.segs_in));
  append(out, " unacked:%u retrans:%u/%llu snd_wnd:%u rcv_wnd:%u", i.bytes_in_flight / mss,
         i.retransmits_current, static_cast<unsigned long long>(i.total_retransmits), i.snd_wnd,
         i.rcv_wnd);
  if (i.ooo_ranges != 0) append(out, " ooo_ranges:%u", i.ooo_ranges);
  return out + (r.orphan ? " orphan" : "") + "\n";
}

std::string json_socket(std::size_t engine, const stack::engine::SocketReport& r) {
  const stack::tcp::TcpInfo& i = r.info;
  std::string out;
  append(out, "{\"engine\":%zu,\"state\":\"%s\",\"local\":\"%s\",\"peer\":\"%s\",\"orphan\":%s",
         engine, ss_state_name(i.state), endpoint(r.local).c_str(), endpoint(r.remote).c_str(),
         r.orphan ? "true" : "false");
  if (r.listener) {
    append(out, ",\"accept_queue\":%u,\"syn_queue\":%u,\"backlog\":%u}", r.accept_queue,
           r.syn_queue, r.backlog);
    return out;
  }
  append(out, ",\"recv_q\":%u,\"send_q\":%llu,\"rtt_us\":%lld,\"rttvar_us\":%lld,\"rto_us\":%lld",
         i.unread_bytes, static_cast<unsigned long long>(send_queue(r)),
         static_cast<long long>(i.srtt.count()), static_cast<long long>(i.rttvar.count()),
         static_cast<long long>(i.rto.count()));
  append(out, ",\"mss\":%u,\"rcv_mss\":%u,\"cwnd_bytes\":%u,\"ssthresh_bytes\":%u", i.snd_mss,
         i.rcv_mss, i.cwnd_bytes, i.ssthresh_bytes);
  append(out, ",\"bytes_sent\":%llu,\"bytes_acked\":%llu,\"bytes_received\":%llu",
         static_cast<unsigned long long>(i.bytes_sent),
         static_cast<unsigned long long>(i.bytes_acked),
         static_cast<unsigned long long>(i.bytes_received));
  append(out, ",\"segs_out\":%llu,\"segs_in\":%llu,\"retransmits\":%u,\"total_retransmits\":%llu",
         static_cast<unsigned long long>(i.segs_out), static_cast<unsigned long long>(i.segs_in),
         i.retransmits_current, static_cast<unsigned long long>(i.total_retransmits));
  append(out, ",\"snd_wnd\":%u,\"rcv_wnd\":%u,\"timestamps\":%s,\"sack\":%s}", i.snd_wnd,
         i.rcv_wnd, i.timestamps ? "true" : "false", i.sack ? "true" : "false");
  return out;
}

}  // namespace

const char* ss_state_name(State s) {
  switch (s) {
    case State::kClosed: return "UNCONN";
    case State::kListen: return "LISTEN";
    case State::kSynSent: return "SYN-SENT";
    case State::kSynReceived: return "SYN-RECV";
    case State::kEstablished: return "ESTAB";
    case State::kFinWait1: return "FIN-WAIT-1";
    case State::kFinWait2: return "FIN-WAIT-2";
    case State::kCloseWait: return "CLOSE-WAIT";
    case State::kClosing: return "CLOSING";
    case State::kLastAck: return "LAST-ACK";
    case State::kTimeWait: return "TIME-WAIT";
  }
  return "?";
}

std::string format_stat(const Reports& reports, StatFormat f) {
  // Every counter name in the order the first answering engine lists them.
  std::vector<std::string> names;
  std::map<std::string, std::uint64_t> total;
  for (const auto& r : reports) {
    if (!r) continue;
    for (const CounterLine& line : r->counters) {
      if (total.emplace(line.name, 0).second) names.push_back(line.name);
      total[line.name] += line.value;
    }
  }
  const auto shown = [&](const std::string& name) { return f.all || total[name] != 0; };
  std::string out;
  if (f.json) {
    out = "{\"engines\":[";
    for (std::size_t e = 0; e < reports.size(); ++e) {
      if (e != 0) out += ',';
      append(out, "{\"engine\":%zu,\"answered\":%s", e, reports[e] ? "true" : "false");
      if (reports[e]) {
        out += ",\"counters\":{";
        bool first = true;
        for (const CounterLine& line : reports[e]->counters) {
          if (!shown(line.name)) continue;
          append(out, "%s\"%s\":%llu", first ? "" : ",", line.name.c_str(),
                 static_cast<unsigned long long>(line.value));
          first = false;
        }
        out += '}';
      }
      out += '}';
    }
    out += "],\"total\":{";
    bool first = true;
    for (const std::string& name : names) {
      if (!shown(name)) continue;
      append(out, "%s\"%s\":%llu", first ? "" : ",", name.c_str(),
             static_cast<unsigned long long>(total[name]));
      first = false;
    }
    return out + "}}\n";
  }
  std::size_t width = 7;  // "counter"
  for (const std::string& name : names) width = std::max(width, name.size());
  append(out, "%-*s", static_cast<int>(width), "counter");
  for (std::size_t e = 0; e < reports.size(); ++e) append(out, " %14s", ("engine " + std::to_string(e)).c_str());
  append(out, " %14s\n", "total");
  for (const std::string& name : names) {
    if (!shown(name)) continue;
    append(out, "%-*s", static_cast<int>(width), name.c_str());
    for (const auto& r : reports) {
      std::string cell = "-";
      if (r) {
        for (const CounterLine& line : r->counters) {
          if (line.name == name) cell = std::to_string(line.value);
        }
      }
      append(out, " %14s", cell.c_str());
    }
    append(out, " %14llu\n", static_cast<unsigned long long>(total[name]));
  }
  for (std::size_t e = 0; e < reports.size(); ++e) {
    if (!reports[e]) append(out, "engine %zu did not answer; its column is '-'\n", e);
  }
  return out;
}

std::string format_ss(const Reports& reports, SsFormat f) {
  std::string out;
  if (f.json) {
    out = "{\"sockets\":[";
    bool first = true;
    for (std::size_t e = 0; e < reports.size(); ++e) {
      if (!reports[e]) continue;
      for (const auto& r : reports[e]->sockets) {
        if (!wanted(r, f.filter)) continue;
        out += first ? "" : ",";
        out += json_socket(e, r);
        first = false;
      }
    }
    out += "],\"unanswered\":[";
    first = true;
    for (std::size_t e = 0; e < reports.size(); ++e) {
      if (reports[e]) continue;
      append(out, "%s%zu", first ? "" : ",", e);
      first = false;
    }
    return out + "]}\n";
  }
  append(out, "%-11s %7s %7s %-22s %-22s\n", "State", "Recv-Q", "Send-Q", "Local Address:Port",
         "Peer Address:Port");
  for (std::size_t e = 0; e < reports.size(); ++e) {
    if (!reports[e]) continue;
    for (const auto& r : reports[e]->sockets) {
      if (!wanted(r, f.filter)) continue;
      const std::uint64_t recv_q = r.listener ? r.accept_queue : r.info.unread_bytes;
      const std::uint64_t send_q = r.listener ? r.backlog : send_queue(r);
      append(out, "%-11s %7llu %7llu %-22s %-22s\n", ss_state_name(r.info.state),
             static_cast<unsigned long long>(recv_q), static_cast<unsigned long long>(send_q),
             endpoint(r.local).c_str(), r.listener ? "*:*" : endpoint(r.remote).c_str());
      out += details(e, r);
    }
  }
  for (std::size_t e = 0; e < reports.size(); ++e) {
    if (!reports[e]) append(out, "engine %zu did not answer: its sockets are missing\n", e);
  }
  return out;
}

}  // namespace utcp::daemon
