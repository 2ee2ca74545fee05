// Software RSS: which engine owns a received frame when the device cannot hash with
// our key and table (DESIGN.md §3 "Per-core engines and RSS"). Pure: bytes in, engine
// out; the rules are on Steering::classify.
#pragma once

#include <cstdint>
#include <span>

#include "stack/rss/rss.h"

namespace utcp::dpdk_io {

struct SteerTarget {
  enum class Kind : std::uint8_t { kEngine, kAllEngines };
  Kind kind = Kind::kEngine;
  std::uint16_t engine = 0;
  bool is_tcp = false;      // an IPv4/TCP segment (first fragment or whole)
  bool hash_valid = false;  // hash is our Toeplitz hash of the 4-tuple
  std::uint32_t hash = 0;
};

class Steering {
 public:
  Steering(const stack::rss::Key& key, const stack::rss::Reta& reta) : key_(key), reta_(reta) {}

  // IPv4/TCP: by the Toeplitz hash of its 4-tuple through the Reta (`tcp_hash`, when
  // given, is the device's hash with our key). An ICMP error quoting a TCP segment:
  // that connection's owner. ARP replies and gratuitous ARP: every engine, since each
  // keeps its own ARP cache (shared-nothing). Everything else (ARP requests, ICMP
  // echo, fragments, non-IPv4): engine 0, so exactly one engine answers a request.
  SteerTarget classify(std::span<const std::uint8_t> frame, const std::uint32_t* tcp_hash) const;

 private:
  SteerTarget for_hash(std::uint32_t hash) const;

  stack::rss::Key key_;
  stack::rss::Reta reta_;
};

}  // namespace utcp::dpdk_io
