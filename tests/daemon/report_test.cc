// `utcp stat` and `utcp ss` formats (daemon/core/report.h): rows and columns, what is
// left out, engines that did not answer, ss's field conventions, JSON.
#include <catch2/catch.hpp>

#include "daemon/core/report.h"

namespace utcp::daemon {
namespace {

using stack::engine::SocketReport;
using stack::tcp::State;
using stack::wire::Ipv4Addr;

Reports two_engines() {
  Reports r(2);
  r[0] = EngineReport{{{"frames_in", 10}, {"frames_out", 0}, {"tcp_retransmits", 2}}, {}};
  r[1] = EngineReport{{{"frames_in", 5}, {"frames_out", 0}, {"tcp_retransmits", 0}}, {}};
  return r;
}

SocketReport connection(State st) {
  SocketReport s;
  s.local = {Ipv4Addr::from_octets(198, 18, 0, 2), 80};
  s.remote = {Ipv4Addr::from_octets(198, 18, 0, 1), 40000};
  s.info.state = st;
  s.info.snd_mss = 1448;
  s.info.rcv_mss = 536;
  s.info.cwnd_bytes = 10 * 1448;
  s.info.ssthresh_bytes = 0xffffffffu;  // never set
  s.info.srtt = std::chrono::microseconds(1250);
  s.info.rttvar = std::chrono::microseconds(625);
  s.info.rto = std::chrono::microseconds(201000);
  s.info.unread_bytes = 7;
  s.info.unsent_bytes = 100;
  s.info.bytes_in_flight = 2 * 1448;
  s.info.total_retransmits = 3;
  s.info.timestamps = true;
  return s;
}

SocketReport listener() {
  SocketReport s;
  s.listener = true;
  s.local = {Ipv4Addr{}, 80};
  s.info.state = State::kListen;
  s.accept_queue = 2;
  s.syn_queue = 1;
  s.backlog = 511;
  return s;
}

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

}  // namespace

TEST_CASE("utcp stat: a row per counter, a column per engine and the total", "[daemon][report]") {
  const std::string text = format_stat(two_engines(), {});
  CHECK(contains(text, "engine 0"));
  CHECK(contains(text, "engine 1"));
  CHECK(contains(text, "total"));
  CHECK(contains(text, "frames_in                   10              5             15\n"));
  CHECK(contains(text, "tcp_retransmits              2              0              2\n"));
  CHECK_FALSE(contains(text, "frames_out"));  // zero everywhere
  CHECK(contains(format_stat(two_engines(), {.all = true}), "frames_out"));
}

TEST_CASE("utcp stat: an engine that did not answer is marked, not counted", "[daemon][report]") {
  Reports r = two_engines();
  r[1].reset();
  const std::string text = format_stat(r, {});
  CHECK(contains(text, "frames_in                   10              -             10\n"));
  CHECK(contains(text, "engine 1 did not answer"));
  const std::string json = format_stat(r, {.json = true});
  CHECK(contains(json, "{\"engine\":1,\"answered\":false}"));
  CHECK(contains(json, "\"total\":{\"frames_in\":10,\"tcp_retransmits\":2}"));
}

TEST_CASE("utcp stat --json: per engine and total", "[daemon][report]") {
  CHECK(format_stat(two_engines(), {.json = true}) ==
        "{\"engines\":[{\"engine\":0,\"answered\":true,\"counters\":{\"frames_in\":10,"
        "\"tcp_retransmits\":2}},{\"engine\":1,\"answered\":true,\"counters\":{\"frames_in\":5,"
        "\"tcp_retransmits\":0}}],\"total\":{\"frames_in\":15,\"tcp_retransmits\":2}}\n");
}

TEST_CASE("utcp ss: connections like ss -tni, listeners on request", "[daemon][report]") {
  Reports r(2);
  r[0] = EngineReport{{}, {listener(), connection(State::kEstablished)}};
  r[1] = EngineReport{{}, {connection(State::kTimeWait)}};
  const std::string text = format_ss(r, {});
  CHECK(contains(text, "State        Recv-Q  Send-Q Local Address:Port     Peer Address:Port"));
  CHECK(contains(text, "ESTAB             7    2996 198.18.0.2:80          198.18.0.1:40000"));
  CHECK(contains(text, "TIME-WAIT"));
  CHECK_FALSE(contains(text, "LISTEN"));
  CHECK(contains(text, "\t engine:0 ts wscale:0,0 rto:201 rtt:1.25/0.625 mss:1448 rcvmss:536 "
                       "cwnd:10 bytes_sent:"));
  CHECK(contains(text, " unacked:2 retrans:0/3 "));
  CHECK_FALSE(contains(text, "ssthresh"));  // never set, as Linux leaves it out
  CHECK(contains(text, "\t engine:1 "));

  const std::string listening = format_ss(r, {.filter = SocketFilter::kListeners});
  CHECK(contains(listening, "LISTEN            2     511 0.0.0.0:80             *:*"));
  CHECK(contains(listening, "syn_queue:1"));
  CHECK_FALSE(contains(listening, "ESTAB"));
  const std::string all = format_ss(r, {.filter = SocketFilter::kAll});
  CHECK((contains(all, "LISTEN") && contains(all, "ESTAB") && contains(all, "TIME-WAIT")));
}

TEST_CASE("utcp ss --json: one object per socket, unanswered engines listed", "[daemon][report]") {
  Reports r(2);
  r[0] = EngineReport{{}, {connection(State::kSynSent)}};
  const std::string json = format_ss(r, {.json = true, .filter = SocketFilter::kAll});
  CHECK(contains(json, "{\"sockets\":[{\"engine\":0,\"state\":\"SYN-SENT\",\"local\":"
                       "\"198.18.0.2:80\",\"peer\":\"198.18.0.1:40000\",\"orphan\":false,"
                       "\"recv_q\":7,\"send_q\":2996,\"rtt_us\":1250,"));
  CHECK(contains(json, "\"unanswered\":[1]}"));
}

TEST_CASE("ss state names follow ss(8)", "[daemon][report]") {
  CHECK(std::string(ss_state_name(State::kSynReceived)) == "SYN-RECV");
  CHECK(std::string(ss_state_name(State::kFinWait2)) == "FIN-WAIT-2");
  CHECK(std::string(ss_state_name(State::kCloseWait)) == "CLOSE-WAIT");
  CHECK(std::string(ss_state_name(State::kClosed)) == "UNCONN");
}

}  // namespace utcp::daemon
