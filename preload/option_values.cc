// Option values at the API, the way Linux reads and reports them (read option_values.h).
#include "preload/option_values.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstring>
#include <string_view>

#include "preload/ops.h"

namespace utcp::preload {
namespace {

constexpr std::size_t kCaNameMax = 16;  // Linux's TCP_CA_NAME_MAX
// Linux's tcp_rmem[2] default: SO_RCVLOWAT is capped at half of it while the program
// did not size the receive buffer itself.
constexpr int kDefaultRmemMax = 6 * 1024 * 1024;
constexpr int kRmemMax = 212992;        // net.core.rmem_max: SO_RCVBUF's ceiling

// The algorithms utcp has, under their Linux names.
struct CongestionName {
  const char* name;
  std::int64_t id;
};
constexpr CongestionName kCongestion[] = {
    {"reno", shim::kCongestionReno},
    {"cubic", shim::kCongestionCubic},
};

int parse_congestion(const void* val, socklen_t len, RecordedOption* o) {
  if (static_cast<int>(len) < 1) return EINVAL;
  if (val == nullptr) return EFAULT;
  // Linux copies at most TCP_CA_NAME_MAX - 1 bytes, up to a NUL.
  char name[kCaNameMax] = {};
  std::memcpy(name, val, std::min<std::size_t>(len, kCaNameMax - 1));
  const std::string_view asked(name);
  for (const CongestionName& c : kCongestion) {
    if (asked == c.name) {
      o->value = c.id;
      return 0;
    }
  }
  return ENOENT;
}

}  // namespace

int parse_option(int level, int name, const void* val, socklen_t len, RecordedOption* o) {
  if (level == IPPROTO_TCP && name == TCP_CONGESTION) return parse_congestion(val, len, o);
  if (level == IPPROTO_IP) {
    // do_ip_setsockopt: an int, or one unsigned byte, or nothing (which means 0).
    if (len > 0 && val == nullptr) return EFAULT;
    if (len >= sizeof(int)) {
      int v;
      std::memcpy(&v, val, sizeof v);
      o->value = v;
    } else if (len >= 1) {
      o->value = *static_cast<const unsigned char*>(val);
    }
    return 0;
  }
  if (level == SOL_SOCKET && name == SO_LINGER) {
    if (len < sizeof(linger)) return EINVAL;
    if (val == nullptr) return EFAULT;
    linger l;
    std::memcpy(&l, val, sizeof l);
    o->value = l.l_onoff;
    o->value2 = l.l_linger;
    return 0;
  }
  if (len < sizeof(int)) return EINVAL;
  if (val == nullptr) return EFAULT;
  int v;
  std::memcpy(&v, val, sizeof v);
  o->value = v;
  return 0;
}

int defer_accept_seconds(int asked) {
  constexpr int kInitialRto = 1, kMaxRto = 120, kMaxRounds = 255;
  if (asked <= 0) return 0;
  // secs_to_retrans: how many SYN-ACK timeouts cover `asked` seconds ...
  int rounds = 1, timeout = kInitialRto, period = kInitialRto;
  while (asked > period && rounds < kMaxRounds) {
    ++rounds;
    timeout = std::min(timeout * 2, kMaxRto);
    period += timeout;
  }
  // ... and retrans_to_secs: the seconds those rounds last, which `period` already is.
  return period;
}

int rcvlowat_value(int asked, const USocket& s) {
  int v = asked < 0 ? INT_MAX : asked;
  int cap = kDefaultRmemMax / 2;
  for (const RecordedOption& o : s.options) {
    if (o.level == SOL_SOCKET && o.name == SO_RCVBUF) {
      // SO_RCVBUF locks the buffer at twice the (capped) request: half of that.
      cap = static_cast<int>(std::clamp<std::int64_t>(o.value, 0, kRmemMax));
    }
  }
  v = std::min(v, cap);
  return v == 0 ? 1 : v;
}

int tos_priority(int tos) {
  // ip_tos2prio[IPTOS_TOS(tos) >> 1]: best effort, bulk, interactive, interactive bulk.
  static constexpr int kPrio[16] = {0, 0, 0, 0, 2, 2, 2, 2, 6, 6, 6, 6, 4, 4, 4, 4};
  return kPrio[(tos & 0x1e) >> 1];
}

int put_int(void* val, socklen_t* len, int v) {
  if (val == nullptr || len == nullptr) return fail(EFAULT);
  if (static_cast<int>(*len) < 0) return fail(EINVAL);
  const socklen_t n = std::min<socklen_t>(*len, sizeof v);
  std::memcpy(val, &v, n);
  *len = n;
  return 0;
}

int put_ip_int(void* val, socklen_t* len, int v) {
  if (val == nullptr || len == nullptr) return fail(EFAULT);
  const int asked = static_cast<int>(*len);
  if (asked < 0) return fail(EINVAL);
  if (asked > 0 && asked < static_cast<int>(sizeof(int)) && v >= 0 && v <= 255) {
    *static_cast<unsigned char*>(val) = static_cast<unsigned char>(v);
    *len = 1;
    return 0;
  }
  return put_int(val, len, v);
}

int put_congestion_name(void* val, socklen_t* len, std::int64_t algorithm) {
  if (val == nullptr || len == nullptr) return fail(EFAULT);
  char name[kCaNameMax] = {};
  for (const CongestionName& c : kCongestion) {
    if (c.id == algorithm) std::strncpy(name, c.name, kCaNameMax - 1);
  }
  // min_t(unsigned int, len, TCP_CA_NAME_MAX): a negative length counts as huge.
  const socklen_t n = std::min<socklen_t>(*len, kCaNameMax);
  std::memcpy(val, name, n);
  *len = n;
  return 0;
}

}  // namespace utcp::preload
