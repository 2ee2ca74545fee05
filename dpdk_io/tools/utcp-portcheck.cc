// utcp-portcheck: opens a port through dpdk_io (read dpdk_io/dpdk_port.h), prints its
// decisions, and runs a responder per engine: ARP and ICMP echo for --ip, a RST for any
// TCP segment (checking steering put it on its owner), and with --ping an echo client.
// Idle engines sleep on RX interrupts; SIGINT/SIGTERM stop it and print the counters.
#include <poll.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <stdexcept>
#include <string>
#include <vector>

#include "dpdk_io/dpdk_port.h"
#include "stack/rss/rss.h"
#include "stack/wire/arp.h"
#include "stack/wire/ethernet.h"
#include "stack/wire/frame.h"
#include "stack/wire/icmp.h"
#include "stack/wire/ipv4.h"
#include "stack/wire/tcp.h"

namespace {

using namespace utcp;
using stack::io::PacketBuf;
namespace wire = stack::wire;

constexpr int kSpinLoops = 64;        // empty polls before an engine sleeps
// A queue that cannot interrupt (memif, af_packet) is polled after sleeps that grow
// from 1 ms to 8 ms while idle: ~1000 wake-ups a second would cost a few percent of a
// CPU per engine doing nothing; the first frame after a long idle waits up to 8 ms.
constexpr int kPollSleepMinMs = 1;
constexpr int kPollSleepMaxMs = 8;
constexpr std::size_t kEchoData = 56;  // ping's default payload

struct Options {
  dpdk_io::EalOptions eal;
  dpdk_io::PortOptions port;
  wire::Ipv4Addr ip;
  int seconds = 0;  // 0: until a signal
  bool busy_poll = false;
  bool dry_run = false;
  wire::Ipv4Addr ping;
  int count = 5;
  int interval_ms = 200;
};

struct EngineStats {
  std::uint64_t arp_replies = 0, arp_learned = 0, echo_replies = 0, tcp_segments = 0;
  std::uint64_t tcp_rsts = 0, misrouted = 0, bad_checksum = 0, ignored = 0;
  std::uint64_t pings_sent = 0, pongs = 0, tx_failed = 0, sleeps = 0;
};

// Everything engines share; each engine writes only its own stats slot.
struct Shared {
  dpdk_io::Port* port = nullptr;
  Options opts;
  int stop_fd = -1;  // eventfd: readable once the engines must stop
  int done_fd = -1;  // eventfd: the pinger finished
  std::atomic<bool> stop{false};
  std::vector<EngineStats> stats;
};

std::int64_t now_us() {
  using namespace std::chrono;
  return duration_cast<microseconds>(steady_clock::now().time_since_epoch()).count();
}

// ------------------------------------------------------------------ responder

class Responder {
 public:
  Responder(Shared& sh, std::uint16_t engine)
      : sh_(sh), engine_(engine), io_(sh.port->queue(engine)), caps_(io_.capabilities()),
        st_(sh.stats[engine]) {}

  // True: pb now holds a reply to transmit; false: the caller frees pb.
  bool handle(PacketBuf* pb) {
    auto eth = wire::EthernetView::check(pb->bytes());
    if (!eth || (eth->dst() != caps_.mac && !eth->dst().is_broadcast())) return ignore();
    if (eth->ethertype() == wire::ethertype::kArp) return on_arp(pb, *eth);
    if (eth->ethertype() != wire::ethertype::kIpv4) return ignore();
    auto ipv = wire::Ipv4View::check(eth->payload());
    if (!ipv) return ignore();
    auto ip = wire::Ipv4Repr::parse(*ipv, !pb->rx_ip_checksum_ok);
    if (!ip) return bad();
    if (ip->dst != sh_.opts.ip) return ignore();
    if (ip->protocol == wire::ip_protocol::kIcmp) return on_icmp(pb, *eth, *ipv, *ip);
    if (ip->protocol == wire::ip_protocol::kTcp) return on_tcp(pb, *eth, *ipv, *ip);
    return ignore();
  }

  // The --ping client (engine 0): resolve, then send one echo per interval.
  // Returns the time of its next action (or -1 when it has none).
  std::int64_t ping_step(std::int64_t now, std::vector<PacketBuf*>& tx) {
    if (sh_.opts.ping.is_unspecified() || engine_ != 0 || ping_done_) return -1;
    if (now < next_ping_) return next_ping_;
    if (peer_mac_.is_zero()) {
      if (PacketBuf* pb = build_arp_request()) tx.push_back(pb);
      next_ping_ = now + 200'000;
    } else if (st_.pings_sent < static_cast<std::uint64_t>(sh_.opts.count)) {
      if (PacketBuf* pb = build_echo(static_cast<std::uint16_t>(st_.pings_sent))) {
        tx.push_back(pb);
        ++st_.pings_sent;
      }
      next_ping_ = now + sh_.opts.interval_ms * 1000;
      last_sent_ = now;
    }
    const bool all_back = st_.pongs >= static_cast<std::uint64_t>(sh_.opts.count);
    const bool gave_up = st_.pings_sent >= static_cast<std::uint64_t>(sh_.opts.count) &&
                         now > last_sent_ + 1'000'000;
    if (all_back || gave_up) {
      ping_done_ = true;
      const std::uint64_t one = 1;
      [[maybe_unused]] const ssize_t w = ::write(sh_.done_fd, &one, sizeof one);
      return -1;
    }
    return next_ping_;
  }

 private:
  bool ignore() {
    ++st_.ignored;
    return false;
  }
  bool bad() {
    ++st_.bad_checksum;
    return false;
  }

  bool on_arp(PacketBuf* pb, const wire::EthernetView& eth) {
    auto view = wire::ArpView::check(eth.payload());
    auto arp = view ? wire::ArpRepr::parse(*view) : std::nullopt;
    if (!arp) return ignore();
    if (!sh_.opts.ping.is_unspecified() && arp->sender_ip == sh_.opts.ping) {
      peer_mac_ = arp->sender_mac;
      ++st_.arp_learned;
    }
    if (arp->op != wire::ArpOp::kRequest || arp->target_ip != sh_.opts.ip) return ignore();
    const wire::ArpRepr reply{wire::ArpOp::kReply, caps_.mac, sh_.opts.ip, arp->sender_mac,
                              arp->sender_ip};
    finish_frame(pb, arp->sender_mac, wire::ethertype::kArp, wire::ArpRepr::kLen);
    reply.emit(pb->bytes().subspan(wire::kEthernetHeaderLen));
    ++st_.arp_replies;
    return true;
  }

  bool on_icmp(PacketBuf* pb, const wire::EthernetView& eth, const wire::Ipv4View& ipv,
               const wire::Ipv4Repr& ip) {
    auto view = wire::IcmpView::check(ipv.payload());
    auto icmp = view ? wire::IcmpRepr::parse(*view, true) : std::nullopt;
    if (!icmp) return bad();
    if (icmp->kind == wire::IcmpRepr::Kind::kEchoReply) {
      if (icmp->ident == ping_ident()) ++st_.pongs;
      return false;
    }
    if (icmp->kind != wire::IcmpRepr::Kind::kEchoRequest) return ignore();
    wire::IcmpRepr reply = *icmp;
    reply.kind = wire::IcmpRepr::Kind::kEchoReply;
    const wire::MacAddr to = eth.src();
    emit_ipv4(pb, to, ip.src, wire::ip_protocol::kIcmp, reply.len());
    reply.emit(pb->bytes().subspan(wire::kEthernetHeaderLen + wire::Ipv4Repr::kHeaderLen));
    ++st_.echo_replies;
    return true;
  }

  // RFC 9293 §3.10.7.1 (CLOSED): answer anything but a RST with a RST.
  bool on_tcp(PacketBuf* pb, const wire::EthernetView& eth, const wire::Ipv4View& ipv,
              const wire::Ipv4Repr& ip) {
    auto view = wire::TcpView::check(ipv.payload());
    if (!view) return bad();
    if (!pb->rx_l4_checksum_ok && !view->checksum_ok(ip.src, ip.dst)) return bad();
    auto seg = wire::parse_tcp(*view);
    if (!seg) return bad();
    ++st_.tcp_segments;
    const std::uint32_t h = stack::rss::hash_ipv4_tcp(sh_.port->rss_key(), ip.src, ip.dst,
                                                      seg->src_port, seg->dst_port);
    if (sh_.port->info().queues > 1 && sh_.port->reta().queue_for(h) != engine_) ++st_.misrouted;
    if (seg->has(wire::tcp_flags::kRst)) return false;
    wire::TcpRepr rst;
    rst.src_port = seg->dst_port;
    rst.dst_port = seg->src_port;
    std::uint32_t seg_len = static_cast<std::uint32_t>(view->payload().size());
    if (seg->has(wire::tcp_flags::kSyn)) ++seg_len;
    if (seg->has(wire::tcp_flags::kFin)) ++seg_len;
    if (seg->has(wire::tcp_flags::kAck)) {
      rst.seq = seg->ack;
      rst.flags = wire::tcp_flags::kRst;
    } else {
      rst.ack = seg->seq + seg_len;
      rst.flags = wire::tcp_flags::kRst | wire::tcp_flags::kAck;
    }
    wire::Ipv4Repr out_ip;
    out_ip.src = sh_.opts.ip;
    out_ip.dst = ip.src;
    const wire::FrameChecksums csum{caps_.tx_ip_checksum, caps_.tx_l4_checksum};
    const wire::MacAddr to = eth.src();
    const std::size_t len = wire::emit_tcp_frame({pb->data, pb->capacity}, caps_.mac, to, out_ip,
                                                 rst, {}, {}, csum);
    if (len == 0) return false;
    pb->len = static_cast<std::uint32_t>(len);
    pb->tx_ip_checksum = csum.ip_by_device;
    pb->tx_l4_checksum = csum.tcp_by_device;
    pb->l2_len = wire::kEthernetHeaderLen;
    pb->l3_len = wire::Ipv4Repr::kHeaderLen;
    pb->l4_len = static_cast<std::uint8_t>(rst.header_len());
    ++st_.tcp_rsts;
    return true;
  }

  // Ethernet header + length, padded to the Ethernet minimum.
  void finish_frame(PacketBuf* pb, const wire::MacAddr& to, std::uint16_t type, std::size_t l3_len) {
    const std::size_t len = std::max(wire::kEthernetHeaderLen + l3_len, wire::kEthernetMinFrameLen);
    std::memset(pb->data + wire::kEthernetHeaderLen + l3_len, 0,
                len - wire::kEthernetHeaderLen - l3_len);
    pb->len = static_cast<std::uint32_t>(len);
    wire::EthernetRepr{to, caps_.mac, type}.emit(pb->bytes());
  }

  void emit_ipv4(PacketBuf* pb, const wire::MacAddr& to, wire::Ipv4Addr dst, std::uint8_t proto,
                 std::size_t payload_len) {
    wire::Ipv4Repr ip;
    ip.src = sh_.opts.ip;
    ip.dst = dst;
    ip.protocol = proto;
    ip.ident = ++ip_ident_;
    ip.payload_len = static_cast<std::uint16_t>(payload_len);
    finish_frame(pb, to, wire::ethertype::kIpv4, ip.total_len());
    // The IPv4 header checksum goes through the device when it offers it: that path
    // is exercised here, as the stack will use it.
    ip.emit(pb->bytes().subspan(wire::kEthernetHeaderLen), !caps_.tx_ip_checksum);
    pb->tx_ip_checksum = caps_.tx_ip_checksum;
    pb->tx_l4_checksum = false;
    pb->l2_len = wire::kEthernetHeaderLen;
    pb->l3_len = wire::Ipv4Repr::kHeaderLen;
  }

  PacketBuf* build_arp_request() {
    PacketBuf* pb = io_.alloc();
    if (pb == nullptr) return nullptr;
    finish_frame(pb, wire::MacAddr::broadcast(), wire::ethertype::kArp, wire::ArpRepr::kLen);
    wire::ArpRepr{wire::ArpOp::kRequest, caps_.mac, sh_.opts.ip, wire::MacAddr{}, sh_.opts.ping}
        .emit(pb->bytes().subspan(wire::kEthernetHeaderLen));
    return pb;
  }

  PacketBuf* build_echo(std::uint16_t seq) {
    PacketBuf* pb = io_.alloc();
    if (pb == nullptr) return nullptr;
    std::array<std::uint8_t, kEchoData> data{};
    for (std::size_t i = 0; i < data.size(); ++i) data[i] = static_cast<std::uint8_t>(i);
    wire::IcmpRepr echo;
    echo.kind = wire::IcmpRepr::Kind::kEchoRequest;
    echo.ident = ping_ident();
    echo.seq_no = seq;
    echo.data = data;
    emit_ipv4(pb, peer_mac_, sh_.opts.ping, wire::ip_protocol::kIcmp, echo.len());
    echo.emit(pb->bytes().subspan(wire::kEthernetHeaderLen + wire::Ipv4Repr::kHeaderLen));
    return pb;
  }

  static std::uint16_t ping_ident() { return static_cast<std::uint16_t>(::getpid()); }

  Shared& sh_;
  std::uint16_t engine_;
  stack::io::PacketIo& io_;
  const stack::io::IoCapabilities& caps_;
  EngineStats& st_;
  wire::MacAddr peer_mac_;
  std::uint16_t ip_ident_ = 0;
  std::int64_t next_ping_ = 0;
  std::int64_t last_sent_ = 0;
  bool ping_done_ = false;
};

// ------------------------------------------------------------------ engine loop

void transmit(stack::io::PacketIo& io, std::vector<PacketBuf*>& tx, EngineStats& st) {
  std::size_t sent = 0;
  // A full TX queue drains in microseconds; a few retries, then what is left is lost
  // like on a congested wire (and freed, never leaked).
  for (int tries = 0; tries < 4 && sent < tx.size(); ++tries) {
    sent += io.tx_burst(std::span<PacketBuf* const>(tx).subspan(sent), stack::instant_from_us(now_us()));
  }
  for (std::size_t i = sent; i < tx.size(); ++i) io.free(tx[i]);
  st.tx_failed += tx.size() - sent;
  tx.clear();
}

void engine_main(Shared& sh, std::uint16_t engine) {
  dpdk_io::Port& port = *sh.port;
  stack::io::PacketIo& io = port.queue(engine);
  Responder responder(sh, engine);
  EngineStats& st = sh.stats[engine];
  const bool interrupts = port.info().engines[engine].rx_interrupt;

  const int ep = ::epoll_create1(EPOLL_CLOEXEC);
  epoll_event ev{};
  ev.events = EPOLLIN;
  ::epoll_ctl(ep, EPOLL_CTL_ADD, port.wakeup_fd(engine), &ev);
  ::epoll_ctl(ep, EPOLL_CTL_ADD, sh.stop_fd, &ev);

  std::array<PacketBuf*, 32> rx{};
  std::vector<PacketBuf*> tx;
  tx.reserve(rx.size() + 1);
  int idle = 0;
  int poll_sleep_ms = kPollSleepMinMs;
  while (!sh.stop.load(std::memory_order_relaxed)) {
    const std::int64_t now = now_us();
    const std::size_t n = io.rx_burst(rx, stack::instant_from_us(now));
    for (std::size_t i = 0; i < n; ++i) {
      if (responder.handle(rx[i])) {
        tx.push_back(rx[i]);
      } else {
        io.free(rx[i]);
      }
    }
    const std::int64_t next = responder.ping_step(now, tx);
    const bool worked = n > 0 || !tx.empty();
    if (!tx.empty()) transmit(io, tx, st);
    if (worked) poll_sleep_ms = kPollSleepMinMs;
    if (worked || sh.opts.busy_poll || ++idle < kSpinLoops) {
      if (worked) idle = 0;
      continue;
    }
    idle = 0;
    int timeout_ms = next < 0 ? -1 : static_cast<int>((std::max<std::int64_t>(next - now, 0) + 999) / 1000);
    if (!interrupts) {
      timeout_ms = timeout_ms < 0 ? poll_sleep_ms : std::min(timeout_ms, poll_sleep_ms);
      poll_sleep_ms = std::min(poll_sleep_ms * 2, kPollSleepMaxMs);
    }
    if (port.prepare_sleep(engine)) {
      std::array<epoll_event, 4> evs{};
      ::epoll_wait(ep, evs.data(), static_cast<int>(evs.size()), timeout_ms);
      ++st.sleeps;
    }
    port.finish_sleep(engine);
  }
  ::close(ep);
}

// ------------------------------------------------------------------ command line

bool parse_cores(const std::string& text, std::vector<unsigned>* out) {
  std::size_t at = 0;
  while (at < text.size()) {
    std::size_t end = text.find(',', at);
    if (end == std::string::npos) end = text.size();
    const std::string part = text.substr(at, end - at);
    char* rest = nullptr;
    const unsigned long lo = std::strtoul(part.c_str(), &rest, 10);
    unsigned long hi = lo;
    if (rest == part.c_str()) return false;
    if (*rest == '-') hi = std::strtoul(rest + 1, &rest, 10);
    if (*rest != '\0' || hi < lo || hi > 1023) return false;
    for (unsigned long c = lo; c <= hi; ++c) out->push_back(static_cast<unsigned>(c));
    at = end + 1;
  }
  return !out->empty();
}

int usage(const char* why) {
  std::fprintf(stderr,
               "utcp-portcheck: %s\n"
               "usage: utcp-portcheck --dev DEVARGS --ip A.B.C.D [--cores LIST] [--queues N]\n"
               "         [--file-prefix P] [--seconds N] [--huge|--no-huge] [--memory-mb N]\n"
               "         [--mtu N] [--no-offloads] [--no-interrupts] [--busy-poll]\n"
               "         [--ping A.B.C.D [--count N] [--interval-ms N]] [--log-level L] [--dry-run]\n",
               why);
  return 2;
}

bool parse_args(int argc, char** argv, Options* o, std::string* why) {
  bool have_ip = false, have_queues = false;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) throw std::invalid_argument(a + " needs a value");
      return argv[++i];
    };
    try {
      if (a == "--dev") o->eal.devargs = value();
      else if (a == "--ip") { if (!(have_ip = wire::Ipv4Addr::parse(value(), o->ip))) { *why = "bad --ip"; return false; } }
      else if (a == "--cores") { if (!parse_cores(value(), &o->eal.cores)) { *why = "bad --cores"; return false; } }
      else if (a == "--queues") { o->port.queues = static_cast<std::uint16_t>(std::stoul(value())); have_queues = true; }
      else if (a == "--file-prefix") o->eal.file_prefix = value();
      else if (a == "--seconds") o->seconds = std::stoi(value());
      else if (a == "--huge") o->eal.hugepages = true;
      else if (a == "--no-huge") o->eal.hugepages = false;
      else if (a == "--memory-mb") o->eal.memory_mb = static_cast<unsigned>(std::stoul(value()));
      else if (a == "--mtu") {
        const unsigned long mtu = std::stoul(value());
        if (mtu > UINT16_MAX) { *why = "bad --mtu"; return false; }
        o->port.mtu = static_cast<std::uint16_t>(mtu);
      }
      else if (a == "--no-offloads") o->port.offloads = false;
      else if (a == "--no-interrupts") o->port.rx_interrupts = false;
      else if (a == "--busy-poll") o->busy_poll = true;
      else if (a == "--ping") { if (!wire::Ipv4Addr::parse(value(), o->ping)) { *why = "bad --ping"; return false; } }
      else if (a == "--count") o->count = std::stoi(value());
      else if (a == "--interval-ms") o->interval_ms = std::stoi(value());
      else if (a == "--log-level") o->eal.log_levels.emplace_back(value());
      else if (a == "--dry-run") o->dry_run = true;
      else { *why = "unknown argument " + a; return false; }
    } catch (const std::exception& e) {
      *why = e.what();
      return false;
    }
  }
  if (o->eal.devargs.empty()) *why = "--dev is required";
  else if (!have_ip) *why = "--ip is required";
  if (!have_queues && !o->eal.cores.empty()) {
    o->port.queues = static_cast<std::uint16_t>(o->eal.cores.size());
  }
  return why->empty();
}

void print_counters(const Shared& sh) {
  EngineStats total;
  for (std::uint16_t e = 0; e < sh.stats.size(); ++e) {
    const EngineStats& s = sh.stats[e];
    std::printf("engine %u queue: %s\n", e, dpdk_io::to_string(sh.port->counters(e)).c_str());
    std::printf("engine %u responder: arp-replies %llu, echo-replies %llu, tcp %llu, rst %llu, "
                "misrouted %llu, bad %llu, ignored %llu, sleeps %llu, tx-failed %llu\n",
                e, static_cast<unsigned long long>(s.arp_replies),
                static_cast<unsigned long long>(s.echo_replies),
                static_cast<unsigned long long>(s.tcp_segments),
                static_cast<unsigned long long>(s.tcp_rsts),
                static_cast<unsigned long long>(s.misrouted),
                static_cast<unsigned long long>(s.bad_checksum),
                static_cast<unsigned long long>(s.ignored), static_cast<unsigned long long>(s.sleeps),
                static_cast<unsigned long long>(s.tx_failed));
    total.echo_replies += s.echo_replies;
    total.arp_replies += s.arp_replies;
    total.tcp_segments += s.tcp_segments;
    total.misrouted += s.misrouted;
    total.pings_sent += s.pings_sent;
    total.pongs += s.pongs;
  }
  std::printf("device: %s\n", dpdk_io::to_string(sh.port->device_stats()).c_str());
  std::printf("total: arp-replies %llu echo-replies %llu tcp %llu misrouted %llu\n",
              static_cast<unsigned long long>(total.arp_replies),
              static_cast<unsigned long long>(total.echo_replies),
              static_cast<unsigned long long>(total.tcp_segments),
              static_cast<unsigned long long>(total.misrouted));
  if (!sh.opts.ping.is_unspecified()) {
    std::printf("ping: sent %llu received %llu\n", static_cast<unsigned long long>(total.pings_sent),
                static_cast<unsigned long long>(total.pongs));
  }
  std::fflush(stdout);
}

}  // namespace

int main(int argc, char** argv) {
  Shared sh;
  std::string why;
  if (!parse_args(argc, argv, &sh.opts, &why)) return usage(why.c_str());
  if (sh.opts.dry_run) {
    auto args = dpdk_io::Port::eal_arguments(sh.opts.eal, &why, &why);
    if (!args) return usage(why.c_str());
    std::printf("memory: %s\neal:", why.c_str());
    for (const auto& a : *args) std::printf(" %s", a.c_str());
    std::printf("\n");
    return 0;
  }

  // Block the stop signals before EAL creates its threads, so all of them inherit the
  // mask and only the signalfd below sees SIGINT/SIGTERM.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  const int sig_fd = ::signalfd(-1, &stop_signals, SFD_CLOEXEC);

  std::string error;
  std::unique_ptr<dpdk_io::Port> port = dpdk_io::Port::open(sh.opts.eal, sh.opts.port, &error);
  if (!port) {
    std::fprintf(stderr, "utcp-portcheck: %s\n", error.c_str());
    return 1;
  }
  std::printf("%s\n", dpdk_io::to_string(port->info()).c_str());
  std::fflush(stdout);
  sh.port = port.get();
  sh.stats.resize(port->info().queues);
  sh.stop_fd = ::eventfd(0, EFD_CLOEXEC);
  sh.done_fd = ::eventfd(0, EFD_CLOEXEC);
  if (!port->start_engines([&sh](std::uint16_t e) { engine_main(sh, e); }, &error)) {
    std::fprintf(stderr, "utcp-portcheck: %s\n", error.c_str());
    return 1;
  }
  std::printf("ready\n");
  std::fflush(stdout);

  const std::int64_t deadline = sh.opts.seconds > 0 ? now_us() + sh.opts.seconds * 1'000'000LL : -1;
  int rc = 0;
  for (;;) {
    std::array<pollfd, 2> fds{{{sig_fd, POLLIN, 0}, {sh.done_fd, POLLIN, 0}}};
    ::poll(fds.data(), fds.size(), 1000);
    port->link_up();
    if (fds[0].revents != 0) {
      signalfd_siginfo si{};
      [[maybe_unused]] const ssize_t r = ::read(sig_fd, &si, sizeof si);
      std::printf("signal %u: stopping\n", si.ssi_signo);
      break;
    }
    if (fds[1].revents != 0) break;
    if (deadline >= 0 && now_us() >= deadline) break;
  }
  sh.stop.store(true, std::memory_order_relaxed);
  const std::uint64_t one = 1;
  [[maybe_unused]] const ssize_t w = ::write(sh.stop_fd, &one, sizeof one);
  port->wait_engines();
  print_counters(sh);
  if (!sh.opts.ping.is_unspecified() && sh.stats[0].pongs < static_cast<std::uint64_t>(sh.opts.count)) {
    rc = 3;
  }
  port->close();
  ::close(sh.stop_fd);
  ::close(sh.done_fd);
  ::close(sig_fd);
  return rc;
}
