// SeqNum: modular comparison and distance across the 2^32 wrap (RFC 9293 §3.4).
#include <catch2/catch.hpp>

#include "stack/base/seq_num.h"

using utcp::stack::SeqNum;
using utcp::stack::SeqRange;
using utcp::stack::seq_in_window;

TEST_CASE("SeqNum compares across wrap-around", "[seq]") {
  const SeqNum near_top(0xfffffff0u);
  const SeqNum wrapped = near_top + 0x20;
  CHECK(wrapped.raw() == 0x10u);
  CHECK(near_top < wrapped);
  CHECK(wrapped > near_top);
  CHECK(wrapped - near_top == 0x20);
  CHECK(near_top - wrapped == -0x20);
  CHECK(near_top <= near_top);
  CHECK_FALSE(near_top < near_top);
}

TEST_CASE("seq_in_window is half-open and wraps", "[seq]") {
  const SeqNum lo(0xffffff00u);
  CHECK(seq_in_window(lo, lo, 1));
  CHECK(seq_in_window(lo + 0x1ff, lo, 0x200));
  CHECK_FALSE(seq_in_window(lo + 0x200, lo, 0x200));
  CHECK_FALSE(seq_in_window(lo - 1, lo, 0x200));
  CHECK_FALSE(seq_in_window(lo, lo, 0));
}

TEST_CASE("SeqRange length and containment", "[seq]") {
  const SeqRange r{SeqNum(0xfffffffeu), SeqNum(2)};
  CHECK(r.length() == 4);
  CHECK(r.contains(SeqNum(0xffffffffu)));
  CHECK(r.contains(SeqNum(1)));
  CHECK_FALSE(r.contains(SeqNum(2)));
}
