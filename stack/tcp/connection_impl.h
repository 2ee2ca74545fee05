// TcpConnection: the one implementation of Connection (RFC 9293 §3.10 event processing).
// Split by concern: connection.cc (creation, user calls), tcp_input.cc (SEGMENT ARRIVES),
// tcp_output.cc (what to send), tcp_timers.cc, tcp_recovery.cc (RFC 5681/6582/6675).
// Invariants: the send ring holds [data_start(), data_end()); the receive ring holds
// the unread bytes below RCV.NXT, out-of-order bytes live past its tail.
#pragma once

#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <span>

#include "stack/base/byte_ring.h"
#include "stack/cc/congestion.h"
#include "stack/cc/rtt.h"
#include "stack/sack/reassembly.h"
#include "stack/sack/scoreboard.h"
#include "stack/tcp/connection.h"
#include "stack/tcp/tcb.h"

namespace utcp::stack::tcp {

// What the peer offered in its SYN (or what a SYN cookie remembered of it).
struct PeerOffer {
  std::uint16_t mss = 536;  // RFC 9293 §3.7.1: 536 when the option is absent
  std::optional<std::uint8_t> window_scale;
  bool sack_permitted = false;
  std::optional<wire::TcpTimestamps> timestamps;
};

PeerOffer peer_offer_from(const wire::TcpRepr& syn);

class TcpConnection final : public Connection {
 public:
  TcpConnection(const ConnectionContext& ctx, const SocketOptions& opts,
                const wire::FourTuple& tuple, const Initial& init, Instant now);

  void start_active(Instant now);
  void start_passive(const wire::TcpRepr& syn, Instant now);
  void start_from_cookie(const wire::TcpRepr& ack, std::span<const std::uint8_t> payload,
                         const CookieOptions& peer, Instant now);

  void on_segment(const wire::TcpRepr& seg, std::span<const std::uint8_t> payload,
                  Instant now) override;
  void on_icmp_unreachable(SeqNum quoted_seq, std::uint8_t code, std::uint16_t next_hop_mtu,
                           Instant now) override;
  bool time_wait_accepts_syn(const wire::TcpRepr& syn) const override;
  void end_time_wait() override;
  SeqNum snd_nxt() const override { return tcb_.snd_max; }

  void on_timer(Instant now) override;
  Instant next_deadline() const override;

  Result<std::size_t> send(std::span<const std::uint8_t> data, bool more, Instant now) override;
  void mark_record_end() override;
  Result<std::size_t> recv(std::span<std::uint8_t> out, bool peek, Instant now) override;
  Errno shutdown(bool read, bool write, Instant now) override;
  void close(Instant now) override;
  void abort(Instant now) override;
  Errno set_options(const SocketOptions& opts, Instant now) override;
  const SocketOptions& options() const override { return opts_; }
  void push(Push what, Instant now) override;

  State state() const override { return state_; }
  const wire::FourTuple& tuple() const override { return tuple_; }
  std::uint32_t take_events() override;
  std::uint32_t peek_events() const override { return events_; }
  std::size_t readable_bytes() const override { return rcv_buf_.size(); }
  std::size_t send_space() const override;
  std::uint32_t unsent_bytes() const override {
    return data_end() > tcb_.snd_max ? static_cast<std::uint32_t>(data_end() - tcb_.snd_max) : 0;
  }
  bool receive_shut() const override { return rd_shutdown_ || tcb_.peer_fin; }
  bool send_shut() const override { return wr_shutdown_; }
  int take_error() override;
  bool deferred() const override { return timers_.defer != kNever; }
  TcpInfo info() const override;

 private:
  // --- connection.cc: state and bookkeeping ---
  void negotiate(const PeerOffer& offer);
  void set_state(State s);
  void enter_established(Instant now);
  void enter_time_wait(Instant now);
  // Reaches CLOSED; `err` != 0 becomes SO_ERROR (ECONNRESET, ETIMEDOUT, ...).
  void enter_closed(int err);
  void queue_fin(Instant now);
  void note_events(std::uint32_t bits) { events_ |= bits; }
  bool synchronized() const;
  SeqNum data_start() const;
  SeqNum data_end() const { return data_start() + static_cast<std::uint32_t>(snd_buf_.size()); }
  std::uint32_t receive_buffer_size() const;
  std::uint32_t send_buffer_size() const;
  // Room within SO_RCVBUF / SO_SNDBUF as they are now: a live connection keeps the rings
  // it was created with, and a smaller size set later limits how much of them is used.
  std::size_t receive_room() const;
  std::size_t send_room() const;

  // --- tcp_input.cc: RFC 9293 §3.10.7 ---
  void input_syn_sent(const wire::TcpRepr& seg, std::span<const std::uint8_t> payload,
                      Instant now);
  void input_synchronized(const wire::TcpRepr& seg, std::span<const std::uint8_t> payload,
                          Instant now);
  bool paws_rejects(const wire::TcpRepr& seg, std::size_t payload_len, Instant now) const;
  bool disordered_ack(const wire::TcpRepr& seg, std::size_t payload_len,
                      std::int32_t behind) const;
  bool acceptable(const wire::TcpRepr& seg, std::size_t payload_len) const;
  void process_rst(const wire::TcpRepr& seg);
  bool process_ack(const wire::TcpRepr& seg, std::size_t payload_len, Instant now);
  void update_window(const wire::TcpRepr& seg);
  void on_new_ack(const wire::TcpRepr& seg, Instant now);
  void on_fin_acked(Instant now);
  void process_text(SeqNum seq, std::span<const std::uint8_t> text, Instant now);
  void store_out_of_order(SeqNum seq, std::span<const std::uint8_t> text);
  void process_fin(Instant now);
  void maybe_update_ts_recent(const wire::TcpRepr& seg, Instant now);
  void schedule_ack(Instant now);

  // --- tcp_output.cc ---
  void output(Instant now);
  void send_new_data(Instant now);
  bool nagle_allows(std::uint32_t len, std::uint32_t unsent, bool window_limited) const;
  void maybe_send_fin(Instant now);
  // Sends [seq, seq+len) of sequence space (data, plus the FIN when the range covers
  // it); returns the sequence space it covered.
  std::uint32_t transmit(SeqNum seq, std::uint32_t len, Instant now);
  void send_syn(Instant now);
  void send_ack(Instant now);
  void send_challenge_ack(Instant now);
  void send_invalid_ack(const wire::TcpRepr& seg, std::size_t payload_len, Instant now);
  void note_duplicate(SeqNum seq, std::size_t len);
  void send_rst(SeqNum seq, bool with_ack);
  void send_probe(Instant now);
  // Fills ACK, window and options into a non-RST segment, then sends it.
  bool emit(wire::TcpRepr& repr, std::span<const std::uint8_t> p1,
            std::span<const std::uint8_t> p2, Instant now);
  bool emit_raw(const wire::TcpRepr& repr, std::span<const std::uint8_t> p1,
                std::span<const std::uint8_t> p2);
  std::uint32_t max_payload() const;
  // Sequence space from seq to the next MSG_EOR record end, or `len` if that is nearer.
  std::uint32_t record_limit(SeqNum seq, std::uint32_t len) const;
  void fill_options(wire::TcpRepr& repr, Instant now) const;
  std::uint16_t window_field();
  std::uint32_t offered_window() const;
  std::uint32_t tsval(Instant now) const;
  void arm_rto(Instant now);
  std::optional<Instant> user_deadline() const;
  void end_defer();
  void update_persist(Instant now);
  std::uint32_t usable_window() const;
  std::uint32_t flight_size() const;

  // --- tcp_timers.cc ---
  void on_rto(Instant now);
  bool retries_exhausted() const;
  void on_persist(Instant now);
  void on_keepalive(Instant now);
  void on_delack(Instant now);
  void on_cork(Instant now);
  void arm_keepalive(Instant now);
  Duration persist_interval() const;

  // --- tcp_recovery.cc ---
  void on_duplicate_ack(Instant now);
  void enter_recovery(Instant now);
  void on_recovery_ack(std::uint32_t acked, Instant now);
  void sack_output(Instant now);
  std::uint32_t process_sack(const wire::TcpRepr& seg);
  void exit_recovery(Instant now);
  void reset_recovery();
  void take_rtt_sample(const wire::TcpRepr& seg, Instant now, Duration& rtt);
  void on_frag_needed(std::uint16_t next_hop_mtu, Instant now);

  ConnectionContext ctx_;
  const TcpConfig& cfg_;
  SocketOptions opts_;
  wire::FourTuple tuple_;
  State state_ = State::kClosed;
  Tcb tcb_;
  Timers timers_;
  ByteRing snd_buf_;
  ByteRing rcv_buf_;
  sack::Reassembly reassembly_;
  sack::Scoreboard scoreboard_;
  std::unique_ptr<cc::CongestionControl> cc_;
  cc::Algorithm cc_algorithm() const { return opts_.congestion.value_or(cfg_.cc); }
  cc::RttEstimator rtt_;

  // RFC 6298 §3 (Karn): one timed segment, never a retransmitted one.
  bool rtt_timing_ = false;
  SeqNum rtt_seq_;
  Instant rtt_start_{};
  // TSval of our latest retransmission, until an ACK echoes it or later (see
  // take_rtt_sample): TSecr older than this is no RTT sample.
  bool rtx_tsval_valid_ = false;
  std::uint32_t rtx_tsval_ = 0;

  // Loss recovery (RFC 5681 §3.2, RFC 6582, RFC 6675).
  std::uint32_t dupacks_ = 0;
  bool in_recovery_ = false;
  bool recover_valid_ = false;
  SeqNum recover_;     // RecoveryPoint / NewReno "recover"
  SeqNum high_rxt_;    // retransmission frontier (Scoreboard's convention)
  // After an RTO with SACK (Linux's tcp_enter_loss): the scoreboard is kept, every
  // unSACKed octet below loss_floor_ (HighData at the RTO) is presumed lost and
  // resent by NextSeg in slow start, SACKed data is not resent. Ends when SND.UNA
  // reaches loss_floor_. rto_una_: SND.UNA at that RTO (no progress by the next one:
  // the receiver may have reneged, so the scoreboard is dropped; RFC 2018 §8).
  bool rto_recovery_ = false;
  SeqNum loss_floor_;
  SeqNum rto_una_;
  bool rto_una_valid_ = false;

  std::uint32_t persist_backoff_ = 0;
  std::uint32_t probes_out_ = 0;      // unanswered persist or keepalive probes
  Instant probe_start_ = kNever;      // the first zero-window probe of this stall
  Instant last_rcv_{};                // keepalive idle time starts here
  Instant last_send_{};               // RFC 5681 §4.1 idle restart
  Instant challenge_window_start_{};  // RFC 5961 §7 rate limit
  std::uint32_t challenge_count_ = 0;
  Instant last_invalid_ack_ = kNever;  // the last ACK for an unacceptable segment
  std::optional<wire::SackBlock> dsack_;  // RFC 2883: a duplicate the next ACK reports

  bool passive_ = false;      // created by a listener (no error reported on reset)
  bool orphan_ = false;       // close() was called
  bool rd_shutdown_ = false;
  bool wr_shutdown_ = false;
  bool more_ = false;         // the last send() had MSG_MORE
  // Ends of MSG_EOR records not yet acknowledged, ascending (bounded by the send buffer:
  // each covers at least one byte).
  std::deque<SeqNum> record_ends_;
  bool push_once_ = false;    // the next output() sends a partial segment despite the cork
  // When the oldest unacknowledged segment (or the SYN) was first sent, for
  // TCP_USER_TIMEOUT (Linux's retrans_stamp); kNever while nothing is in flight.
  Instant head_sent_ = kNever;
  bool ack_now_ = false;
  std::uint32_t events_ = 0;
  int error_ = 0;
  int soft_error_ = 0;        // RFC 1122 §4.2.3.9 soft ICMP errors, reported on timeout

  std::uint64_t total_retransmits_ = 0;
  std::uint64_t bytes_sent_ = 0;
  std::uint64_t bytes_acked_ = 0;
  std::uint64_t bytes_received_ = 0;
  std::uint64_t segs_out_ = 0;
  std::uint64_t segs_in_ = 0;
};

}  // namespace utcp::stack::tcp
