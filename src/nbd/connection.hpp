// nbd/connection.hpp - one client connection, owned and driven by one I/O thread.
//
// The connection turns the bytes a client sends into engine requests on its thread's
// IoQueue and the completions back into replies. It never blocks: the event loop calls
// on_input() when the socket is readable (or when resources it waited for came back),
// on_part_done() for each engine completion, and flush() to send queued replies.
//
// Invariants:
// - Every parsed request holds one Slot from this connection's fixed array until its
//   reply has been sent or dropped; in_use() <= slot_limit. Slots are the in-flight cap:
//   with none free the connection stops reading its socket (back-pressure).
// - A Slot is in exactly one place: the free list, rx_ (payload arriving), discard_
//   (refused WRITE payload being skipped), pending_ (waiting for a tag or a payload
//   buffer), in flight (parts_done < parts_submitted), or the send list.
// - Each engine completion of a slot's parts is counted exactly once; the reply is built
//   once all submitted parts have completed. A dead connection (peer gone) drops replies
//   but keeps the object alive until in_use() == 0, so late completions never touch
//   freed memory; the I/O thread deletes it only when finished().
// - Per-connection memory is allocated as it is needed: a handshaking connection holds a
//   kHsInBuf input buffer and its Handshake, nothing else; the slots and the kInBuf input
//   buffer come when transmission begins. Handshake output waiting to be sent stays below
//   kMaxHsOut + kHsOutSlack: past kMaxHsOut the connection stops reading until it drains.
// - Pool buffers: a connection that holds none may take any that fits; one that holds some
//   may take another only while it then holds at most its share (payload_share()) and the
//   thread's pool keeps a quarter of its cap free for the others (see get_buffer()).
#pragma once

#include <sys/uio.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "mqblk/block_device.hpp"
#include "nbd/export.hpp"
#include "nbd/handshake.hpp"
#include "nbd/payload_pool.hpp"
#include "nbd/protocol.hpp"
#include "nbd/request.hpp"

namespace mqblk::nbd {

class Connection;
class TlsSession;  // nbd/tls.hpp

// What the server asks of every connection; fixed while the server runs.
struct ConnPolicy {
  // A connection that has not finished the handshake this long after it was accepted is
  // closed (0: never).
  int64_t handshake_timeout_ns = 10'000'000'000;
  // A connection that holds resources only its peer can free (a payload buffer it is
  // receiving into, replies it does not read) and moves no byte this long is closed, and
  // what it held goes back (0: never).
  int64_t stall_timeout_ns = 30'000'000'000;
  // The device leaves read buffers as they were (DevicePlan::fills_read_buffers false):
  // each READ's buffer is zeroed before the read, and block status says hole and zero.
  bool zero_reads = false;
};

// What the connections of one I/O thread share; touched only by that thread.
struct ThreadCtx {
  BlockDevice& dev;
  IoQueue& q;
  const ExportInfo& exp;
  const ConnPolicy policy;
  PayloadPool pool;
  unsigned nconns = 0;
  std::vector<Connection*> retry;  // waiting for a slot, a tag or a payload buffer
  std::vector<Connection*> ready;  // yielded with input left: run again next iteration
  std::vector<Connection*> dirty;  // connections with replies to flush
  uint64_t released = 0;           // slots released, to know when retrying can help

  ThreadCtx(BlockDevice& d, IoQueue& queue, const ExportInfo& e, const ConnPolicy& p,
            size_t pool_cap)
      : dev(d), q(queue), exp(e), policy(p), pool(pool_cap) {}
};

// Structured READ replies use at most this many chunks (the rest goes as one data chunk).
inline constexpr unsigned kMaxReadChunks = 16;
// BLOCK_STATUS replies carry at most this many extents (clients ask again for the rest).
inline constexpr unsigned kMaxExtents = 64;
// A READ reply splits off a hole chunk only for a hole run at least this long (or one that
// covers the whole request). Each extra chunk costs the client several receives and a
// memset; a short hole is cheaper sent as zeros inside the data chunk.
inline constexpr uint64_t kMinHoleChunk = 64u << 10;

// What the allocation query made before a READ was started says about its whole range.
enum class ReadShape : uint8_t { mixed, data, hole };

struct Slot {
  Connection* conn = nullptr;
  Slot* next = nullptr;
  Request req;
  std::byte* buf = nullptr;  // payload: from the pool, or the device's window when direct
  unsigned buf_cls = 0;
  bool direct = false;        // buf is the device's direct_window for this WRITE (no pool memory)
  bool landed_whole = false;  // direct over data: the whole payload was copied in at once
  uint64_t submit_off = 0;    // bytes of the range already handed to the engine
  uint32_t parts_submitted = 0;
  uint32_t parts_done = 0;
  bool submit_finished = false;
  ReadShape shape = ReadShape::mixed;
  uint32_t error = 0;  // wire errno; the first error wins
  uint32_t rx_have = 0;
  uint8_t niov = 0;
  size_t reply_len = 0;
  iovec iov[2 * kMaxReadChunks + 1];
  alignas(8) uint8_t scratch[kChunkHeaderSize + 4 + 8 * kMaxExtents];
};

class Connection {
 public:
  Connection(int fd, ThreadCtx& ctx, unsigned nslots, int64_t now_ns);
  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  void on_input();
  void on_part_done(Slot* s, Status st);
  void flush();
  void begin_shutdown();
  // Closes the socket now; requests in the engine still end, their replies are dropped.
  void abort() { die(); }
  void on_socket_event(bool readable, bool writable, bool hangup);
  // Closes the connection when it has been handshaking or stalled (see ConnPolicy) for too
  // long; called by the I/O thread every so often. Returns true when it closed it.
  bool check_timeouts(int64_t now_ns);

  bool finished() const noexcept { return state_ == State::dead && in_use_ == 0; }
  unsigned in_use() const noexcept { return in_use_; }
  int fd() const noexcept { return fd_; }

 private:
  enum class State { handshake, transmission, draining, dead };
  static constexpr size_t kInBuf = 256u << 10;
  // Input buffer while handshaking: Handshake::feed takes every byte it is given.
  static constexpr size_t kHsInBuf = 4u << 10;
  // Handshake output past which the connection stops reading options; it is fed at most
  // kHsFeedStep bytes at a time, each of which adds at most kHsOutSlack of replies (a
  // 16-byte option can produce a reply with a 4 KiB name and a 4 KiB description).
  static constexpr size_t kMaxHsOut = 64u << 10;
  static constexpr size_t kHsFeedStep = 64;
  static constexpr size_t kHsOutSlack = (kHsFeedStep / 16) * (12u << 10);
  // A WRITE at least this long puts the connection in large-write mode (see fill()).
  static constexpr uint32_t kBigWrite = 128u << 10;

  void handshake_input();
  bool start_tls();
  bool drained(size_t got, size_t asked) const noexcept;
  void enter_transmission();
  size_t payload_share() const noexcept;
  bool waiting_on_peer() const noexcept;
  bool handle_header();
  bool receive_payload();
  bool discard_payload();
  bool fill();
  bool start(Slot* s);
  bool pump(Slot* s);
  bool get_buffer(Slot* s);
  bool get_write_buffer(Slot* s);
  void complete(Slot* s);
  void build_reply(Slot* s);
  void build_read_reply(Slot* s);
  void build_block_status_reply(Slot* s);
  void enqueue(Slot* s);
  Slot* alloc_slot() noexcept;
  void release(Slot* s) noexcept;
  void die();
  void block() noexcept;
  void mark_dirty() noexcept;
  unsigned slot_limit() const noexcept;
  bool flush_handshake();
  size_t in_len() const noexcept { return in_tail_ - in_head_; }

  int fd_;
  ThreadCtx& ctx_;
  State state_ = State::handshake;
  std::unique_ptr<Handshake> hs_;
  // Set once the client's NBD_OPT_STARTTLS was answered; all I/O goes through it after.
  std::unique_ptr<TlsSession> tls_;
  Negotiated neg_;
  bool readable_ = false;
  // The peer shut down its side (EPOLLRDHUP/HUP): reads go on until recv says 0, as no
  // further edge will come for that EOF.
  bool peer_closed_ = false;
  bool in_retry_ = false;
  bool in_ready_ = false;
  bool in_dirty_ = false;
  bool big_writes_ = false;  // the last WRITE was >= kBigWrite

  std::unique_ptr<uint8_t[]> in_;
  size_t in_cap_ = kHsInBuf;
  size_t in_head_ = 0;
  size_t in_tail_ = 0;

  std::unique_ptr<Slot[]> slots_;
  unsigned nslots_;
  Slot* free_ = nullptr;
  unsigned in_use_ = 0;
  size_t payload_bytes_ = 0;

  Slot* rx_ = nullptr;
  Slot* discard_ = nullptr;
  uint32_t discard_left_ = 0;
  Slot* pending_ = nullptr;

  Slot* send_head_ = nullptr;
  Slot* send_tail_ = nullptr;
  size_t send_off_ = 0;
  std::string hs_out_;
  size_t hs_out_off_ = 0;

  // Timeouts (check_timeouts): bytes moved count as progress.
  int64_t born_ns_;
  uint64_t progress_ = 0;       // bumped by every receive or send that moved bytes
  uint64_t seen_progress_ = 0;  // progress_ at the last check
  int64_t calm_since_;          // the last check that saw progress, or nothing to wait for
};

}  // namespace mqblk::nbd
