// Seeds of fuzz_shim: programs (shim/program.h) for a well-behaved app (listen, accept,
// data both ways, options, shutdown, close), bad commands, a poisoned command ring and
// the process replaced, stores into streams and socket blocks, a listener share of an
// absent engine, a process that dies with sockets it never registered, flow control
// through tiny streams, and the sleep flags.
#include "shim/protocol.h"
#include "tests/fuzz/seeds/seeds.h"
#include "tests/fuzz/shim/program.h"

namespace utcp::fuzz::seeds {
namespace {

namespace p = shim_program;
using p::Op;
using W = p::Writer;

std::uint8_t op(shim::Op o) { return static_cast<std::uint8_t>(o); }

// Indices into shim_world.cc's tables.
constexpr std::uint8_t kSolSocket = 3, kIpprotoTcp = 4;
constexpr std::uint8_t kSoRcvbuf = 5, kSoError = 7, kTcpNodelay = 8;
constexpr std::uint8_t kIpAny = 2, kPort7001 = 0, kPort7002 = 1;

// post(chan, op, slot_sel, gen_sel, a, b, ip, port, value, flags)
W& post(W& w, std::uint8_t chan, shim::Op o, std::uint8_t slot_sel = 0, std::uint8_t a = 0,
        std::uint8_t b = 0, std::uint8_t port = 0, std::uint16_t value = 0, std::uint8_t gen_sel = 0) {
  return w.op(Op::kPost, {chan, op(o), slot_sel, gen_sel, a, b, kIpAny, port,
                          static_cast<std::uint8_t>(value >> 8), static_cast<std::uint8_t>(value), 0});
}

// Channel 0: a listener on 7001 (learned slot 0), engine A connects, the child is slot 1.
W& listen_accept(W& w, std::uint8_t port = kPort7001) {
  post(w, 0, shim::Op::kSocket).op(Op::kStep, {4});
  post(w, 0, shim::Op::kBind, 0, 1, 0, port).op(Op::kStep, {4});
  post(w, 0, shim::Op::kListen, 0, 0, 0, port, 8).op(Op::kStep, {4});
  w.op(Op::kClient, {0, port, 0}).op(Op::kStep, {20});
  post(w, 0, shim::Op::kAccept, 0).op(Op::kStep, {8});
  return w;
}

W& data_both_ways(W& w, std::uint8_t len = 10) {
  w.op(Op::kClient, {1, 0, len})
      .op(Op::kStep, {20})
      .op(Op::kRead, {1, 255})
      .op(Op::kWrite, {1, 40})
      .op(Op::kStep, {20})
      .op(Op::kClient, {2, 0, 0});
  return w;
}

Seed program(std::string name, const W& w) { return {std::move(name), w.bytes()}; }

}  // namespace

std::vector<Seed> shim_seeds() {
  std::vector<Seed> s;
  {
    W w(0);
    listen_accept(w);
    data_both_ways(w);
    post(w, 0, shim::Op::kGetName, 1);
    post(w, 0, shim::Op::kGetPeer, 1);
    post(w, 0, shim::Op::kTcpInfo, 1);
    post(w, 0, shim::Op::kSetOption, 1, kSolSocket, kSoRcvbuf, 0, 8192);
    post(w, 0, shim::Op::kSetOption, 1, kIpprotoTcp, kTcpNodelay, 0, 1);
    post(w, 0, shim::Op::kGetOption, 1, kSolSocket, kSoError);
    w.op(Op::kStep, {8}).op(Op::kCollect, {0});
    post(w, 0, shim::Op::kShutdown, 1, 1);  // SHUT_WR
    w.op(Op::kStep, {20}).op(Op::kClient, {2, 0, 0}).op(Op::kClient, {3, 0, 0}).op(Op::kStep, {20});
    w.op(Op::kMail, {0, 0, 1, 0}).op(Op::kMail, {1, 0, 1, 0});  // placeholder, then its release
    post(w, 0, shim::Op::kClose, 0);
    w.op(Op::kStep, {20}).op(Op::kVictim, {0});
    s.push_back(program("proper_app", w));
  }
  {
    W w(0);
    listen_accept(w);
    post(w, 0, static_cast<shim::Op>(0), 0);
    post(w, 0, static_cast<shim::Op>(15), 0);
    post(w, 0, shim::Op::kBind, 0xff);            // slot 63: out of range
    post(w, 1, shim::Op::kAccept, 0, 0, 0, 0, 0, 4);  // generation + 1
    post(w, 0, shim::Op::kConnect, 1, 0, 0, 1, 0, 5);  // generation 0
    post(w, 0, shim::Op::kListen, 1, 0, 0, 0, 0xffff);  // a connected socket, backlog -1
    post(w, 1, shim::Op::kWatch, 1);
    post(w, 0, shim::Op::kClose, 1);
    post(w, 0, shim::Op::kClose, 1);              // twice
    post(w, 0, shim::Op::kKick, 1);               // after close
    w.op(Op::kStep, {20}).op(Op::kCollect, {0}).op(Op::kCollect, {1}).op(Op::kVictim, {0});
    s.push_back(program("bad_commands", w));
  }
  {
    W w(0);
    post(w, 0, shim::Op::kSocket).op(Op::kStep, {4});
    std::vector<std::uint8_t> raw(26, 0);
    raw[0] = 0;   // channel 0
    raw[1] = 1;   // head moved past the capacity
    raw[6] = op(shim::Op::kSocket);
    w.op(Op::kRawCmd, raw).op(Op::kStep, {8});
    post(w, 0, shim::Op::kSocket).op(Op::kStep, {8});  // not served: the ring is poisoned
    w.op(Op::kMail, {2, 0, 0, 0});                      // the process is replaced
    post(w, 0, shim::Op::kSocket).op(Op::kStep, {8}).op(Op::kVictim, {0});
    s.push_back(program("poisoned_ring_replaced", w));
  }
  {
    W w(0);
    listen_accept(w);
    data_both_ways(w);
    // tx head of the child ahead by 100 (mode 1, +100), then kick: 100 bytes nobody wrote.
    w.op(Op::kScribble, {7, 1, 1, 0, 0, 0, 100}).op(Op::kKick, {0, 1}).op(Op::kStep, {20});
    w.op(Op::kScribble, {10, 1, 2, 0, 0, 0, 0}).op(Op::kClient, {1, 0, 20}).op(Op::kStep, {20});
    w.op(Op::kScribble, {6, 1, 1, 0xff, 0xff, 0xff, 0xff}).op(Op::kScribble, {6, 0, 3, 0, 0, 0, 1});
    w.op(Op::kScribble, {13, 3, 9, 0xde, 0xad, 0xbe, 0xef}).op(Op::kStep, {20}).op(Op::kVictim, {0});
    s.push_back(program("scribbled_streams_blocks", w));
  }
  {
    W w(p::config::kTwoEngines);
    listen_accept(w);
    // slot 1 belongs to the absent engine 1: engine 0 makes its share of the listener.
    post(w, 0, shim::Op::kListen, 0xc1, 0, 0, kPort7002, 4);
    w.op(Op::kStep, {8}).op(Op::kClient, {0, kPort7002, 0}).op(Op::kStep, {20});
    post(w, 0, shim::Op::kAccept, 0xc1).op(Op::kStep, {8});
    post(w, 0, shim::Op::kClose, 0xc1).op(Op::kStep, {8}).op(Op::kVictim, {0});
    s.push_back(program("listener_share", w));
  }
  {
    W w(0);
    post(w, 1, shim::Op::kSocket).op(Op::kStep, {4});
    post(w, 1, shim::Op::kSocket).op(Op::kStep, {4});
    w.op(Op::kMail, {0, 1, 0, 0});  // the first one registered
    w.op(Op::kMail, {3, 1, 0, 0});  // process 1 dies
    w.op(Op::kStep, {4}).op(Op::kMail, {4, 1, 0, 0}).op(Op::kMail, {1, 0, 0, 0});
    post(w, 1, shim::Op::kSocket).op(Op::kStep, {4}).op(Op::kVictim, {0});
    s.push_back(program("process_death", w));
  }
  {
    W w(p::config::kSmallRings | p::config::kTinyStreams | p::config::kFewSockets);
    listen_accept(w);
    for (int i = 0; i < 4; ++i) {
      w.op(Op::kClient, {1, 0, 60}).op(Op::kStep, {10}).op(Op::kRead, {1, 4}).op(Op::kStep, {10});
    }
    w.op(Op::kWrite, {1, 30}).op(Op::kWrite, {1, 30}).op(Op::kStep, {20}).op(Op::kClient, {2, 0, 0});
    s.push_back(program("tiny_streams_flow_control", w));
  }
  {
    W w(p::config::kFourChannels);
    w.op(Op::kSleep, {0}).op(Op::kScribble, {11, 0, 0, 0, 0, 0, 1}).op(Op::kScribble, {12, 0, 0, 0, 0, 0, 1});
    post(w, 0, shim::Op::kSocket).op(Op::kStep, {4}).op(Op::kSleep, {0});
    post(w, 3, shim::Op::kSocket).op(Op::kSettle, {4}).op(Op::kCollect, {3});
    s.push_back(program("sleep_flags", w));
  }
  return s;
}

}  // namespace utcp::fuzz::seeds
