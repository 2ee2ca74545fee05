// The TcpConnection test harness: recording sink, virtual time, fixtures per state.
#include "tests/stack/tcp/harness.h"

#include <sstream>

namespace utcp::stack::tcp::test {

bool RecordingSink::emit(const wire::FourTuple& tuple, const IpFields& ip, const wire::TcpRepr& repr,
                         std::span<const std::uint8_t> payload1,
                         std::span<const std::uint8_t> payload2) {
  if (fail) {
    return false;
  }
  Sent s{repr, {}, ip};
  s.payload.assign(payload1.begin(), payload1.end());
  s.payload.insert(s.payload.end(), payload2.begin(), payload2.end());
  sent.push_back(std::move(s));
  last_tuple = tuple;
  return true;
}

std::vector<std::uint8_t> bytes(std::string_view s) { return {s.begin(), s.end()}; }

std::vector<std::uint8_t> pattern(std::size_t n, std::uint32_t seed) {
  std::vector<std::uint8_t> v(n);
  for (std::size_t i = 0; i < n; ++i) {
    v[i] = static_cast<std::uint8_t>((i * 31 + seed * 7 + (i >> 8)) & 0xff);
  }
  return v;
}

Harness::Harness() {
  cfg.default_rcvbuf = 65535;  // window scale 0: windows read as plain numbers
  cfg.default_sndbuf = 64 * 1024;
  cfg.cc = cc::Algorithm::kNewReno;
  tuple.local = {wire::Ipv4Addr::from_octets(10, 0, 0, 1), 80};
  tuple.remote = {wire::Ipv4Addr::from_octets(10, 0, 0, 2), 49152};
  ctx.cfg = &cfg;
  ctx.sink = &sink;
  ctx.counters = &counters;
}

wire::TcpRepr Harness::seg() const {
  wire::TcpRepr r;
  r.src_port = tuple.remote.port;
  r.dst_port = tuple.local.port;
  r.seq = remote_seq;
  r.ack = local_seq;
  r.flags = flags::kAck;
  r.window = peer_window;
  if (ts_on) {
    r.options.timestamps = wire::TcpTimestamps{peer_tsval, last_tsval_seen};
  }
  return r;
}

void Harness::inject(const wire::TcpRepr& r, std::span<const std::uint8_t> payload) {
  conn->on_segment(r, payload, now);
}

void Harness::peer_send(std::span<const std::uint8_t> data, std::uint8_t extra_flags) {
  wire::TcpRepr s = seg();
  s.flags |= extra_flags;
  inject(s, data);
  remote_seq += static_cast<std::uint32_t>(data.size()) + ((extra_flags & flags::kFin) ? 1 : 0);
}

void Harness::peer_ack(SeqNum ack, std::uint16_t window) {
  local_seq = ack;
  wire::TcpRepr s = seg();
  s.window = window;
  inject(s);
}

wire::TcpRepr Harness::out() const {
  wire::TcpRepr r;
  r.src_port = tuple.local.port;
  r.dst_port = tuple.remote.port;
  r.seq = local_seq;
  r.ack = remote_seq;
  r.flags = flags::kAck;
  r.window = full_window;
  if (ts_on) {
    r.options.timestamps = wire::TcpTimestamps{our_tsval(), peer_tsval};
  }
  return r;
}

Sent Harness::pop() {
  REQUIRE_FALSE(sink.sent.empty());
  Sent s = std::move(sink.sent.front());
  sink.sent.pop_front();
  if (s.repr.options.timestamps) {
    last_tsval_seen = s.repr.options.timestamps->tsval;
  }
  return s;
}

void Harness::expect_sent(const wire::TcpRepr& r, std::span<const std::uint8_t> payload) {
  INFO("expected: " << Catch::StringMaker<wire::TcpRepr>::convert(r));
  REQUIRE_FALSE(sink.sent.empty());
  const Sent s = pop();
  CHECK(s.repr == r);
  CHECK(s.payload == std::vector<std::uint8_t>(payload.begin(), payload.end()));
}

void Harness::expect_nothing_sent() {
  if (!sink.sent.empty()) {
    FAIL("unexpected segment: " << Catch::StringMaker<wire::TcpRepr>::convert(sink.sent.front().repr)
                                << " payload " << sink.sent.front().payload.size());
  }
}

void Harness::advance(Duration d) {
  const Instant target = now + d;
  for (int guard = 0; guard < 1'000'000; ++guard) {
    const Instant dl = conn->next_deadline();
    if (dl > target) {
      now = target;
      return;
    }
    now = std::max(now, dl);
    conn->on_timer(now);
  }
  FAIL("timer does not advance");
}

void Harness::fire_next_timer() {
  const Instant dl = conn->next_deadline();
  REQUIRE(dl != kNever);
  now = std::max(now, dl);
  conn->on_timer(now);
}

std::size_t Harness::app_send(std::span<const std::uint8_t> data, bool more) {
  auto r = conn->send(data, more, now);
  REQUIRE(r.ok());
  return *r;
}

std::string Harness::app_recv_all() {
  std::string s;
  std::uint8_t buf[4096];
  for (;;) {
    auto r = conn->recv(buf, false, now);
    if (!r.ok() || *r == 0) {
      return s;
    }
    s.append(reinterpret_cast<const char*>(buf), *r);
  }
}

namespace {
wire::TcpOptions peer_syn_options(const PeerOptions& p, std::uint32_t tsval, std::uint32_t tsecr) {
  wire::TcpOptions o;
  o.mss = p.mss;
  o.window_scale = p.window_scale;
  o.sack_permitted = p.sack;
  if (p.timestamps) {
    o.timestamps = wire::TcpTimestamps{tsval, tsecr};
  }
  return o;
}
}  // namespace

void Harness::syn_sent() {
  ts_offset = local_iss.raw() * 0x9e3779b1u;
  conn = Connection::connect(ctx, opts, tuple, initial(), now);
  const Sent syn = pop();
  REQUIRE(syn.repr.flags == flags::kSyn);
  REQUIRE(syn.repr.seq == local_iss);
  REQUIRE(conn->state() == State::kSynSent);
  local_seq = local_iss + 1;
  remote_seq = remote_iss;
  conn->take_events();
}

void Harness::established_active() {
  syn_sent();
  wire::TcpRepr sa = seg();
  sa.flags = flags::kSyn | flags::kAck;
  sa.options = peer_syn_options(peer, peer_tsval, last_tsval_seen);
  ts_on = cfg.timestamps && peer.timestamps;
  sack_on = cfg.sack && peer.sack;
  inject(sa);
  remote_seq = remote_iss + 1;
  REQUIRE(conn->state() == State::kEstablished);
  const Sent ack = pop();
  REQUIRE(ack.repr.flags == flags::kAck);
  expect_nothing_sent();
  conn->take_events();
}

void Harness::syn_received() {
  ts_offset = local_iss.raw() * 0x9e3779b1u;
  wire::TcpRepr syn = seg();
  syn.seq = remote_iss;
  syn.ack = SeqNum(0);
  syn.flags = flags::kSyn;
  syn.options = peer_syn_options(peer, peer_tsval, 0);
  conn = Connection::accept_syn(ctx, opts, tuple, syn, initial(), now);
  ts_on = cfg.timestamps && peer.timestamps;
  sack_on = cfg.sack && peer.sack;
  const Sent sa = pop();
  REQUIRE(sa.repr.flags == (flags::kSyn | flags::kAck));
  REQUIRE(conn->state() == State::kSynReceived);
  local_seq = local_iss + 1;
  remote_seq = remote_iss + 1;
  conn->take_events();
}

void Harness::established() {
  syn_received();
  advance(handshake_rtt);
  inject(seg());
  REQUIRE(conn->state() == State::kEstablished);
  expect_nothing_sent();
  conn->take_events();
}

void Harness::fin_wait_1() {
  established();
  REQUIRE(conn->shutdown(false, true, now) == 0);
  wire::TcpRepr fin = out();
  fin.flags = flags::kAck | flags::kFin;
  expect_sent(fin);
  local_seq += 1;
  REQUIRE(conn->state() == State::kFinWait1);
  conn->take_events();
}

void Harness::fin_wait_2() {
  fin_wait_1();
  peer_ack(local_seq);
  REQUIRE(conn->state() == State::kFinWait2);
  expect_nothing_sent();
  conn->take_events();
}

void Harness::close_wait() {
  established();
  peer_send({}, flags::kFin);
  REQUIRE(conn->state() == State::kCloseWait);
  full_window -= 1;  // the FIN took a sequence number, the right edge stays
  expect_sent(out());
  conn->take_events();
}

void Harness::last_ack() {
  close_wait();
  REQUIRE(conn->shutdown(false, true, now) == 0);
  wire::TcpRepr fin = out();
  fin.flags = flags::kAck | flags::kFin;
  expect_sent(fin);
  local_seq += 1;
  REQUIRE(conn->state() == State::kLastAck);
  conn->take_events();
}

void Harness::closing() {
  fin_wait_1();
  wire::TcpRepr fin = seg();
  fin.ack = local_seq - 1;  // does not acknowledge our FIN yet
  fin.flags |= flags::kFin;
  inject(fin);
  remote_seq += 1;
  REQUIRE(conn->state() == State::kClosing);
  full_window -= 1;
  expect_sent(out());
  conn->take_events();
}

void Harness::time_wait() {
  fin_wait_2();
  peer_send({}, flags::kFin);
  REQUIRE(conn->state() == State::kTimeWait);
  full_window -= 1;
  expect_sent(out());
  conn->take_events();
}

}  // namespace utcp::stack::tcp::test

std::string Catch::StringMaker<utcp::stack::wire::TcpRepr>::convert(
    const utcp::stack::wire::TcpRepr& r) {
  namespace f = utcp::stack::wire::tcp_flags;
  std::ostringstream o;
  o << r.src_port << "->" << r.dst_port << " [";
  const char* names[] = {"FIN", "SYN", "RST", "PSH", "ACK", "URG", "ECE", "CWR"};
  bool first = true;
  for (int i = 0; i < 8; ++i) {
    if (r.flags & (1u << i)) {
      o << (first ? "" : "|") << names[i];
      first = false;
    }
  }
  o << "] seq=" << r.seq.raw() << " ack=" << r.ack.raw() << " win=" << r.window;
  const auto& op = r.options;
  if (op.mss) o << " mss=" << *op.mss;
  if (op.window_scale) o << " ws=" << int{*op.window_scale};
  if (op.sack_permitted) o << " sackok";
  if (op.timestamps) o << " ts=" << op.timestamps->tsval << "/" << op.timestamps->tsecr;
  for (int i = 0; i < op.sack_count; ++i) {
    o << " sack[" << op.sack[i].left.raw() << "," << op.sack[i].right.raw() << ")";
  }
  (void)f::kFin;
  return o.str();
}
