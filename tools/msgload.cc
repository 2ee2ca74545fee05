// utcp-msgload: a load generator and its server for the kernel-vs-utcp benchmarks:
// closed-loop request/response over many connections (mTCP's small-message test) or
// bulk streaming. It makes only plain POSIX socket and epoll calls (no io_uring, splice
// or zero-copy), so the same binary runs on the kernel stack or under libutcp.so.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <barrier>
#include <bit>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <memory>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <vector>

namespace {

constexpr int kBadUsage = 2;
constexpr std::size_t kChunk = 64 * 1024;  // every read buffer, and bulk's write size
constexpr std::size_t kHeaderSize = 16;     // "UTML", mode, 3 zeros, size (BE), 4 zeros
constexpr std::uint32_t kMaxSize = 16 * 1024 * 1024;
constexpr int kMaxThreads = 256;
constexpr int kMaxEvents = 256;
constexpr int kTickMs = 100;  // the longest epoll_wait, so a stop is seen within it
// Writes per wakeup for one bulk stream: under utcp the engine may drain the send
// buffer as fast as we fill it, and one stream must not starve the others.
constexpr int kBulkSendsPerWake = 16;

enum class Mode : unsigned char { kRr = 'r', kBulk = 'b' };

std::uint64_t now_ns() {
  timespec ts;
  ::clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<std::uint64_t>(ts.tv_sec) * 1'000'000'000u +
         static_cast<std::uint64_t>(ts.tv_nsec);
}

std::array<unsigned char, kHeaderSize> encode_header(Mode mode, std::uint32_t size) {
  std::array<unsigned char, kHeaderSize> h{};
  std::memcpy(h.data(), "UTML", 4);
  h[4] = static_cast<unsigned char>(mode);
  const std::uint32_t be = htonl(size);
  std::memcpy(h.data() + 8, &be, sizeof be);
  return h;
}

// False if the header is not ours or asks for an impossible rr size.
bool decode_header(const std::array<unsigned char, kHeaderSize>& h, Mode* mode,
                   std::uint32_t* size) {
  if (std::memcmp(h.data(), "UTML", 4) != 0) return false;
  std::uint32_t be;
  std::memcpy(&be, h.data() + 8, sizeof be);
  *size = ntohl(be);
  if (h[4] == static_cast<unsigned char>(Mode::kBulk)) {
    *mode = Mode::kBulk;
    return true;
  }
  *mode = Mode::kRr;
  return h[4] == static_cast<unsigned char>(Mode::kRr) && *size > 0 && *size <= kMaxSize;
}

// Interest is always EPOLLIN (data, EOF or an error); EPOLLOUT only while a write waits.
// Level-triggered, so a request costs one read and one write, with no EAGAIN read.
bool watch(int epfd, int op, int fd, std::uint64_t key, bool want_out) {
  epoll_event ev{};
  ev.events = EPOLLIN | (want_out ? static_cast<std::uint32_t>(EPOLLOUT) : 0u);
  ev.data.u64 = key;
  return ::epoll_ctl(epfd, op, fd, &ev) == 0;
}

// Log-linear latency histogram in HdrHistogram's layout: values below 2 * kSub ns are
// exact; above, each power of two splits into kSub buckets, so a bucket is at most
// 1/128 (0.8%) of its values wide. Values from 2^kTopBits ns (69 s) on clamp; one
// histogram per thread (30 KiB), merged at the end, instead of keeping samples.
class Histogram {
 public:
  void record(std::uint64_t ns) {
    ++buckets_[index(std::min(ns, (std::uint64_t{1} << kTopBits) - 1))];
    ++count_;
    max_ = std::max(max_, ns);
  }

  void merge(const Histogram& other) {
    for (std::size_t i = 0; i < kBuckets; ++i) buckets_[i] += other.buckets_[i];
    count_ += other.count_;
    max_ = std::max(max_, other.max_);
  }

  // The q-quantile in ns (the middle of its bucket), 0 without samples.
  std::uint64_t quantile(double q) const {
    if (count_ == 0) return 0;
    const auto rank = std::max<std::uint64_t>(
        1, static_cast<std::uint64_t>(std::ceil(q * static_cast<double>(count_))));
    std::uint64_t seen = 0;
    for (std::size_t i = 0; i < kBuckets; ++i) {
      seen += buckets_[i];
      if (seen >= rank) return std::min(middle(i), max_);
    }
    return max_;
  }

  std::uint64_t max() const { return max_; }

 private:
  static constexpr int kSubBits = 7;
  static constexpr int kTopBits = 36;
  static constexpr std::size_t kSub = std::size_t{1} << kSubBits;
  static constexpr std::size_t kBuckets = kSub * (kTopBits - kSubBits + 1);

  // Below 2 * kSub the index is the value; above, shift keeps the top kSubBits + 1 bits.
  static std::size_t index(std::uint64_t v) {
    if (v < 2 * kSub) return static_cast<std::size_t>(v);
    const int shift = std::bit_width(v) - 1 - kSubBits;
    return static_cast<std::size_t>(shift) * kSub + static_cast<std::size_t>(v >> shift);
  }

  static std::uint64_t middle(std::size_t i) {
    const std::size_t shift = i < 2 * kSub ? 0 : i / kSub - 1;
    const std::uint64_t lower = static_cast<std::uint64_t>(i - shift * kSub) << shift;
    return lower + ((std::uint64_t{1} << shift) >> 1);
  }

  std::vector<std::uint64_t> buckets_ = std::vector<std::uint64_t>(kBuckets);
  std::uint64_t count_ = 0;
  std::uint64_t max_ = 0;
};

// ---------------------------------------------------------------------------------
// Options

struct Options {
  bool server = false;
  sockaddr_in endpoint{};  // --listen (server) or --connect (client)
  bool has_endpoint = false;
  Mode mode = Mode::kRr;
  bool has_mode = false;
  int conns = 0;
  double duration = 0;
  double warmup = 0;
  std::uint32_t size = 64;
  int threads = 1;
};

void print_usage(std::FILE* out) {
  std::fputs(
      "usage: utcp-msgload server --listen IP:PORT [--threads N]\n"
      "       utcp-msgload client --connect IP:PORT --mode rr|bulk --conns C --duration SECONDS\n"
      "                           [--size BYTES] [--threads T] [--warmup SECONDS]\n"
      "Load generator and server over plain socket calls (kernel stack or libutcp.so).\n"
      "  server      one SO_REUSEPORT listener and epoll per thread (default 1); prints\n"
      "              \"ready\" once listening; SIGINT/SIGTERM stop it\n"
      "  --mode      rr: closed loop, one SIZE-byte request then response per connection\n"
      "              bulk: the server streams, the client counts bytes\n"
      "  --size      rr request and response size, 1-16777216 (default 64); bulk ignores it\n"
      "  --threads   client epoll threads (default 1), connections split among them\n"
      "  --duration  measured seconds, fractions allowed\n"
      "  --warmup    seconds not counted before the measured window (default 0)\n"
      "The client prints one JSON line (ops, bytes, rate, latency percentiles in us, errors)\n"
      "and exits 0 if it counted work and every connect succeeded, else 1.\n",
      out);
}

// Integers and doubles alike; NaN and infinities fail the range check.
template <class T>
bool parse_number(std::string_view s, T lo, T hi, T* out) {
  T v{};
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc{} || end != s.data() + s.size() || !(v >= lo && v <= hi)) return false;
  *out = v;
  return true;
}

// A.B.C.D:PORT, dotted IPv4 only: no resolver, so nothing outside the socket calls runs.
bool parse_endpoint(std::string_view s, sockaddr_in* sa) {
  const auto colon = s.rfind(':');
  if (colon == std::string_view::npos || colon >= INET_ADDRSTRLEN) return false;
  char ip[INET_ADDRSTRLEN] = {};
  s.copy(ip, colon);
  int port = 0;
  if (::inet_pton(AF_INET, ip, &sa->sin_addr) != 1 ||
      !parse_number(s.substr(colon + 1), 1, 65535, &port)) {
    return false;
  }
  sa->sin_family = AF_INET;
  sa->sin_port = htons(static_cast<std::uint16_t>(port));
  return true;
}

bool bad_value(std::string_view name, std::string_view value, const char* want) {
  std::fprintf(stderr, "utcp-msgload: bad %.*s '%.*s' (want %s)\n", static_cast<int>(name.size()),
               name.data(), static_cast<int>(value.size()), value.data(), want);
  return false;
}

// One "--name value" pair; false, after one line on stderr, if bad or not for this command.
bool set_option(Options* o, std::string_view name, std::string_view v) {
  if (name == (o->server ? "--listen" : "--connect")) {
    o->has_endpoint = true;
    return parse_endpoint(v, &o->endpoint) || bad_value(name, v, "A.B.C.D:PORT");
  }
  if (name == "--threads") {
    return parse_number(v, 1, kMaxThreads, &o->threads) || bad_value(name, v, "1-256");
  }
  if (!o->server && name == "--mode") {
    o->has_mode = true;
    o->mode = v == "bulk" ? Mode::kBulk : Mode::kRr;
    return v == "rr" || v == "bulk" || bad_value(name, v, "rr or bulk");
  }
  if (!o->server && name == "--conns") {
    return parse_number(v, 1, 1'000'000, &o->conns) || bad_value(name, v, "1-1000000");
  }
  if (!o->server && name == "--size") {
    return parse_number(v, std::uint32_t{1}, kMaxSize, &o->size) ||
           bad_value(name, v, "1-16777216");
  }
  if (!o->server && name == "--duration") {
    return parse_number(v, 1e-3, 1e6, &o->duration) || bad_value(name, v, "seconds, 0.001-1e6");
  }
  if (!o->server && name == "--warmup") {
    return parse_number(v, 0.0, 1e6, &o->warmup) || bad_value(name, v, "seconds, 0-1e6");
  }
  std::fprintf(stderr, "utcp-msgload: unknown option '%.*s'\n", static_cast<int>(name.size()),
               name.data());
  return false;
}

enum class Parsed : std::uint8_t { kOk, kBad, kHelp };

Parsed parse_args(int argc, char** argv, Options* o) {
  const std::string_view cmd = argc > 1 ? argv[1] : "";
  if (cmd == "--help" || cmd == "-h") return Parsed::kHelp;
  if (cmd != "server" && cmd != "client") {
    std::fprintf(stderr, "utcp-msgload: want 'server' or 'client', got '%s'\n",
                 argc > 1 ? argv[1] : "");
    return Parsed::kBad;
  }
  o->server = cmd == "server";
  for (int i = 2; i < argc; i += 2) {
    const std::string_view name = argv[i];
    if (name == "--help" || name == "-h") return Parsed::kHelp;
    if (i + 1 >= argc) {
      std::fprintf(stderr, "utcp-msgload: %s needs a value\n", argv[i]);
      return Parsed::kBad;
    }
    if (!set_option(o, name, argv[i + 1])) return Parsed::kBad;
  }
  const char* missing = !o->has_endpoint ? (o->server ? "--listen" : "--connect")
                        : o->server      ? nullptr
                        : !o->has_mode   ? "--mode"
                        : o->conns == 0  ? "--conns"
                        : o->duration == 0 ? "--duration"
                                           : nullptr;
  if (missing == nullptr) return Parsed::kOk;
  std::fprintf(stderr, "utcp-msgload: %s needs %s\n", o->server ? "server" : "client", missing);
  return Parsed::kBad;
}

// ---------------------------------------------------------------------------------
// Server

struct ServerConn {
  std::array<unsigned char, kHeaderSize> header{};
  std::size_t header_have = 0;
  bool started = false;  // header decoded: mode and size are valid
  Mode mode = Mode::kRr;
  std::uint32_t size = 0;
  std::uint64_t request_have = 0;  // rr: bytes of the current request received
  std::uint64_t out_left = 0;      // rr: response bytes not yet sent
  bool out_armed = false;          // EPOLLOUT is in the interest set
};

// One thread's listener, epoll and connections; epoll keys are fds.
class ServerLoop {
 public:
  explicit ServerLoop(const sockaddr_in& sa) {
    epfd_ = ::epoll_create1(EPOLL_CLOEXEC);
    listen_fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (epfd_ < 0 || listen_fd_ < 0) return;
    const int one = 1;
    ok_ = ::setsockopt(listen_fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) == 0 &&
          ::setsockopt(listen_fd_, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) == 0 &&
          ::bind(listen_fd_, reinterpret_cast<const sockaddr*>(&sa), sizeof sa) == 0 &&
          ::listen(listen_fd_, SOMAXCONN) == 0 &&
          watch(epfd_, EPOLL_CTL_ADD, listen_fd_, static_cast<std::uint64_t>(listen_fd_), false);
  }
  ~ServerLoop() {
    for (const auto& [fd, c] : conns_) ::close(fd);
    if (listen_fd_ >= 0) ::close(listen_fd_);
    if (epfd_ >= 0) ::close(epfd_);
  }
  ServerLoop(const ServerLoop&) = delete;
  ServerLoop& operator=(const ServerLoop&) = delete;

  bool ok() const { return ok_; }

  // Serves until `stop`; false if epoll itself failed.
  bool run(const std::atomic<bool>& stop) {
    std::array<epoll_event, kMaxEvents> events{};
    while (!stop.load(std::memory_order_relaxed)) {
      const int n = ::epoll_wait(epfd_, events.data(), kMaxEvents, kTickMs);
      if (n < 0 && errno != EINTR) return false;
      for (int i = 0; i < n; ++i) {
        const auto& ev = events[static_cast<std::size_t>(i)];
        const int fd = static_cast<int>(ev.data.u64);
        if (fd == listen_fd_) {
          accept_all();
        } else {
          on_event(fd, ev.events);
        }
      }
    }
    return true;
  }

 private:
  void accept_all() {
    for (;;) {
      const int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
      if (fd < 0) {
        if (errno == EINTR || errno == ECONNABORTED) continue;
        // The listener is level-triggered, so EMFILE and the like would repeat every
        // wakeup: say it once.
        if (errno != EAGAIN && !accept_error_shown_) {
          std::fprintf(stderr, "utcp-msgload: accept: %s (not shown again)\n",
                       std::strerror(errno));
          accept_error_shown_ = true;
        }
        return;
      }
      // A response is one write; Nagle would hold it behind the previous one's ACK.
      const int one = 1;
      ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
      if (!watch(epfd_, EPOLL_CTL_ADD, fd, static_cast<std::uint64_t>(fd), false)) {
        ::close(fd);
        continue;
      }
      conns_.emplace(fd, ServerConn{});
    }
  }

  void on_event(int fd, std::uint32_t events) {
    const auto it = conns_.find(fd);
    if (it == conns_.end()) return;
    ServerConn& c = it->second;
    bool ok = true;
    if (events & (EPOLLIN | EPOLLHUP | EPOLLERR)) ok = on_readable(fd, c);
    if (ok && (events & EPOLLOUT)) ok = flush(fd, c);
    if (ok) return;
    ::close(fd);  // also leaves the epoll set
    conns_.erase(it);
  }

  // One read per wakeup (level-triggered); false when the connection is over.
  bool on_readable(int fd, ServerConn& c) {
    const ssize_t n = ::recv(fd, rx_.data(), rx_.size(), 0);
    if (n < 0) return errno == EAGAIN || errno == EINTR;
    if (n == 0) return false;
    auto got = static_cast<std::size_t>(n);
    const unsigned char* p = rx_.data();
    if (!c.started) {
      const std::size_t take = std::min(got, kHeaderSize - c.header_have);
      std::memcpy(c.header.data() + c.header_have, p, take);
      c.header_have += take;
      got -= take;
      if (c.header_have < kHeaderSize) return true;
      if (!decode_header(c.header, &c.mode, &c.size)) return false;
      c.started = true;
      // Bulk writes whenever it can from here on; EPOLLIN stays only to see the EOF.
      if (c.mode == Mode::kBulk) return flush(fd, c);
    }
    if (c.mode == Mode::kBulk) return true;  // the client sends nothing after the header
    c.request_have += got;
    c.out_left += c.request_have / c.size * c.size;  // whole requests, however they arrived
    c.request_have %= c.size;
    return c.out_left == 0 || flush(fd, c);
  }

  // Writes what is owed (rr) or a bounded burst (bulk); arms EPOLLOUT on EAGAIN.
  bool flush(int fd, ServerConn& c) {
    if (!c.started) return true;
    const bool bulk = c.mode == Mode::kBulk;
    for (int sends = 0; bulk ? sends < kBulkSendsPerWake : c.out_left > 0; ++sends) {
      const std::size_t len =
          bulk ? kChunk : static_cast<std::size_t>(std::min<std::uint64_t>(c.out_left, kChunk));
      const ssize_t n = ::send(fd, tx_.data(), len, MSG_NOSIGNAL);
      if (n < 0) {
        if (errno == EINTR) continue;
        if (errno != EAGAIN) return false;
        return arm(fd, c, true);
      }
      if (!bulk) c.out_left -= static_cast<std::uint64_t>(n);
    }
    return arm(fd, c, bulk);
  }

  bool arm(int fd, ServerConn& c, bool out) {
    if (c.out_armed == out) return true;
    c.out_armed = out;
    return watch(epfd_, EPOLL_CTL_MOD, fd, static_cast<std::uint64_t>(fd), out);
  }

  int epfd_ = -1;
  int listen_fd_ = -1;
  bool ok_ = false;
  bool accept_error_shown_ = false;
  std::unordered_map<int, ServerConn> conns_;
  std::vector<unsigned char> rx_ = std::vector<unsigned char>(kChunk);
  std::vector<unsigned char> tx_ = std::vector<unsigned char>(kChunk, 'u');
};

int run_server(const Options& o) {
  // Stop signals are taken with sigtimedwait here; blocked before the workers start,
  // they are blocked there too, so no handler (and no global flag) is needed.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  ::pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  ::signal(SIGPIPE, SIG_IGN);

  std::vector<std::unique_ptr<ServerLoop>> loops;
  for (int i = 0; i < o.threads; ++i) {
    loops.push_back(std::make_unique<ServerLoop>(o.endpoint));
    if (!loops.back()->ok()) {
      const int err = errno;
      char addr[INET_ADDRSTRLEN] = {};
      ::inet_ntop(AF_INET, &o.endpoint.sin_addr, addr, sizeof addr);
      std::fprintf(stderr, "utcp-msgload: cannot listen on %s:%u: %s\n", addr,
                   ntohs(o.endpoint.sin_port), std::strerror(err));
      return 1;
    }
  }
  std::atomic<bool> stop{false};
  std::atomic<bool> failed{false};
  std::vector<std::thread> threads;
  for (auto& loop : loops) {
    threads.emplace_back([&stop, &failed, l = loop.get()] {
      if (l->run(stop)) return;
      std::fprintf(stderr, "utcp-msgload: epoll_wait: %s\n", std::strerror(errno));
      failed = true;
      stop = true;
    });
  }
  std::puts("ready");
  std::fflush(stdout);
  const timespec tick{0, kTickMs * 1'000'000L};
  while (!stop && ::sigtimedwait(&stop_signals, nullptr, &tick) < 0) {
  }
  stop = true;
  for (auto& t : threads) t.join();
  return failed ? 1 : 0;
}

// ---------------------------------------------------------------------------------
// Client

struct ClientConn {
  int fd = -1;
  std::uint64_t sent_ns = 0;  // rr: when the outstanding request started
  std::uint32_t to_send = 0;  // rr: request bytes not yet written
  std::uint32_t to_read = 0;  // rr: response bytes not yet read
  bool out_armed = false;
};

// The measured window [start_ns, end_ns): a completion counts if its time is inside.
struct Window {
  std::uint64_t start_ns = 0;
  std::uint64_t end_ns = 0;
  bool contains(std::uint64_t t) const { return t >= start_ns && t < end_ns; }
};

struct ClientStats {
  std::uint64_t ops = 0;
  std::uint64_t bytes = 0;
  std::uint64_t errors = 0;
  std::uint64_t connect_errors = 0;
  int first_connect_errno = 0;
  std::uint64_t stopped_ns = 0;  // when this thread stopped counting
  Histogram latency;
};

// One thread's connections and epoll; epoll keys are indices into conns_.
class ClientLoop {
 public:
  ClientLoop(const Options& o, int conns) : o_(o), conns_(static_cast<std::size_t>(conns)) {}
  ~ClientLoop() {
    for (auto& c : conns_) close_conn(c);
    if (epfd_ >= 0) ::close(epfd_);
  }
  ClientLoop(const ClientLoop&) = delete;
  ClientLoop& operator=(const ClientLoop&) = delete;

  // Before the window: blocking connects, each sending the header, then nonblocking.
  void connect_all() {
    epfd_ = ::epoll_create1(EPOLL_CLOEXEC);
    for (std::size_t i = 0; i < conns_.size(); ++i) {
      const int fd = epfd_ < 0 ? -1 : connect_one();
      if (fd < 0 || !watch(epfd_, EPOLL_CTL_ADD, fd, i, false)) {
        if (stats_.connect_errors++ == 0) stats_.first_connect_errno = errno;
        if (fd >= 0) ::close(fd);
        continue;
      }
      conns_[i].fd = fd;
      ++live_;
    }
  }

  // Runs until the window ends or no connection is left; returns when counting stopped.
  std::uint64_t run(const Window& w) {
    if (o_.mode == Mode::kRr) {
      for (auto& c : conns_) {
        if (c.fd >= 0 && !start_request(c, now_ns())) fail(c);
      }
    }
    std::array<epoll_event, kMaxEvents> events{};
    for (;;) {
      const std::uint64_t now = now_ns();
      if (now >= w.end_ns || live_ == 0) return std::min(now, w.end_ns);
      const std::uint64_t left_ms = (w.end_ns - now + 999'999) / 1'000'000;
      const int n = ::epoll_wait(epfd_, events.data(), kMaxEvents,
                                 static_cast<int>(std::min<std::uint64_t>(left_ms, kTickMs)));
      if (n < 0 && errno != EINTR) {
        std::fprintf(stderr, "utcp-msgload: epoll_wait: %s\n", std::strerror(errno));
        return std::min(now_ns(), w.end_ns);
      }
      for (int i = 0; i < n; ++i) {
        const auto& ev = events[static_cast<std::size_t>(i)];
        on_event(conns_[static_cast<std::size_t>(ev.data.u64)], ev.events, w);
      }
    }
  }

  ClientStats& stats() { return stats_; }

 private:
  int connect_one() const {
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return -1;
    // Requests are one write each; Nagle would hold one behind the last one's ACK.
    const int one = 1;
    const auto& sa = o_.endpoint;
    const auto header = encode_header(o_.mode, o_.size);
    // A blocking send of 16 bytes on a new connection is whole (no handler can cut it).
    const auto header_len = static_cast<ssize_t>(header.size());
    const bool ok = ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) == 0 &&
                    ::connect(fd, reinterpret_cast<const sockaddr*>(&sa), sizeof sa) == 0 &&
                    ::send(fd, header.data(), header.size(), MSG_NOSIGNAL) == header_len;
    const int flags = ok ? ::fcntl(fd, F_GETFL) : -1;
    if (flags < 0 || ::fcntl(fd, F_SETFL, flags | O_NONBLOCK) != 0) {
      const int saved = errno;
      ::close(fd);
      errno = saved;
      return -1;
    }
    return fd;
  }

  void on_event(ClientConn& c, std::uint32_t events, const Window& w) {
    if (c.fd < 0) return;  // failed earlier in this batch
    if ((events & EPOLLOUT) && !send_request(c)) return fail(c);
    if (!(events & (EPOLLIN | EPOLLHUP | EPOLLERR))) return;
    const bool rr = o_.mode == Mode::kRr;
    const std::size_t want = rr ? std::min<std::size_t>(c.to_read, kChunk) : kChunk;
    const ssize_t n = ::recv(c.fd, rx_.data(), want, 0);
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) return;
    if (n <= 0) return fail(c);  // EOF or reset: the server went away mid-run
    const std::uint64_t t = now_ns();
    if (!rr) {
      if (w.contains(t)) stats_.bytes += static_cast<std::uint64_t>(n);
      return;
    }
    c.to_read -= static_cast<std::uint32_t>(n);
    if (c.to_read > 0) return;
    if (w.contains(t)) {
      ++stats_.ops;
      stats_.bytes += o_.size;
      stats_.latency.record(t - c.sent_ns);
    }
    if (!start_request(c, t)) fail(c);
  }

  bool start_request(ClientConn& c, std::uint64_t now) {
    c.sent_ns = now;
    c.to_send = o_.size;
    c.to_read = o_.size;
    return send_request(c);
  }

  // Writes what is left of the request; arms EPOLLOUT on EAGAIN.
  bool send_request(ClientConn& c) {
    while (c.to_send > 0) {
      const std::size_t len = std::min<std::size_t>(c.to_send, kChunk);
      const ssize_t n = ::send(c.fd, tx_.data(), len, MSG_NOSIGNAL);
      if (n < 0) {
        if (errno == EINTR) continue;
        return errno == EAGAIN && arm(c, true);
      }
      c.to_send -= static_cast<std::uint32_t>(n);
    }
    return arm(c, false);
  }

  bool arm(ClientConn& c, bool out) {
    if (c.out_armed == out) return true;
    c.out_armed = out;
    return watch(epfd_, EPOLL_CTL_MOD, c.fd, static_cast<std::uint64_t>(&c - conns_.data()), out);
  }

  void fail(ClientConn& c) {
    ++stats_.errors;
    close_conn(c);
  }

  void close_conn(ClientConn& c) {
    if (c.fd < 0) return;
    ::close(c.fd);
    c.fd = -1;
    --live_;
  }

  const Options& o_;
  std::vector<ClientConn> conns_;
  int epfd_ = -1;
  std::size_t live_ = 0;
  ClientStats stats_;
  std::vector<unsigned char> rx_ = std::vector<unsigned char>(kChunk);
  std::vector<unsigned char> tx_ = std::vector<unsigned char>(kChunk, 'q');
};

void print_report(const Options& o, const ClientStats& s, const Window& w) {
  const bool rr = o.mode == Mode::kRr;
  // The window's real length: shorter than asked if every connection failed early.
  const std::uint64_t stop = std::clamp(s.stopped_ns, w.start_ns, w.end_ns);
  const double seconds = static_cast<double>(stop - w.start_ns) / 1e9;
  const double rate = seconds > 0 ? static_cast<double>(rr ? s.ops : s.bytes) / seconds : 0;
  const auto us = [&s](double q) { return static_cast<double>(s.latency.quantile(q)) / 1e3; };
  std::printf(
      "{\"mode\":\"%s\",\"conns\":%d,\"size\":%u,\"seconds\":%.4f,\"ops\":%llu,\"bytes\":%llu,"
      "\"rate\":%.1f,\"p50_us\":%.1f,\"p90_us\":%.1f,\"p99_us\":%.1f,\"p999_us\":%.1f,"
      "\"max_us\":%.1f,\"errors\":%llu,\"connect_errors\":%llu}\n",
      rr ? "rr" : "bulk", o.conns, o.size, seconds, static_cast<unsigned long long>(s.ops),
      static_cast<unsigned long long>(s.bytes), rate, us(0.5), us(0.9), us(0.99), us(0.999),
      static_cast<double>(s.latency.max()) / 1e3, static_cast<unsigned long long>(s.errors),
      static_cast<unsigned long long>(s.connect_errors));
  std::fflush(stdout);
}

int run_client(const Options& o) {
  ::signal(SIGPIPE, SIG_IGN);
  const int nthreads = std::min(o.threads, o.conns);
  std::vector<ClientStats> stats(static_cast<std::size_t>(nthreads));
  Window window;
  // Every connection is up before the window is placed; the last thread to arrive
  // sets it, before any thread is released.
  std::barrier connected(nthreads, [&window, &o]() noexcept {
    window.start_ns = now_ns() + static_cast<std::uint64_t>(o.warmup * 1e9);
    window.end_ns = window.start_ns + static_cast<std::uint64_t>(o.duration * 1e9);
  });
  std::vector<std::thread> threads;
  for (int i = 0; i < nthreads; ++i) {
    const int conns = o.conns / nthreads + (i < o.conns % nthreads ? 1 : 0);
    threads.emplace_back([&, i, conns] {
      ClientLoop loop(o, conns);
      loop.connect_all();
      connected.arrive_and_wait();
      loop.stats().stopped_ns = loop.run(window);
      stats[static_cast<std::size_t>(i)] = std::move(loop.stats());
    });
  }
  for (auto& t : threads) t.join();

  ClientStats total;
  for (const auto& s : stats) {
    total.ops += s.ops;
    total.bytes += s.bytes;
    total.errors += s.errors;
    if (total.connect_errors == 0) total.first_connect_errno = s.first_connect_errno;
    total.connect_errors += s.connect_errors;
    total.stopped_ns = std::max(total.stopped_ns, s.stopped_ns);
    total.latency.merge(s.latency);
  }
  print_report(o, total, window);
  if (total.errors > 0) {
    std::fprintf(stderr, "utcp-msgload: %llu connections failed during the run\n",
                 static_cast<unsigned long long>(total.errors));
  }
  if (total.connect_errors > 0) {
    std::fprintf(stderr, "utcp-msgload: %llu of %d connects failed (first: %s)\n",
                 static_cast<unsigned long long>(total.connect_errors), o.conns,
                 std::strerror(total.first_connect_errno));
    return 1;
  }
  if ((o.mode == Mode::kRr ? total.ops : total.bytes) == 0) {
    std::fprintf(stderr, "utcp-msgload: nothing completed in the measured window\n");
    return 1;
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  switch (parse_args(argc, argv, &o)) {
    case Parsed::kHelp:
      print_usage(stdout);
      return 0;
    case Parsed::kBad:
      print_usage(stderr);
      return kBadUsage;
    case Parsed::kOk:
      break;
  }
  return o.server ? run_server(o) : run_client(o);
}
