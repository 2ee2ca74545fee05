// Seeds of fuzz_engine: programs (engine/program.h) that each reach one area: the
// handshake, a transfer and both kinds of close; loss, duplication and reordering; a
// zero window; resets; crafted and mutated segments on a live connection; a SYN flood
// into SYN cookies; ICMP and ARP; timeouts; half-close; TIME-WAIT reuse; and the
// same transfer under every configuration bit.
#include "tests/fuzz/engine/program.h"
#include "tests/fuzz/seeds/seeds.h"

namespace utcp::fuzz::seeds {
namespace {

namespace p = engine_program;
using p::Op;
using W = p::Writer;

constexpr int kA = 0, kB = 1;
// Indices into the tables of fuzz_engine.cc.
constexpr std::uint8_t kPort80 = 0;
constexpr std::uint8_t kLen1000 = 5, kLen16K = 11, kLen536 = 4, kLen100 = 3;

std::uint8_t es(int e, int slot) { return W::es(e, slot); }

// b listens on port 80 in slot 0; a connects from slot 0; b accepts into slot 1.
W& establish(W& w) {
  w.op(Op::kSocket, {es(kB, 0)})
      .op(Op::kBind, {es(kB, 0), kPort80, 0})
      .op(Op::kListen, {es(kB, 0), 4})
      .op(Op::kSocket, {es(kA, 0)})
      .op(Op::kConnect, {es(kA, 0), 0, kPort80})
      .op(Op::kStep, {20})
      .op(Op::kAccept, {es(kB, 0)})
      .op(Op::kEvents, {kA})
      .op(Op::kEvents, {kB});
  return w;
}

W& transfer(W& w, std::uint8_t len = kLen1000) {
  w.op(Op::kSend, {es(kA, 0), len, 0})
      .op(Op::kStep, {30})
      .op(Op::kRecv, {es(kB, 1), kLen16K, 0})
      .op(Op::kSend, {es(kB, 1), kLen536, 0})
      .op(Op::kStep, {30})
      .op(Op::kRecv, {es(kA, 0), kLen16K, 0});
  return w;
}

W& graceful_close(W& w) {
  w.op(Op::kClose, {es(kA, 0)})
      .op(Op::kStep, {30})
      .op(Op::kRecv, {es(kB, 1), kLen16K, 0})
      .op(Op::kClose, {es(kB, 1)})
      .op(Op::kStep, {30})
      .op(Op::kJump, {6});  // 2 s: TIME-WAIT is over
  return w;
}

Seed program(std::string name, const W& w) { return {std::move(name), w.bytes()}; }

}  // namespace

std::vector<Seed> engine_seeds() {
  std::vector<Seed> s;
  {
    W w(0);
    establish(w);
    transfer(w);
    graceful_close(w);
    s.push_back(program("handshake_transfer_close", w));
  }
  {
    W w(0);
    establish(w);
    for (int i = 0; i < 4; ++i) {
      w.op(Op::kFault, {kB, static_cast<std::uint8_t>(i), 3, 0, static_cast<std::uint8_t>(40 + i)})
          .op(Op::kSend, {es(kA, 0), kLen16K, 0})
          .op(Op::kStep, {63})
          .op(Op::kRecv, {es(kB, 1), kLen16K, 0})
          .op(Op::kJump, {4});
    }
    w.op(Op::kFault, {kA, 0, 2}).op(Op::kStep, {63}).op(Op::kRecv, {es(kB, 1), kLen16K, 0});
    graceful_close(w);
    s.push_back(program("loss_dup_reorder_flip", w));
  }
  {
    W w(p::config::kSmallBuffers);
    establish(w);
    for (int i = 0; i < 4; ++i) w.op(Op::kSend, {es(kA, 0), kLen16K, 0}).op(Op::kStep, {40});
    w.op(Op::kJump, {5}).op(Op::kJump, {7}).op(Op::kJump, {8});
    for (int i = 0; i < 4; ++i) w.op(Op::kRecv, {es(kB, 1), kLen16K, 0}).op(Op::kStep, {40});
    graceful_close(w);
    s.push_back(program("zero_window_persist", w));
  }
  {
    W w(0);
    establish(w);
    transfer(w, kLen100);
    w.op(Op::kSend, {es(kA, 0), kLen100, 0})
        .op(Op::kStep, {20})
        .op(Op::kClose, {es(kB, 1)})  // closed with data unread: RST
        .op(Op::kStep, {20})
        .op(Op::kRecv, {es(kA, 0), kLen16K, 0})
        .op(Op::kQuery, {es(kA, 0)})
        .op(Op::kSocket, {es(kA, 2)})
        .op(Op::kConnect, {es(kA, 2), 0, 1})  // port 81: nobody listens
        .op(Op::kStep, {20})
        .op(Op::kRecv, {es(kA, 2), kLen1000, 0})
        .op(Op::kAbort, {es(kA, 0)})
        .op(Op::kAbort, {es(kA, 2)});
    s.push_back(program("reset_and_refused", w));
  }
  {
    W w(0);
    establish(w);
    transfer(w);
    // Pose as a's side of the flow b receives (flow 0 goes to b: a sent the first SYN).
    // {flags, seq_mode, seq_delta, ack_delta}; seq_mode 1 = what b expects (RCV.NXT),
    // ack_mode 12 = b's SND.NXT + ack_delta << 20.
    const std::uint8_t shapes[][4] = {
        {0x04, 1, 0, 0},    // RST at RCV.NXT
        {0x04, 1, 100, 0},  // RST in the window, not at RCV.NXT: challenge ACK
        {0x02, 1, 0, 0},    // SYN on a synchronized connection
        {0x10, 1, 0, 1},    // ACK of data never sent
        {0x18, 1, 0, 0},    // data at RCV.NXT
        {0x18, 1, 200, 0},  // data ahead: out of order
        {0x11, 1, 0, 0},    // FIN
    };
    for (const auto& sh : shapes) {
      w.op(Op::kCraftTcp, {0, sh[0], sh[1], 0, sh[2], static_cast<std::uint8_t>(sh[3] ? 12 : 0), 0,
                           sh[3], 0xff, 0xff, 0x08, 10, 1, 0, 0})
          .op(Op::kStep, {10});
    }
    w.op(Op::kMutate, {3, 0x06, 0, 100, 0, 0}).op(Op::kMutate, {1, 0x21, 0x04, 0, 0, 0})
        .op(Op::kStep, {20})
        .op(Op::kRecv, {es(kB, 1), kLen16K, 0});
    graceful_close(w);
    s.push_back(program("crafted_segments", w));
  }
  {
    W w(0);
    w.op(Op::kSocket, {es(kB, 0)}).op(Op::kBind, {es(kB, 0), kPort80, 0}).op(Op::kListen, {es(kB, 0), 1});
    for (std::uint8_t i = 0; i < 8; ++i) {
      // Fresh tuples (bit 7) to b's port 80 (bits 1-3 = 0), from neighbours that do not exist.
      w.op(Op::kCraftTcp, {static_cast<std::uint8_t>(0x81 | (i << 4)), 0x02, 3, 0, i, 0, 0, 0, 0xff,
                           0xff, 0x0f, 0, 3, 0x9c, static_cast<std::uint8_t>(i)});
    }
    w.op(Op::kStep, {40}).op(Op::kSocket, {es(kA, 0)}).op(Op::kConnect, {es(kA, 0), 0, kPort80})
        .op(Op::kStep, {40}).op(Op::kAccept, {es(kB, 0)}).op(Op::kJump, {9}).op(Op::kJump, {10});
    s.push_back(program("syn_flood_cookies", w));
  }
  {
    W w(0);
    establish(w);
    transfer(w, kLen16K);
    w.op(Op::kCraftOther, {2, kA, 0, 0x04, 0x04, 0xb0})  // frag needed, MTU 1200 to a
        .op(Op::kCraftOther, {2, kB, 0, 0x03, 0, 0})      // port unreachable to b
        .op(Op::kCraftOther, {1, kB, 0, 16, 0, 9})        // echo request
        .op(Op::kCraftOther, {0, kA, 0x09, 1, 0, 0})      // ARP reply: b's address at a fake MAC
        .op(Op::kCraftOther, {3, kB, 0, 0, 0, 0})         // time exceeded
        .op(Op::kPing, {kA, 0})
        .op(Op::kStep, {40});
    transfer(w, kLen16K);
    graceful_close(w);
    s.push_back(program("icmp_arp", w));
  }
  {
    W w(0);
    w.op(Op::kSocket, {es(kA, 0)}).op(Op::kConnect, {es(kA, 0), 3, kPort80})  // no such neighbour
        .op(Op::kSocket, {es(kA, 1)}).op(Op::kConnect, {es(kA, 1), 4, kPort80})  // no route
        .op(Op::kSocket, {es(kA, 2)}).op(Op::kSetOpt, {es(kA, 2), 2, 0x03})   // keepalive 2 s
        .op(Op::kSocket, {es(kB, 0)}).op(Op::kBind, {es(kB, 0), kPort80, 0})
        .op(Op::kListen, {es(kB, 0), 2})
        .op(Op::kConnect, {es(kA, 2), 0, kPort80}).op(Op::kStep, {30}).op(Op::kAccept, {es(kB, 0)})
        .op(Op::kFault, {kA, 0, 7}).op(Op::kFault, {kA, 0, 7}).op(Op::kJump, {7}).op(Op::kJump, {7})
        .op(Op::kJump, {8}).op(Op::kJump, {9}).op(Op::kQuery, {es(kA, 0)}).op(Op::kQuery, {es(kA, 2)});
    s.push_back(program("timeouts_keepalive", w));
  }
  {
    W w(0);
    establish(w);
    transfer(w);
    w.op(Op::kShutdown, {es(kA, 0), 1}).op(Op::kStep, {20}).op(Op::kRecv, {es(kB, 1), kLen16K, 0})
        .op(Op::kSend, {es(kB, 1), kLen1000, 0}).op(Op::kStep, {20})
        .op(Op::kRecv, {es(kA, 0), kLen16K, 0}).op(Op::kShutdown, {es(kB, 1), 2})
        .op(Op::kStep, {20}).op(Op::kRecv, {es(kA, 0), kLen16K, 0}).op(Op::kShutdown, {es(kA, 0), 0})
        .op(Op::kRecv, {es(kA, 0), kLen16K, 1}).op(Op::kQuery, {es(kB, 1)});
    graceful_close(w);
    s.push_back(program("half_close_shutdown", w));
  }
  {
    W w(0);
    w.op(Op::kSocket, {es(kB, 0)}).op(Op::kBind, {es(kB, 0), kPort80, 1}).op(Op::kListen, {es(kB, 0), 4});
    for (int round = 0; round < 2; ++round) {
      w.op(Op::kSocket, {es(kA, 0)}).op(Op::kSetOpt, {es(kA, 0), 7, 1})
          .op(Op::kBind, {es(kA, 0), 6, 0x01})  // port 5000, SO_REUSEADDR
          .op(Op::kConnect, {es(kA, 0), 0, kPort80}).op(Op::kStep, {20}).op(Op::kAccept, {es(kB, 0)});
      transfer(w, kLen100);
      w.op(Op::kClose, {es(kB, 1)}).op(Op::kStep, {20}).op(Op::kRecv, {es(kA, 0), kLen16K, 0})
          .op(Op::kClose, {es(kA, 0)}).op(Op::kStep, {20});  // b closed first: b is in TIME-WAIT
    }
    s.push_back(program("time_wait_reuse", w));
  }
  for (std::uint8_t bit = 0; bit < 8; ++bit) {
    W w(static_cast<std::uint8_t>(1u << bit));
    establish(w);
    transfer(w, kLen16K);
    w.op(Op::kSetOpt, {es(kA, 0), 0, 1}).op(Op::kSetOpt, {es(kA, 0), 1, 1});  // NODELAY, CORK
    transfer(w, kLen16K);
    graceful_close(w);
    s.push_back(program("config_bit" + std::to_string(bit), w));
  }
  {
    // A SYN from the input's own bytes, with the fix-ups turned on.
    W w(0);
    w.op(Op::kSocket, {es(kB, 0)}).op(Op::kBind, {es(kB, 0), kPort80, 0}).op(Op::kListen, {es(kB, 0), 4});
    std::vector<std::uint8_t> frame(54, 0);
    frame[14] = 0x45;
    frame[23] = 6;                       // TCP
    frame[26] = 198; frame[27] = 18; frame[28] = 0; frame[29] = 1;
    frame[34] = 0x9c; frame[35] = 0x40;  // source port 40000
    frame[36] = 0; frame[37] = 80;
    frame[46] = 0x50;                    // data offset 5
    frame[47] = 0x02;                    // SYN
    frame[48] = 0xff; frame[49] = 0xff;
    w.raw(kB, 7, frame).op(Op::kStep, {20});
    s.push_back(program("raw_syn", w));
  }
  return s;
}

}  // namespace utcp::fuzz::seeds
