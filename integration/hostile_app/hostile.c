// A hostile app for integration/hostile_app_test.sh (issue 6): it runs under
// libutcp.so, opens utcp sockets so that its region and channel are live, then finds
// the region libutcp mapped (/proc/self/maps, "memfd:utcp-region") and writes garbage
// into it in rounds, each followed by a kick (every eventfd it holds: the engines'
// doorbells and its own wake fds; now and then a guarded libutcp call).
//
// Phase A (the first half) keeps ring indices consistent, so the garbage reaches
// utcpd's command checks: bogus ops, slots, generations and arguments (the victim's
// port among them); socket blocks, channel blocks, flags and the header with
// impossible values; byte-stream indices beyond capacity or backwards, garbage stream
// data; attempts to resize or seal the memfd; a forked child that joins the family,
// queues no-reply garbage and dies (utcpd runs a dead channel's no-reply commands).
// Phase B adds ring indices out of range or going backwards, holes punched in the
// memfd, random bytes over everything (header, flags, channels, rings, the first
// socket slots) and libutcp calls on the broken channel. The layout is computed as
// shim/protocol.cc does and checked against the memfd's size, so a layout change
// fails loudly instead of silently attacking the wrong bytes.
//
// Usage: hostile ECHO_IP ECHO_PORT LISTEN_IP LISTEN_PORT VICTIM_PORT SECONDS SEED
// Prints "attacking" once the region is found, then a "figures ..." line every second
// and at the end (the test may kill it at any moment: the last line counts).
// Its own libutcp calls may hang once its channel is poisoned: each is under alarm().
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

// --- shim/protocol.h, as C (checked against the memfd size in find_region) ---
#define REGION_MAGIC 0x70637475u
#define HEADER_BYTES 64u
#define SLEEP_FLAG_BYTES 64u
#define CHANNEL_BYTES 128u    // SleepFlag app_asleep; event_overflow at +64
#define SOCKET_BLOCK_BYTES 64u
#define RING_CONTROL_BYTES 128u  // head at +0, tail at +64
#define COMMAND_BYTES 64u
#define REPLY_BYTES 136u
#define EVENT_BYTES 8u
#define MAX_OP 14

struct geometry {
  uint32_t engines, channels, sockets, command_capacity, reply_capacity, event_capacity,
      stream_capacity;
};

struct command {  // shim::Command
  uint32_t tag;
  uint16_t op, flags;
  uint32_t slot, generation;
  int32_t a, b;
  uint32_t ip;
  uint16_t port, pad2;
  int64_t value, value2;
  uint8_t reserved[16];
};
_Static_assert(sizeof(struct command) == COMMAND_BYTES, "shim::Command is 64 bytes");

static size_t align64(size_t n) { return (n + 63) & ~(size_t)63; }

struct layout {
  struct geometry g;
  size_t flags, channels, rings, sockets, total;
  size_t cmd_bytes, reply_bytes, event_bytes, pair_bytes, stream_bytes, socket_bytes;
};

static void compute_layout(struct layout* l) {
  const struct geometry* g = &l->g;
  size_t at = align64(HEADER_BYTES);
  l->flags = at;
  at += align64((size_t)g->engines * SLEEP_FLAG_BYTES);
  l->channels = at;
  at += align64((size_t)g->channels * CHANNEL_BYTES);
  l->cmd_bytes = align64(RING_CONTROL_BYTES + (size_t)g->command_capacity * COMMAND_BYTES);
  l->reply_bytes = align64(RING_CONTROL_BYTES + (size_t)g->reply_capacity * REPLY_BYTES);
  l->event_bytes = align64(RING_CONTROL_BYTES + (size_t)g->event_capacity * EVENT_BYTES);
  l->pair_bytes = l->cmd_bytes + l->reply_bytes + l->event_bytes;
  l->rings = at;
  at += (size_t)g->channels * g->engines * l->pair_bytes;
  at = (at + 4095) & ~(size_t)4095;
  l->sockets = at;
  l->stream_bytes = align64(RING_CONTROL_BYTES + g->stream_capacity);
  l->socket_bytes = align64(SOCKET_BLOCK_BYTES) + 2 * l->stream_bytes;
  l->total = (l->sockets + (size_t)g->sockets * l->socket_bytes + 4095) & ~(size_t)4095;
}

static struct layout L;
static uint8_t* base;
static int memfd = -1;
static size_t attack_end;  // garbage stays below: header .. the first kSlots socket slots
static uint32_t my_channel;
enum { kSlots = 64 };

static size_t cmd_ring(uint32_t c, uint32_t e) { return L.rings + ((size_t)c * L.g.engines + e) * L.pair_bytes; }
static size_t reply_ring(uint32_t c, uint32_t e) { return cmd_ring(c, e) + L.cmd_bytes; }
static size_t event_ring(uint32_t c, uint32_t e) { return cmd_ring(c, e) + L.cmd_bytes + L.reply_bytes; }
static size_t sock_block(uint32_t s) { return L.sockets + (size_t)s * L.socket_bytes; }
static size_t tx_stream(uint32_t s) { return sock_block(s) + align64(SOCKET_BLOCK_BYTES); }
static size_t rx_stream(uint32_t s) { return tx_stream(s) + L.stream_bytes; }
static _Atomic uint32_t* u32_at(size_t off) { return (_Atomic uint32_t*)(base + off); }
static uint32_t head_of(size_t ring) { return atomic_load(u32_at(ring)); }
static uint32_t tail_of(size_t ring) { return atomic_load(u32_at(ring + 64)); }

// --- randomness (xorshift64*, seeded: a failing seed replays the same attack order) ---
static uint64_t rng_state;
static uint64_t rnd(void) {
  rng_state ^= rng_state >> 12;
  rng_state ^= rng_state << 25;
  rng_state ^= rng_state >> 27;
  return rng_state * 2685821657736338717ull;
}
static uint32_t below(uint32_t n) { return n ? (uint32_t)(rnd() % n) : 0; }
static int chance(int percent) { return (int)below(100) < percent; }

// --- figures ---
static struct {
  uint64_t rounds[16], bytes, commands, kicks, libutcp_calls, libutcp_stuck, children, children_joined;
  uint64_t memfd_resize_refused, memfd_resize_allowed, punches, seal_refused;
} F;
static const char* kind_name[] = {"commands", "blocks", "streams", "memfd", "child",
                                  "ring_indices", "spray"};
enum { kCommands, kBlocks, kStreams, kMemfd, kChild, kRingIndices, kSpray, kKinds };

// --- the live sockets libutcp opened (their slots, as found in the region) ---
static uint32_t live_slot[kSlots], live_gen[kSlots], n_live;
static int utcp_fd[16], n_utcp_fd;
static int eventfds[64], n_eventfds;
static uint32_t kernel_ip, utcp_ip;
static uint16_t echo_port, listen_port, victim_port;

static void put32(size_t off, uint32_t v) { atomic_store(u32_at(off), v); F.bytes += 4; }

// --- guarded libutcp calls ---
static sigjmp_buf alarm_jump;
static void on_alarm(int sig) { (void)sig; siglongjmp(alarm_jump, 1); }

// Non-blocking sends and receives on our own sockets: they make libutcp push kicks and
// ring the doorbell the normal way. Once one hangs (our channel is dead), no more.
static void poke_libutcp(void) {
  if (F.libutcp_stuck) return;
  if (sigsetjmp(alarm_jump, 1) != 0) {
    F.libutcp_stuck = 1;
    return;
  }
  alarm(1);
  char buf[512];
  for (int i = 0; i < n_utcp_fd; ++i) {
    memset(buf, (int)rnd(), sizeof buf);
    (void)send(utcp_fd[i], buf, 1 + below(sizeof buf), MSG_DONTWAIT | MSG_NOSIGNAL);
    (void)recv(utcp_fd[i], buf, sizeof buf, MSG_DONTWAIT);
    ++F.libutcp_calls;
  }
  alarm(0);
}

static void kick(void) {
  const uint64_t one = 1;
  for (int i = 0; i < n_eventfds; ++i) {
    if (write(eventfds[i], &one, sizeof one) == sizeof one) ++F.kicks;
  }
}

// --- setup: sockets under libutcp, then the region ---
static int connect_echo(void) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return -1;
  struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(echo_port),
                           .sin_addr.s_addr = htonl(kernel_ip)};
  if (connect(fd, (struct sockaddr*)&sa, sizeof sa) != 0) {
    close(fd);
    return -1;
  }
  char out[1000], in[1000];
  memset(out, 'h', sizeof out);
  if (send(fd, out, sizeof out, 0) != (ssize_t)sizeof out) return -1;
  size_t got = 0;
  while (got < sizeof in) {
    struct pollfd p = {.fd = fd, .events = POLLIN};
    if (poll(&p, 1, 5000) != 1) return -1;
    ssize_t n = recv(fd, in + got, sizeof in - got, 0);
    if (n <= 0) return -1;
    got += (size_t)n;
  }
  return memcmp(in, out, sizeof in) == 0 ? fd : -1;
}

static int open_listener(void) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(listen_port),
                           .sin_addr.s_addr = htonl(utcp_ip)};
  if (bind(fd, (struct sockaddr*)&sa, sizeof sa) != 0 || listen(fd, 16) != 0) return -1;
  return fd;
}

static int find_region(void) {
  FILE* maps = fopen("/proc/self/maps", "r");
  if (!maps) return -1;
  char line[512];
  uintptr_t start = 0, end = 0;
  while (fgets(line, sizeof line, maps)) {
    if (strstr(line, "utcp-region") && sscanf(line, "%" SCNxPTR "-%" SCNxPTR, &start, &end) == 2) break;
    start = end = 0;
  }
  fclose(maps);
  DIR* d = opendir("/proc/self/fd");
  struct dirent* de;
  while (d && (de = readdir(d))) {
    char path[300], target[300];
    snprintf(path, sizeof path, "/proc/self/fd/%s", de->d_name);
    ssize_t n = readlink(path, target, sizeof target - 1);
    if (n <= 0) continue;
    target[n] = 0;
    const int fd = atoi(de->d_name);
    if (strstr(target, "utcp-region")) memfd = fd;
    if (strcmp(target, "anon_inode:[eventfd]") == 0 && n_eventfds < 64) eventfds[n_eventfds++] = fd;
  }
  if (d) closedir(d);
  if (start == 0 || memfd < 0) {
    fprintf(stderr, "hostile: no utcp-region mapping or memfd\n");
    return -1;
  }
  base = (uint8_t*)start;
  const uint32_t* h = (const uint32_t*)base;
  if (h[0] != REGION_MAGIC) {
    fprintf(stderr, "hostile: region magic %#x\n", h[0]);
    return -1;
  }
  memcpy(&L.g, h + 2, sizeof L.g);
  compute_layout(&L);
  struct stat st;
  if (fstat(memfd, &st) != 0 || (size_t)st.st_size != L.total || end - start != L.total) {
    fprintf(stderr, "hostile: layout mismatch: computed %zu bytes, memfd %jd, mapping %zu "
                    "(shim/protocol.h changed? update hostile.c)\n",
            L.total, (intmax_t)st.st_size, (size_t)(end - start));
    return -1;
  }
  // Our channel: the one whose command ring carried our setup commands.
  uint32_t best = 0;
  for (uint32_t c = 0; c < L.g.channels; ++c) {
    if (head_of(cmd_ring(c, 0)) > best) {
      best = head_of(cmd_ring(c, 0));
      my_channel = c;
    }
  }
  if (best == 0) {
    fprintf(stderr, "hostile: no command ring in use\n");
    return -1;
  }
  for (uint32_t s = 0; s < kSlots && s < L.g.sockets; ++s) {
    const uint32_t gen = atomic_load(u32_at(sock_block(s)));
    if (gen != 0) {
      live_slot[n_live] = s;
      live_gen[n_live++] = gen;
    }
  }
  attack_end = sock_block(L.g.sockets < kSlots ? L.g.sockets : kSlots);
  return n_live > 0 ? 0 : -1;
}

// --- garbage ---
static uint32_t pick_slot(uint32_t* gen) {
  const uint32_t k = below(n_live);
  *gen = live_gen[k];
  switch (below(5)) {
    case 0: case 1: return live_slot[k];
    case 2: *gen = (uint32_t)rnd(); return below(kSlots);
    case 3: return L.g.sockets + below(4);
    default: *gen = (uint32_t)rnd(); return (uint32_t)rnd();
  }
}

static int32_t odd_int(void) {
  static const int32_t v[] = {0, 1, 2, 3, -1, 6, SOL_SOCKET, IPPROTO_TCP, SO_RCVBUF, SO_SNDBUF,
                              SO_LINGER, TCP_NODELAY, TCP_MAXSEG, TCP_KEEPIDLE, INT32_MIN, INT32_MAX};
  return chance(80) ? v[below(sizeof v / sizeof v[0])] : (int32_t)rnd();
}

static int64_t odd_value(void) {
  static const int64_t v[] = {0, 1, -1, 2, 1 << 16, 1 << 30, INT32_MAX, INT32_MIN, INT64_MAX,
                              INT64_MIN, (int64_t)1 << 40, 65535, 65536};
  return chance(70) ? v[below(sizeof v / sizeof v[0])] : (int64_t)rnd();
}

static void garbage_command(struct command* c) {
  memset(c, 0, sizeof *c);
  c->tag = (uint32_t)rnd();
  c->op = chance(80) ? (uint16_t)(1 + below(MAX_OP)) : (uint16_t)rnd();
  c->flags = chance(70) ? (uint16_t)below(2) : (uint16_t)rnd();
  c->slot = pick_slot(&c->generation);
  if (chance(10)) c->generation += chance(50) ? 1 : (uint32_t)-1;
  c->a = odd_int();
  c->b = odd_int();
  static const uint32_t ips[] = {0, 0xffffffffu, 0x7f000001u, 0xe0000001u};
  switch (below(4)) {
    case 0: c->ip = utcp_ip; break;
    case 1: c->ip = kernel_ip; break;
    case 2: c->ip = ips[below(4)]; break;
    default: c->ip = (uint32_t)rnd(); break;
  }
  // The victim's port among them: binding or listening on it must fail, never steal it.
  static uint16_t ports[6];
  ports[0] = 0; ports[1] = 65535; ports[2] = victim_port; ports[3] = listen_port;
  ports[4] = echo_port; ports[5] = (uint16_t)rnd();
  c->port = ports[below(6)];
  c->value = odd_value();
  c->value2 = odd_value();
  if (chance(10)) {
    for (size_t i = 0; i < sizeof c->reserved; ++i) c->reserved[i] = (uint8_t)rnd();
  }
}

// The slots in use now, as the blocks say: utcpd writes generation + 1 when it hands a
// slot out and again when it frees it, so a slot in use has an odd generation (unless
// we overwrote it). Our garbage closes our sockets and opens new ones (kSocket,
// kAccept): without this, most commands would name dead slots after the first rounds.
static void rescan_live(void) {
  uint32_t n = 0;
  for (uint32_t s = 0; s < kSlots && s < L.g.sockets; ++s) {
    const uint32_t gen = atomic_load(u32_at(sock_block(s)));
    if (gen & 1) {
      live_slot[n] = s;
      live_gen[n++] = gen;
    }
  }
  if (n > 0) n_live = n;
}

// Pushes garbage commands into ring (c, e) with consistent indices (the daemon reads
// them as commands, not as a broken ring).
static void push_commands(uint32_t c, uint32_t e, uint32_t max, int no_reply_only) {
  const size_t ring = cmd_ring(c, e);
  const uint32_t cap = L.g.command_capacity;
  const uint32_t head = head_of(ring), used = head - tail_of(ring);
  if (used > cap) return;
  rescan_live();
  uint32_t n = 1 + below(max);
  if (n > cap - used) n = cap - used;
  for (uint32_t i = 0; i < n; ++i) {
    struct command cmd;
    garbage_command(&cmd);
    if (no_reply_only) {
      static const uint16_t ops[] = {12, 14, 7};  // kKick, kClose, kSetOption + kNoReply
      cmd.op = ops[below(3)];
      cmd.flags = 1;
    }
    memcpy(base + ring + RING_CONTROL_BYTES + (size_t)((head + i) & (cap - 1)) * COMMAND_BYTES,
           &cmd, sizeof cmd);
  }
  atomic_thread_fence(memory_order_release);
  put32(ring, head + n);
  F.bytes += (uint64_t)n * COMMAND_BYTES;
  F.commands += n;
}

static void attack_blocks(void) {
  for (int k = 0, n = 1 + (int)below(8); k < n; ++k) {
    uint32_t gen;
    const uint32_t s = pick_slot(&gen) % kSlots;
    const size_t b = sock_block(s);
    switch (below(8)) {
      case 0: put32(b + 0, (uint32_t)rnd()); break;       // generation
      case 1: put32(b + 4, (uint32_t)rnd()); break;       // state: impossible bit mixes
      case 2: put32(b + 4, 1u << below(32)); break;
      case 3: put32(b + 8, (uint32_t)rnd()); break;       // error
      case 4: put32(b + 16, (uint32_t)rnd()); put32(b + 20, (uint32_t)rnd()); break;  // acceptable
      case 5: put32(b + 24, (uint32_t)rnd()); break;      // rx_blocked
      case 6: put32(b + 28, below(3)); break;             // kick
      default: {
        const uint32_t c = chance(50) ? my_channel : below(L.g.channels);
        put32(L.channels + (size_t)c * CHANNEL_BYTES + (chance(50) ? 0 : 64), (uint32_t)rnd());
      }
    }
  }
  if (chance(20)) put32(L.flags + below(L.g.engines) * SLEEP_FLAG_BYTES, (uint32_t)rnd());
  if (chance(10)) put32(4 * below(HEADER_BYTES / 4), (uint32_t)rnd());  // header and geometry copy
}

static void attack_streams(void) {
  uint32_t gen;
  const uint32_t s = pick_slot(&gen) % kSlots;
  const size_t tx = tx_stream(s), rx = rx_stream(s);
  const uint32_t cap = L.g.stream_capacity;
  switch (below(6)) {
    case 0: {  // garbage data with a consistent head: it goes out on our own connection
      const uint32_t head = head_of(tx), used = head - tail_of(tx);
      if (used > cap) break;
      uint32_t n = 1 + below(4096);
      if (n > cap - used) n = cap - used;
      for (uint32_t i = 0; i < n; ++i) base[tx + RING_CONTROL_BYTES + ((head + i) & (cap - 1))] = (uint8_t)rnd();
      F.bytes += n;
      put32(tx, head + n);
      put32(sock_block(s) + 28, 0);  // and clear kick so a real kick would be sent
      break;
    }
    case 1: put32(tx, tail_of(tx) + cap + 1 + below(1u << 20)); break;  // beyond capacity
    case 2: put32(tx, head_of(tx) - 1 - below(cap)); break;             // backwards
    case 3: put32(rx + 64, head_of(rx) + 1 + below(cap)); break;        // consumed more than published
    case 4: put32(rx + 64, tail_of(rx) - 1 - below(cap)); break;        // backwards
    default: put32(chance(50) ? tx + 64 : rx, (uint32_t)rnd()); break;  // the daemon's own index
  }
}

static void attack_memfd(int punch) {
  // Sealed against shrinking and growing: utcpd would fault on a truncated region.
  const off_t sizes[] = {0, (off_t)L.total / 2, (off_t)L.total + 4096};
  if (ftruncate(memfd, sizes[below(3)]) == 0) ++F.memfd_resize_allowed;
  else ++F.memfd_resize_refused;
  if (fcntl(memfd, F_ADD_SEALS, F_SEAL_WRITE) != 0) ++F.seal_refused;
  // A hole reads back as zeroes: the same as writing zeroes, over a page of rings
  // (phase B only: zeroed ring indices poison the channel).
  if (!punch) return;
  const off_t page = (off_t)(L.flags + below((uint32_t)(attack_end - L.flags))) & ~(off_t)4095;
  if (fallocate(memfd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, page, 4096) == 0) ++F.punches;
}

static void attack_ring_indices(void) {
  const uint32_t e = below(L.g.engines);
  const uint32_t c = chance(80) ? my_channel : below(L.g.channels);
  switch (below(6)) {
    case 0: put32(cmd_ring(c, e), tail_of(cmd_ring(c, e)) + L.g.command_capacity + 1 + below(1000)); break;
    case 1: put32(cmd_ring(c, e), head_of(cmd_ring(c, e)) - 1 - below(10)); break;
    case 2: put32(cmd_ring(c, e), (uint32_t)rnd()); break;
    case 3: put32(reply_ring(c, e) + 64, (uint32_t)rnd()); break;
    case 4: put32(event_ring(c, e) + 64, head_of(event_ring(c, e)) + 1 + below(100)); break;
    default: put32(cmd_ring(c, e) + 64, (uint32_t)rnd()); break;  // the daemon's tail
  }
}

static void attack_spray(void) {
  const size_t len = 1 + below(chance(10) ? (uint32_t)attack_end : 65536);
  const size_t at = below((uint32_t)(attack_end - (len < attack_end ? len : 0)));
  const size_t n = at + len > attack_end ? attack_end - at : len;
  for (size_t i = 0; i < n; i += 8) {
    const uint64_t v = rnd();
    memcpy(base + at + i, &v, n - i < 8 ? n - i : 8);
  }
  F.bytes += n;
}

// A forked child joins the family (its own channel), queues no-reply garbage and
// dies without kicking: utcpd runs a dead channel's kicks, closes and options.
static void attack_child(void) {
  if (F.libutcp_stuck) return;
  uint32_t before[64];
  for (uint32_t c = 0; c < L.g.channels && c < 64; ++c) before[c] = head_of(cmd_ring(c, 0));
  const pid_t pid = fork();
  if (pid == 0) {
    signal(SIGALRM, SIG_DFL);
    alarm(3);  // the child dies if libutcp hangs
    // A connect is the first call that needs utcpd (socket() alone does not): the
    // child joins the family on a channel of its own.
    const int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(echo_port),
                             .sin_addr.s_addr = htonl(kernel_ip)};
    (void)connect(fd, (struct sockaddr*)&sa, sizeof sa);
    for (uint32_t c = 0; c < L.g.channels && c < 64; ++c) {
      if (c != my_channel && head_of(cmd_ring(c, 0)) != before[c]) {
        for (uint32_t e = 0; e < L.g.engines; ++e) push_commands(c, e, 64, 1);
        _exit(0);
      }
    }
    _exit(3);  // it did not join (or found no channel of its own)
  }
  if (pid > 0) {
    ++F.children;
    int status = 0;
    if (waitpid(pid, &status, 0) == pid && WIFEXITED(status) && WEXITSTATUS(status) == 0) {
      ++F.children_joined;
    }
  }
}

static void print_figures(void) {
  printf("figures");
  for (int k = 0; k < kKinds; ++k) printf(" rounds_%s=%" PRIu64, kind_name[k], F.rounds[k]);
  printf(" bytes=%" PRIu64 " commands=%" PRIu64 " kicks=%" PRIu64 " libutcp_calls=%" PRIu64
         " libutcp_stuck=%" PRIu64 " children=%" PRIu64 " children_joined=%" PRIu64 " memfd_resize_refused=%" PRIu64
         " memfd_resize_allowed=%" PRIu64 " seal_refused=%" PRIu64 " punched_pages=%" PRIu64 "\n",
         F.bytes, F.commands, F.kicks, F.libutcp_calls, F.libutcp_stuck, F.children, F.children_joined,
         F.memfd_resize_refused, F.memfd_resize_allowed, F.seal_refused, F.punches);
}

int main(int argc, char** argv) {
  if (argc != 8) {
    fprintf(stderr, "usage: hostile ECHO_IP ECHO_PORT LISTEN_IP LISTEN_PORT VICTIM_PORT SECONDS SEED\n");
    return 2;
  }
  struct in_addr a;
  inet_pton(AF_INET, argv[1], &a);
  kernel_ip = ntohl(a.s_addr);
  echo_port = (uint16_t)atoi(argv[2]);
  inet_pton(AF_INET, argv[3], &a);
  utcp_ip = ntohl(a.s_addr);
  listen_port = (uint16_t)atoi(argv[4]);
  victim_port = (uint16_t)atoi(argv[5]);
  const double seconds = atof(argv[6]);
  rng_state = strtoull(argv[7], NULL, 0) * 0x9e3779b97f4a7c15ull + 1;
  setvbuf(stdout, NULL, _IOLBF, 0);
  signal(SIGPIPE, SIG_IGN);
  struct sigaction sa = {.sa_handler = on_alarm};
  sigaction(SIGALRM, &sa, NULL);

  const int lfd = open_listener();
  if (lfd < 0) {
    perror("hostile: listen");
    return 2;
  }
  utcp_fd[n_utcp_fd++] = lfd;
  for (int i = 0; i < 4; ++i) {
    const int fd = connect_echo();
    if (fd < 0) {
      perror("hostile: connect to the echo server");
      return 2;
    }
    utcp_fd[n_utcp_fd++] = fd;
  }
  // Through the front door first: a listener on the victim's port with SO_REUSEADDR
  // and SO_REUSEPORT must be refused (the victim set neither), as Linux refuses it.
  {
    const int fd = socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(victim_port),
                             .sin_addr.s_addr = htonl(utcp_ip)};
    const int bound = bind(fd, (struct sockaddr*)&sa, sizeof sa) == 0 && listen(fd, 16) == 0;
    printf("steal: listening on the victim's port %s\n", bound ? "WORKED" : "refused");
  }
  if (find_region() != 0) return 2;
  printf("attacking: region %zu bytes, %u engine(s), channel %u, %u live slots, %d eventfds\n",
         L.total, L.g.engines, my_channel, n_live, n_eventfds);

  struct timespec t0, now;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  double next_print = 1;
  for (uint64_t round = 0;; ++round) {
    clock_gettime(CLOCK_MONOTONIC, &now);
    const double t = (double)(now.tv_sec - t0.tv_sec) + (double)(now.tv_nsec - t0.tv_nsec) / 1e9;
    if (t >= seconds) break;
    if (t >= next_print) {
      print_figures();
      next_print += 1;
    }
    // Phase A: kinds that keep ring indices right; phase B: all of them.
    const int kind = (int)below(t < seconds / 2 ? kRingIndices : kKinds);
    switch (kind) {
      case kCommands: push_commands(my_channel, below(L.g.engines), 64, 0); break;
      case kBlocks: attack_blocks(); break;
      case kStreams: attack_streams(); break;
      case kMemfd: attack_memfd(t >= seconds / 2); break;
      case kChild:
        if (chance(10)) attack_child();
        break;
      case kRingIndices: attack_ring_indices(); break;
      default: attack_spray(); break;
    }
    ++F.rounds[kind];
    kick();
    // libutcp keeps its own copy of the command ring's head: once it pushes again after
    // push_commands, the daemon sees the head go backwards. So only in phase B.
    if (t >= seconds / 2 && round % 8 == 0) poke_libutcp();
    usleep(1000 + below(2000));
  }
  print_figures();
  // No exit(): libutcp's destructors may wait on a channel we broke.
  _exit(0);
}
