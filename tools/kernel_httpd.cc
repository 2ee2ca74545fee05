// utcp-kernel-httpd ADDR PORT: the kernel-socket twin of utcpd's --http service, for
// comparing that responder with the kernel by hand (docs/utcpd.md). It answers with the same parser and
// the same bytes (daemon/core/http.h) and mirrors daemon/core/services.cc's serve loop
// (flush, then read; close once out is sent after "close", an error status or EOF), so
// the A/B compares TCP stacks, not servers. One thread, one epoll, no globals: signals
// arrive through a signalfd. Prints "ready" once listening and counters at exit.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <charconv>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <string>
#include <string_view>
#include <unordered_map>

#include "daemon/core/http.h"

namespace {

using utcp::daemon::HttpParser;
using utcp::daemon::http_response;

constexpr int kBadUsage = 2;
constexpr std::size_t kReadChunk = 16 * 1024;
constexpr int kMaxEvents = 256;

struct Counters {
  std::uint64_t accepted = 0;
  std::uint64_t closed = 0;  // orderly: "close", error status, or the peer's EOF
  std::uint64_t errors = 0;  // reset or another socket error
  std::uint64_t http_requests = 0;
  std::uint64_t http_bad_requests = 0;
};

struct Conn {
  std::string out;               // response bytes not yet accepted by send()
  std::size_t out_at = 0;        // first unsent byte of out
  HttpParser http;
  bool peer_done = false;        // read EOF seen
  bool close_after_out = false;  // close once out is sent
};

enum class Outcome : std::uint8_t { kKeep, kDone, kFailed };

struct Endpoint {
  in_addr addr{};
  std::uint16_t port = 0;
};

bool parse_args(int argc, char** argv, Endpoint* ep) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: utcp-kernel-httpd ADDR PORT (IPv4 address, port 1-65535)\n");
    return false;
  }
  if (::inet_pton(AF_INET, argv[1], &ep->addr) != 1) {
    std::fprintf(stderr, "utcp-kernel-httpd: bad address '%s' (want A.B.C.D)\n", argv[1]);
    return false;
  }
  const std::string_view p = argv[2];
  unsigned long port = 0;
  const auto [end, ec] = std::from_chars(p.data(), p.data() + p.size(), port);
  if (ec != std::errc{} || end != p.data() + p.size() || port == 0 || port > 65535) {
    std::fprintf(stderr, "utcp-kernel-httpd: bad port '%s' (want 1-65535)\n", argv[2]);
    return false;
  }
  ep->port = static_cast<std::uint16_t>(port);
  return true;
}

int open_listener(const Endpoint& ep) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  const int one = 1;
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_addr = ep.addr;
  sa.sin_port = htons(ep.port);
  if (::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0 ||
      ::bind(fd, reinterpret_cast<const sockaddr*>(&sa), sizeof sa) != 0 ||
      ::listen(fd, SOMAXCONN) != 0) {
    const int saved = errno;
    ::close(fd);
    errno = saved;
    return -1;
  }
  return fd;
}

class Server {
 public:
  Server(int epfd, int listen_fd) : epfd_(epfd), listen_fd_(listen_fd) {}
  ~Server() {
    for (const auto& [fd, c] : conns_) ::close(fd);
  }
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  void accept_all() {
    for (;;) {
      const int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
      if (fd < 0) {
        if (errno == EINTR || errno == ECONNABORTED) continue;
        // EAGAIN: queue empty. Anything else (EMFILE, ...) is reported; the listener is
        // level-triggered, so the backlog is retried on the next wakeup.
        if (errno != EAGAIN) {
          std::fprintf(stderr, "utcp-kernel-httpd: accept: %s\n", std::strerror(errno));
        }
        return;
      }
      ++counters_.accepted;
      // Responses are one send() each; without this, Nagle could hold a response
      // behind an unacknowledged one when a client pipelines.
      const int one = 1;
      ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
      // Edge-triggered: one wakeup per arrival, and serve() runs until it would block.
      epoll_event ev{};
      ev.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;
      ev.data.fd = fd;
      if (::epoll_ctl(epfd_, EPOLL_CTL_ADD, fd, &ev) != 0) {
        std::fprintf(stderr, "utcp-kernel-httpd: epoll_ctl: %s\n", std::strerror(errno));
        ::close(fd);
        ++counters_.errors;
        continue;
      }
      // Data that arrived before the ADD still raises the first edge, so no serve here.
      conns_.emplace(fd, Conn{});
    }
  }

  void on_event(int fd, std::uint32_t events) {
    auto it = conns_.find(fd);
    if (it == conns_.end()) return;
    // EPOLLRDHUP/HUP: a FIN may sit behind the data, so read until EOF even after a
    // short read (serve() otherwise stops at a short read, see there).
    const bool hup = (events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR)) != 0;
    const Outcome o = serve(fd, it->second, hup);
    if (o == Outcome::kKeep) return;
    ::close(fd);  // also removes fd from the epoll set
    ++(o == Outcome::kDone ? counters_.closed : counters_.errors);
    conns_.erase(it);
  }

  const Counters& counters() const { return counters_; }
  std::size_t open_connections() const { return conns_.size(); }

 private:
  // The loop of Services::serve(): flush, then read, until the socket would block.
  Outcome serve(int fd, Conn& c, bool drain_to_eof) {
    for (;;) {
      if (!flush(fd, c)) return Outcome::kFailed;
      if (c.out_at < c.out.size()) return Outcome::kKeep;  // wait for EPOLLOUT
      if (c.close_after_out || c.peer_done) return Outcome::kDone;
      const ssize_t n = ::recv(fd, rx_.data(), rx_.size(), 0);
      if (n < 0) {
        if (errno == EINTR) continue;
        return errno == EAGAIN ? Outcome::kKeep : Outcome::kFailed;
      }
      if (n == 0) {
        c.peer_done = true;  // answer what is complete, then close (half-close aware)
        continue;
      }
      consume(c, std::string_view(rx_.data(), static_cast<std::size_t>(n)));
      // A short read emptied the receive queue; with EPOLLET any later segment raises a
      // new edge, so the recv() that would only return EAGAIN is skipped (as nginx
      // does). Answer now, then wait.
      if (static_cast<std::size_t>(n) < rx_.size() && !drain_to_eof) {
        if (!flush(fd, c)) return Outcome::kFailed;
        if (c.out_at == c.out.size() && c.close_after_out) return Outcome::kDone;
        return Outcome::kKeep;
      }
    }
  }

  static bool flush(int fd, Conn& c) {
    while (c.out_at < c.out.size()) {
      // MSG_NOSIGNAL: a peer that reset must not kill the server with SIGPIPE.
      const ssize_t n = ::send(fd, c.out.data() + c.out_at, c.out.size() - c.out_at, MSG_NOSIGNAL);
      if (n < 0) {
        if (errno == EINTR) continue;
        return errno == EAGAIN;
      }
      c.out_at += static_cast<std::size_t>(n);
    }
    c.out.clear();
    c.out_at = 0;
    return true;
  }

  // As Services::consume() for kHttp: answer every complete request in order; stop at
  // the first that ends the connection.
  void consume(Conn& c, std::string_view data) {
    c.http.feed(data);
    while (!c.close_after_out) {
      const auto req = c.http.next();
      if (!req) break;
      ++(req->status == 200 ? counters_.http_requests : counters_.http_bad_requests);
      c.out += http_response(*req);
      c.close_after_out = !req->keep_alive || req->status != 200;
    }
  }

  int epfd_;
  int listen_fd_;
  std::unordered_map<int, Conn> conns_;
  std::array<char, kReadChunk> rx_{};
  Counters counters_;
};

// "name value" lines, the names utcpd uses for the same counters where it has them.
void print_counters(const Counters& c, std::size_t open) {
  const auto line = [](const char* name, std::uint64_t v) {
    std::printf("%s %llu\n", name, static_cast<unsigned long long>(v));
  };
  line("svc_accepted", c.accepted);
  line("svc_closed", c.closed);
  line("svc_errors", c.errors);
  line("open_connections", open);
  line("svc_http_requests", c.http_requests);
  line("svc_http_bad_requests", c.http_bad_requests);
  std::fflush(stdout);
}

// Blocks SIGINT/SIGTERM and returns a signalfd for them (-1 on error).
int signal_fd() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  if (::sigprocmask(SIG_BLOCK, &set, nullptr) != 0) return -1;
  return ::signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
}

bool add_level_triggered(int epfd, int fd) {
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.fd = fd;
  return ::epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev) == 0;
}

int run(const Endpoint& ep) {
  const int sig_fd = signal_fd();
  const int epfd = ::epoll_create1(EPOLL_CLOEXEC);
  const int listen_fd = open_listener(ep);
  char addr[INET_ADDRSTRLEN] = {};
  ::inet_ntop(AF_INET, &ep.addr, addr, sizeof addr);
  if (sig_fd < 0 || epfd < 0 || listen_fd < 0 || !add_level_triggered(epfd, sig_fd) ||
      !add_level_triggered(epfd, listen_fd)) {
    std::fprintf(stderr, "utcp-kernel-httpd: cannot listen on %s:%u: %s\n", addr, ep.port,
                 std::strerror(errno));
    return 1;
  }
  std::printf("ready %s:%u\n", addr, ep.port);
  std::fflush(stdout);

  unsigned stop_signal = 0;
  {
    Server server(epfd, listen_fd);
    std::array<epoll_event, kMaxEvents> events{};
    while (stop_signal == 0) {
      const int n = ::epoll_wait(epfd, events.data(), kMaxEvents, -1);
      if (n < 0) {
        if (errno == EINTR) continue;
        std::fprintf(stderr, "utcp-kernel-httpd: epoll_wait: %s\n", std::strerror(errno));
        break;
      }
      for (int i = 0; i < n; ++i) {
        const int fd = events[static_cast<std::size_t>(i)].data.fd;
        if (fd == sig_fd) {
          signalfd_siginfo si{};
          if (::read(sig_fd, &si, sizeof si) == static_cast<ssize_t>(sizeof si)) {
            stop_signal = si.ssi_signo;
          }
        } else if (fd == listen_fd) {
          server.accept_all();
        } else {
          server.on_event(fd, events[static_cast<std::size_t>(i)].events);
        }
      }
    }
    if (stop_signal != 0) {
      std::fprintf(stderr, "utcp-kernel-httpd: signal %u: stopping\n", stop_signal);
    }
    print_counters(server.counters(), server.open_connections());
  }
  ::close(listen_fd);
  ::close(epfd);
  ::close(sig_fd);
  return stop_signal != 0 ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  Endpoint ep;
  if (!parse_args(argc, argv, &ep)) return kBadUsage;
  return run(ep);
}
