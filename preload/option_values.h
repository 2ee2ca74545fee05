// How setsockopt/getsockopt values look at the API (Linux's sizes, rounding and names)
// and how they travel to utcpd (numbers in a RecordedOption). Read option_calls.cc
// first; these helpers keep its two interposers short.
#pragma once

#include <sys/socket.h>

#include <cstdint>

#include "preload/usocket.h"

namespace utcp::preload {

// Fills o->value (and value2) from the caller's buffer for a utcp socket, with Linux's
// length checks: an int for most options, a struct for SO_LINGER, one byte is enough
// for IP-level ones (do_ip_setsockopt), a name for TCP_CONGESTION (ENOENT when the
// name is no algorithm utcp has). Returns 0 or an errno.
int parse_option(int level, int name, const void* val, socklen_t len, RecordedOption* o);

// TCP_DEFER_ACCEPT: Linux keeps SYN-ACK retransmissions (secs_to_retrans with a 1 s
// initial and 120 s maximum RTO) and reports them back as the seconds they cover, so
// 5 becomes 7. This is that round trip.
int defer_accept_seconds(int asked);

// SO_RCVLOWAT as tcp_set_rcvlowat stores it: negative means INT_MAX, capped at half
// the receive buffer, 0 means 1.
int rcvlowat_value(int asked, const USocket& s);

// Linux's rt_tos2priority: setting IP_TOS also sets SO_PRIORITY from the TOS bits.
int tos_priority(int tos);

// getsockopt answers: an int truncated to *len (Linux copies what fits); IP-level
// options answer one byte when the caller's buffer is shorter than an int.
int put_int(void* val, socklen_t* len, int v);
int put_ip_int(void* val, socklen_t* len, int v);
// TCP_CONGESTION's answer: the 16-byte, NUL-padded name, truncated to *len.
int put_congestion_name(void* val, socklen_t* len, std::int64_t algorithm);

}  // namespace utcp::preload
