#include "nbd/connection.hpp"

#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstdio>
#include <cstring>

#include "nbd/protocol.hpp"
#include "nbd/reply.hpp"
#include "nbd/tls.hpp"

namespace mqblk::nbd {

Connection::Connection(int fd, ThreadCtx& ctx, unsigned nslots, int64_t now_ns)
    : fd_(fd),
      ctx_(ctx),
      hs_(std::make_unique<Handshake>(ctx.exp)),
      in_(new uint8_t[kHsInBuf]),
      nslots_(nslots),
      born_ns_(now_ns),
      calm_since_(now_ns) {
  ctx_.nconns++;
  hs_out_ = std::move(hs_->output());
  hs_->output().clear();
}

// The slots and the full-size input buffer, allocated only now: a connection that never
// finishes its handshake costs a few KiB.
void Connection::enter_transmission() {
  slots_.reset(new Slot[nslots_]);
  for (unsigned i = nslots_; i-- > 0;) {
    slots_[i].conn = this;
    slots_[i].next = free_;
    free_ = &slots_[i];
  }
  std::unique_ptr<uint8_t[]> big(new uint8_t[kInBuf]);
  std::memcpy(big.get(), in_.get() + in_head_, in_len());  // a pipelined first request
  in_tail_ = in_len();
  in_head_ = 0;
  in_ = std::move(big);
  in_cap_ = kInBuf;
}

Connection::~Connection() {
  if (fd_ >= 0) ::close(fd_);
  ctx_.nconns--;
}

// With several connections on a thread, none may hold more than half of the slots' worth
// of tags, so that a busy client cannot starve a quiet one; retry order is FIFO.
unsigned Connection::slot_limit() const noexcept {
  return ctx_.nconns > 1 ? std::max(1u, nslots_ / 2) : nslots_;
}

Slot* Connection::alloc_slot() noexcept {
  Slot* s = free_;
  free_ = s->next;
  s->next = nullptr;
  s->buf = nullptr;
  s->direct = false;
  s->landed_whole = false;
  s->submit_off = 0;
  s->parts_submitted = s->parts_done = 0;
  s->submit_finished = false;
  s->shape = ReadShape::mixed;
  s->error = 0;
  s->rx_have = 0;
  s->niov = 0;
  in_use_++;
  return s;
}

void Connection::release(Slot* s) noexcept {
  if (s->direct) {
    // The payload went straight into the device. Unless all of it was written, the device
    // must forget the stray bytes (see BlockDevice::direct_window).
    const bool written = s->submit_finished && s->error == 0 && s->submit_off >= s->req.length &&
                         s->parts_done == s->parts_submitted;
    // A payload that landed whole over data is the write the client sent, never a torn
    // one; clearing it would turn old data into zeros, so it stays.
    if (!written && s->rx_have != 0 && !s->landed_whole)
      ctx_.dev.abandon_window(s->req.offset, s->rx_have);
    s->direct = false;
    s->landed_whole = false;
    s->buf = nullptr;
  }
  if (s->buf) {
    payload_bytes_ -= PayloadPool::class_size(s->buf_cls);
    ctx_.pool.put(s->buf, s->buf_cls);
    s->buf = nullptr;
  }
  s->next = free_;
  free_ = s;
  in_use_--;
  ctx_.released++;
}

void Connection::block() noexcept {
  if (!in_retry_) {
    in_retry_ = true;
    ctx_.retry.push_back(this);
  }
}

void Connection::mark_dirty() noexcept {
  if (!in_dirty_) {
    in_dirty_ = true;
    ctx_.dirty.push_back(this);
  }
}

void Connection::on_socket_event(bool readable, bool writable, bool hangup) {
  if (hangup) peer_closed_ = true;
  if (readable || hangup) readable_ = true;
  if (writable) flush();
  // A handshake that stopped for its output to drain may have input left over; a TLS
  // handshake may have waited for the socket to take its output.
  const bool tls_waits = writable && tls_ && !tls_->established();
  if (readable_ || tls_waits || (state_ == State::handshake && in_len() != 0)) on_input();
}

// What the connection holds that only its peer can free: a payload buffer being filled, a
// refused payload being skipped, replies (and their slots and buffers) not yet taken.
bool Connection::waiting_on_peer() const noexcept {
  return (rx_ && rx_->buf) || discard_ || send_head_ || hs_out_off_ < hs_out_.size();
}

bool Connection::check_timeouts(int64_t now) {
  if (state_ == State::dead) return false;
  const ConnPolicy& p = ctx_.policy;
  if (state_ == State::handshake && p.handshake_timeout_ns > 0 &&
      now - born_ns_ >= p.handshake_timeout_ns) {
    die();
    return true;
  }
  if (p.stall_timeout_ns <= 0 || progress_ != seen_progress_ || !waiting_on_peer()) {
    seen_progress_ = progress_;
    calm_since_ = now;  // the last byte moved by now: a stall starts no earlier
    return false;
  }
  if (now - calm_since_ < p.stall_timeout_ns) return false;
  die();  // its buffers go back now, or when the driver lets go of them
  return true;
}

// ---------------------------------------------------------------- input

bool Connection::fill() {
  if (!readable_) return false;
  if (in_head_ == in_tail_) {
    in_head_ = in_tail_ = 0;
  } else if (in_tail_ == in_cap_ || in_head_ > in_cap_ / 2) {
    std::memmove(in_.get(), in_.get() + in_head_, in_len());
    in_tail_ -= in_head_;
    in_head_ = 0;
  }
  size_t want = in_cap_ - in_tail_;
  // Streaming large writes: take just the next header, so that its payload is received
  // straight into its own buffer (receive_payload) rather than copied out of this one.
  if (big_writes_ && in_len() < kRequestHeaderSize)
    want = std::min(want, kRequestHeaderSize - in_len());
  ssize_t n = tls_ ? tls_->recv(in_.get() + in_tail_, want)
                   : ::recv(fd_, in_.get() + in_tail_, want, MSG_DONTWAIT);
  if (n > 0) {
    progress_++;
    in_tail_ += static_cast<size_t>(n);
    // A short read drained the socket; the next arrival raises a new edge-triggered event.
    // Not so for an EOF that came with the data: its edge is spent, so read on to the 0.
    if (drained(static_cast<size_t>(n), want)) readable_ = false;
    return true;
  }
  if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
    readable_ = false;
    return false;
  }
  if (n < 0 && errno == EINTR) return true;
  die();  // EOF or a socket error: the peer is gone
  return false;
}

void Connection::on_input() {
  in_retry_ = false;
  in_ready_ = false;
  if (state_ == State::handshake) {
    handshake_input();
    if (state_ != State::transmission) return;
  }
  // Bound the work per call so that one busy client cannot hold the thread: after a few
  // receives the connection goes to the back of the retry list.
  int receives = 0;
  while (state_ == State::transmission) {
    if (pending_) {
      if (!start(pending_)) return;
      pending_ = nullptr;
      continue;
    }
    if (rx_) {
      if (!receive_payload()) return;
      continue;
    }
    if (discard_) {
      if (!discard_payload()) return;
      continue;
    }
    if (in_len() >= kRequestHeaderSize) {
      if (!handle_header()) return;
      continue;
    }
    if (receives++ == 4) {
      if (readable_ && !in_ready_) {
        in_ready_ = true;
        ctx_.ready.push_back(this);
      }
      return;
    }
    if (!fill()) return;
  }
}

// NBD_OPT_STARTTLS was acknowledged: the ACK goes out in the clear, then the TLS handshake
// runs as far as the socket allows (socket events drive it on). Returns true once TLS is
// up and options go on inside it; false while it waits for the socket, or when the
// connection died (a failed handshake: one line on stderr).
bool Connection::start_tls() {
  if (!tls_) {
    if (in_len() != 0) {
      // The client may send nothing after STARTTLS until it has the reply. Bytes sent in
      // the clear before the TLS handshake could have been injected by anyone on the path:
      // they are never taken as options, nor as part of TLS.
      std::fprintf(stderr,
                   "mqblk: TLS: a client sent data before the reply to NBD_OPT_STARTTLS: "
                   "connection closed\n");
      die();
      return false;
    }
    if (!flush_handshake()) return false;  // EPOLLOUT resumes
    if (!ctx_.exp.tls_server) {
      die();
      return false;
    }
    try {
      tls_ = std::make_unique<TlsSession>(*ctx_.exp.tls_server, fd_);
    } catch (const std::exception& e) {
      std::fprintf(stderr, "mqblk: TLS: %s: connection closed\n", e.what());
      die();
      return false;
    }
  }
  switch (tls_->handshake()) {
    case TlsSession::Step::again:
      if (!tls_->wants_write()) readable_ = false;  // the socket was drained: an edge comes
      return false;
    case TlsSession::Step::failed:
      std::fprintf(stderr, "mqblk: TLS handshake with a client failed: %s\n", tls_->why().c_str());
      die();
      return false;
    case TlsSession::Step::done: break;
  }
  hs_->tls_started();
  readable_ = true;  // records that came with the handshake's last may wait inside GnuTLS
  return true;
}

// Whether a receive that got `got` of `asked` bytes emptied the socket (then a new edge
// will announce the next bytes). TLS says so itself: GnuTLS may hold bytes it has read.
bool Connection::drained(size_t got, size_t asked) const noexcept {
  if (peer_closed_) return false;
  return tls_ ? tls_->drained() : got < asked;
}

void Connection::handshake_input() {
  while (state_ == State::handshake) {
    if (hs_->state() == Handshake::State::starttls && !start_tls()) return;
    // A client that sends options without reading the replies is not read any further
    // until they have drained (EPOLLOUT resumes it): output stays bounded.
    if (hs_out_.size() - hs_out_off_ >= kMaxHsOut && !flush_handshake()) return;
    if (in_len() == 0 && !fill()) break;
    // Small steps, so that one call adds at most kHsOutSlack of output.
    size_t used = hs_->feed(in_.get() + in_head_, std::min(in_len(), kHsFeedStep));
    in_head_ += used;
    hs_out_ += hs_->output();
    hs_->output().clear();
    if (hs_->state() == Handshake::State::transmission) {
      neg_ = hs_->negotiated();
      hs_.reset();
      enter_transmission();
      state_ = State::transmission;
    } else if (hs_->state() == Handshake::State::closed) {
      flush_handshake();  // best effort: ABORT's ACK, say
      die();
      return;
    }
  }
  if (state_ != State::dead) flush_handshake();
}

bool Connection::handle_header() {
  if (!free_ || in_use_ >= slot_limit()) {
    block();  // resumed when a reply has been sent and its slot freed
    return false;
  }
  Request r;
  if (!parse_request(in_.get() + in_head_, r)) {
    die();  // out of step with the client: nothing after this can be trusted
    return false;
  }
  in_head_ += kRequestHeaderSize;
  Plan p = plan_request(r, ctx_.exp, neg_);
  switch (p.action) {
    case Action::disconnect:
      state_ = State::draining;
      if (in_use_ == 0) die();
      return false;
    case Action::close: die(); return false;
    case Action::reply_error: {
      Slot* s = alloc_slot();
      s->req = r;
      s->error = p.error;
      complete(s);
      return true;
    }
    case Action::discard_then_error: {
      Slot* s = alloc_slot();
      s->req = r;
      s->error = p.error;
      discard_ = s;
      discard_left_ = r.length;
      return true;
    }
    case Action::execute: {
      Slot* s = alloc_slot();
      s->req = r;
      if (r.type == kCmdWrite) {
        big_writes_ = r.length >= kBigWrite;
        rx_ = s;
      } else {
        pending_ = s;
      }
      return true;
    }
  }
  return false;
}

// A connection's share of its thread's pool: half while it is alone on the thread, a
// quarter otherwise.
size_t Connection::payload_share() const noexcept {
  return ctx_.nconns > 1 ? ctx_.pool.cap() / 4 : ctx_.pool.cap() / 2;
}

bool Connection::get_buffer(Slot* s) {
  size_t len = s->req.length;
  // Sharing: a connection that holds nothing may take any buffer that fits, so a lone
  // large request always gets through. One that holds some may take more only up to its
  // share, and only while a quarter of the pool stays free for the other connections. So
  // fewer than four connections, however hostile, cannot take all of it; more than that
  // are cut off by the stall timeout once they stop moving bytes (ConnPolicy).
  size_t sz = PayloadPool::class_size(PayloadPool::class_of(len));
  const size_t cap = ctx_.pool.cap();
  if (payload_bytes_ != 0 &&
      (payload_bytes_ + sz > payload_share() || ctx_.pool.bytes_in_use() + sz > cap - cap / 4)) {
    block();
    return false;
  }
  s->buf = ctx_.pool.get(len, s->buf_cls);
  if (!s->buf) {
    block();
    return false;
  }
  payload_bytes_ += PayloadPool::class_size(s->buf_cls);
  return true;
}

// A WRITE's payload goes straight into the device's memory where the device lends it
// (BlockDevice::direct_window) and the range holds no data yet: one copy (socket to store)
// instead of two, and no pool memory held while it arrives. A payload cut short there only
// touched blocks that held nothing, which abandon_window() clears again. Over data, a
// payload already whole in the input buffer goes straight in as well (receive_payload
// copies it at once, so nothing torn can land); any other waits for a pool buffer: a write
// changes data only once it arrived whole.
// (A second write racing into the same range meanwhile is the clients' race, as in NBD.)
bool Connection::get_write_buffer(Slot* s) {
  if (std::byte* w = ctx_.dev.direct_window(s->req.offset, s->req.length)) {
    const bool whole_here = in_len() >= s->req.length;
    auto all_hole = [&] {
      Extent x = ctx_.dev.block_status(s->req.offset, s->req.length);
      return x.hole && x.length >= s->req.length;
    };
    if (whole_here || all_hole()) {
      s->buf = w;
      s->direct = true;
      s->landed_whole = whole_here;
      return true;
    }
  }
  return get_buffer(s);
}

bool Connection::receive_payload() {
  Slot* s = rx_;
  if (!s->buf && !get_write_buffer(s)) return false;
  uint32_t want = s->req.length - s->rx_have;
  size_t take = std::min<size_t>(want, in_len());
  std::memcpy(s->buf + s->rx_have, in_.get() + in_head_, take);
  in_head_ += take;
  s->rx_have += static_cast<uint32_t>(take);
  want -= static_cast<uint32_t>(take);
  if (want == 0) {
    rx_ = nullptr;
    pending_ = s;
    return true;
  }
  if (want < kInBuf / 2 && !big_writes_) return fill();
  // Large payloads go straight into their buffer, skipping the copy; the same recvmsg
  // brings what follows into the input buffer. While the client streams large writes, only
  // the next request header is taken that way, so that its payload lands in its own
  // buffer too instead of being copied out of the input buffer.
  if (!readable_) return false;
  in_head_ = in_tail_ = 0;  // everything in it was payload, taken above
  iovec iov[2] = {{s->buf + s->rx_have, want},
                  {in_.get(), big_writes_ ? kRequestHeaderSize : kInBuf}};
  msghdr m{};
  m.msg_iov = iov;
  m.msg_iovlen = 2;
  const size_t asked = iov[0].iov_len + iov[1].iov_len;
  // TLS decrypts straight into the payload buffer (the header after it comes by fill()).
  ssize_t n = tls_ ? tls_->recv(iov[0].iov_base, want) : ::recvmsg(fd_, &m, MSG_DONTWAIT);
  if (n > 0) {
    progress_++;
    size_t got = static_cast<size_t>(n);
    size_t into_buf = std::min<size_t>(got, want);
    s->rx_have += static_cast<uint32_t>(into_buf);
    in_tail_ = got - into_buf;
    if (drained(got, asked)) readable_ = false;
    return true;
  }
  if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
    readable_ = false;
    return false;
  }
  if (n < 0 && errno == EINTR) return true;
  die();
  return false;
}

bool Connection::discard_payload() {
  size_t take = std::min<size_t>(discard_left_, in_len());
  in_head_ += take;
  discard_left_ -= static_cast<uint32_t>(take);
  if (discard_left_ == 0) {
    Slot* s = discard_;
    discard_ = nullptr;
    complete(s);
    return true;
  }
  return fill();
}

// ---------------------------------------------------------------- engine

bool Connection::start(Slot* s) {
  switch (s->req.type) {
    case kCmdRead:
      if (ctx_.policy.zero_reads) {
        // The device leaves the buffer as it was, which may be another client's payload:
        // the read still goes to the device (its timing, its errors), over zeros.
        if (!s->buf) {
          if (!get_buffer(s)) return false;
          std::memset(s->buf, 0, s->req.length);
          s->shape = ReadShape::data;
        }
        return pump(s);
      }
      if (neg_.structured_replies && s->parts_submitted == 0 && !s->buf) {
        // One allocation query before the read: a range that is all hole is answered with
        // one hole chunk and never read (no buffer, no zero-fill, no data on the wire); a
        // range that is all data is answered with one data chunk and not queried again.
        // Either is correct for every block: a write that changes the answer between now
        // and the reply overlaps the read, so the old contents are as valid as the new.
        Extent x = ctx_.dev.block_status(s->req.offset, s->req.length);
        s->shape = ReadShape::mixed;
        if (x.length >= s->req.length) {
          bool hole = x.hole || x.zero;
          if (hole && !(s->req.flags & kCmdFlagDf)) {
            s->shape = ReadShape::hole;
            s->submit_finished = true;
            complete(s);
            return true;
          }
          if (!hole) s->shape = ReadShape::data;
        }
      }
      if (!s->buf && !get_buffer(s)) return false;
      return pump(s);
    case kCmdWrite:
    case kCmdFlush:
    case kCmdTrim:
    case kCmdWriteZeroes: return pump(s);
    default:
      // CACHE (a memory device is always "cached") and BLOCK_STATUS are answered now.
      complete(s);
      return true;
  }
}

bool Connection::pump(Slot* s) {
  const ExportInfo& e = ctx_.exp;
  const Request& r = s->req;
  IoDesc d;
  uint64_t max_part = e.max_rw_part;
  switch (r.type) {
    case kCmdRead: d.op = Op::read; break;
    case kCmdWrite: d.op = Op::write; break;
    case kCmdFlush: d.op = Op::flush; break;
    case kCmdTrim:
      d.op = Op::discard;
      max_part = e.max_trim_part;
      break;
    default:
      d.op = Op::write_zeroes;
      max_part = e.max_zero_part;
      if (r.flags & kCmdFlagNoHole) d.flags |= kReqNoUnmap;
      break;
  }
  d.flags |= kReqNoWait;
  if ((r.flags & kCmdFlagFua) && e.fua && d.op != Op::flush) d.flags |= kReqFua;
  while (!s->submit_finished) {
    if (d.op == Op::flush) {
      d.offset = 0;
      d.len = 0;
    } else {
      uint64_t left = r.length - s->submit_off;
      d.offset = r.offset + s->submit_off;
      d.len = static_cast<uint32_t>(std::min<uint64_t>(left, max_part));
      d.buf = s->buf ? s->buf + s->submit_off : nullptr;
    }
    Status st = ctx_.q.submit(d, reinterpret_cast<uintptr_t>(s));
    if (st == Status::busy) {
      block();  // out of tags: resumed after the next completion
      return false;
    }
    if (st != Status::ok) {
      if (!s->error) s->error = wire_error(st);
      s->submit_finished = true;
      break;
    }
    s->parts_submitted++;
    s->submit_off += d.len;
    if (d.op == Op::flush || s->submit_off >= r.length) s->submit_finished = true;
  }
  if (s->parts_done == s->parts_submitted) complete(s);
  return true;
}

void Connection::on_part_done(Slot* s, Status st) {
  s->parts_done++;
  if (st != Status::ok && !s->error) s->error = wire_error(st);
  if (s->submit_finished && s->parts_done == s->parts_submitted) complete(s);
}

// ---------------------------------------------------------------- replies

void Connection::complete(Slot* s) {
  if (state_ == State::dead) {
    release(s);
    return;
  }
  build_reply(s);
  enqueue(s);
}

void Connection::enqueue(Slot* s) {
  s->next = nullptr;
  if (send_tail_)
    send_tail_->next = s;
  else
    send_head_ = s;
  send_tail_ = s;
  mark_dirty();
}

void Connection::build_reply(Slot* s) {
  const Request& r = s->req;
  uint8_t* sc = s->scratch;
  if (s->error) {
    size_t n = (neg_.structured_replies && (r.type == kCmdRead || r.type == kCmdBlockStatus))
                   ? encode_error_chunk(sc, r.cookie, s->error)
                   : encode_simple_reply(sc, s->error, r.cookie);
    s->iov[0] = {sc, n};
    s->niov = 1;
    s->reply_len = n;
    return;
  }
  if (r.type == kCmdRead) return build_read_reply(s);
  if (r.type == kCmdBlockStatus) return build_block_status_reply(s);
  size_t n = encode_simple_reply(sc, 0, r.cookie);
  s->iov[0] = {sc, n};
  s->niov = 1;
  s->reply_len = n;
}

void Connection::build_read_reply(Slot* s) {
  const Request& r = s->req;
  uint8_t* sc = s->scratch;
  if (!neg_.structured_replies) {
    size_t n = encode_simple_reply(sc, 0, r.cookie);
    s->iov[0] = {sc, n};
    s->iov[1] = {s->buf, r.length};
    s->niov = 2;
    s->reply_len = n + r.length;
    return;
  }
  if (s->shape == ReadShape::hole) {
    size_t n = encode_hole_chunk(sc, true, r.cookie, r.offset, r.length);
    s->iov[0] = {sc, n};
    s->niov = 1;
    s->reply_len = n;
    return;
  }
  // A range the first query found mixed is split into data and hole pieces, queried again
  // after the read completed (see start() for why either moment is correct). Holes shorter
  // than kMinHoleChunk stay inside data pieces: the buffer holds their zeros already.
  struct Piece {
    uint64_t off;
    uint32_t len;
    bool hole;
  };
  Piece pieces[kMaxReadChunks];
  unsigned np = 0;
  const uint64_t end = r.offset + r.length;
  uint64_t off = r.offset;
  if ((r.flags & kCmdFlagDf) || s->shape == ReadShape::data) {
    pieces[np++] = {off, r.length, false};  // DF: one chunk, unfragmented
    off = end;
  }
  while (off < end) {
    uint64_t left = end - off;
    bool hole = false;
    uint64_t len = left;
    if (np < kMaxReadChunks - 1) {
      Extent x = ctx_.dev.block_status(off, left);
      if (x.length != 0) {
        len = std::min(x.length, left);
        hole = (x.hole || x.zero) && (len >= kMinHoleChunk || len == r.length);
      }
    }
    if (np && pieces[np - 1].hole == hole) {
      pieces[np - 1].len += static_cast<uint32_t>(len);
    } else {
      pieces[np++] = {off, static_cast<uint32_t>(len), hole};
    }
    off += len;
  }
  unsigned niov = 0;
  size_t total = 0;
  for (unsigned i = 0; i < np; i++) {
    bool done = i + 1 == np;
    const Piece& p = pieces[i];
    if (p.hole) {
      size_t n = encode_hole_chunk(sc, done, r.cookie, p.off, p.len);
      s->iov[niov++] = {sc, n};
      sc += n;
      total += n;
    } else {
      size_t n = encode_data_chunk(sc, done, r.cookie, p.off, p.len);
      s->iov[niov++] = {sc, n};
      s->iov[niov++] = {s->buf + (p.off - r.offset), p.len};
      sc += n;
      total += n + p.len;
    }
  }
  s->niov = static_cast<uint8_t>(niov);
  s->reply_len = total;
}

void Connection::build_block_status_reply(Slot* s) {
  const Request& r = s->req;
  uint8_t* sc = s->scratch;
  const unsigned max = (r.flags & kCmdFlagReqOne) ? 1 : kMaxExtents;
  uint8_t* desc = sc + kChunkHeaderSize + 4;
  uint32_t lens[kMaxExtents];
  uint32_t flags[kMaxExtents];
  unsigned n = 0;
  const uint64_t end = r.offset + r.length;
  uint64_t off = r.offset;
  if (ctx_.policy.zero_reads) {  // what its reads return: zeros, as nbdkit's null plugin
    lens[n] = r.length;
    flags[n++] = kStateHole | kStateZero;
    off = end;
  }
  while (off < end) {
    Extent x = ctx_.dev.block_status(off, end - off);
    uint64_t len = x.length ? std::min(x.length, end - off) : end - off;
    uint32_t f = (x.hole ? kStateHole : 0) | ((x.zero || x.hole) ? kStateZero : 0);
    if (n && flags[n - 1] == f) {
      lens[n - 1] += static_cast<uint32_t>(len);
    } else if (n == max) {
      break;
    } else {
      lens[n] = static_cast<uint32_t>(len);
      flags[n] = f;
      n++;
    }
    off += len;
  }
  for (unsigned i = 0; i < n; i++) desc += encode_extent(desc, lens[i], flags[i]);
  size_t hdr = encode_block_status_header(sc, r.cookie, kBaseAllocationId, n);
  size_t total = hdr + size_t{8} * n;
  s->iov[0] = {sc, total};
  s->niov = 1;
  s->reply_len = total;
}

// ---------------------------------------------------------------- output

bool Connection::flush_handshake() {
  while (hs_out_off_ < hs_out_.size()) {
    const char* p = hs_out_.data() + hs_out_off_;
    const size_t len = hs_out_.size() - hs_out_off_;
    ssize_t n = tls_ ? tls_->send(p, len) : ::send(fd_, p, len, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n > 0) {
      progress_++;
      hs_out_off_ += static_cast<size_t>(n);
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return false;
    die();
    return false;
  }
  hs_out_.clear();
  hs_out_off_ = 0;
  return true;
}

void Connection::flush() {
  in_dirty_ = false;
  if (state_ == State::dead) return;
  if (!hs_out_.empty() && !flush_handshake()) return;
  if (tls_ && tls_->blocked() && !tls_->flush_pending()) {  // records GnuTLS still holds
    if (errno != EAGAIN) die();
    return;
  }
  constexpr int kBatch = 512;
  iovec iov[kBatch];
  while (send_head_) {
    int n = 0;
    size_t total = 0;
    for (Slot* s = send_head_; s && n + s->niov <= kBatch; s = s->next) {
      for (unsigned i = 0; i < s->niov; i++) iov[n++] = s->iov[i];
      total += s->reply_len;
    }
    // Skip what a previous partial send already sent.
    int first = 0;
    for (size_t skip = send_off_; skip > 0;) {
      if (skip >= iov[first].iov_len) {
        skip -= iov[first].iov_len;
        first++;
      } else {
        iov[first].iov_base = static_cast<char*>(iov[first].iov_base) + skip;
        iov[first].iov_len -= skip;
        skip = 0;
      }
    }
    const size_t attempted = total - send_off_;
    msghdr m{};
    m.msg_iov = iov + first;
    m.msg_iovlen = static_cast<size_t>(n - first);
    ssize_t sent = tls_ ? tls_->sendv(m.msg_iov, static_cast<int>(m.msg_iovlen))
                        : ::sendmsg(fd_, &m, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (sent < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) return;  // EPOLLOUT resumes us
      die();
      return;
    }
    if (sent > 0) progress_++;
    size_t done = send_off_ + static_cast<size_t>(sent);
    while (send_head_ && done >= send_head_->reply_len) {
      Slot* s = send_head_;
      done -= s->reply_len;
      send_head_ = s->next;
      if (!send_head_) send_tail_ = nullptr;
      release(s);
    }
    send_off_ = done;
    // The socket is full: EPOLLOUT resumes. (TLS takes at most a batch at a time, and
    // says itself when the socket is full.)
    if (static_cast<size_t>(sent) < attempted && (!tls_ || tls_->blocked())) return;
  }
  if (tls_ && tls_->blocked()) return;  // the last replies are still in GnuTLS: EPOLLOUT
  if (state_ == State::draining && in_use_ == 0) die();
}

// ---------------------------------------------------------------- teardown

void Connection::begin_shutdown() {
  if (state_ == State::dead) return;
  if (state_ == State::handshake) {
    die();
    return;
  }
  // Requests already started finish and are answered; half-received ones are dropped.
  state_ = State::draining;
  if (rx_) {
    release(rx_);
    rx_ = nullptr;
  }
  if (discard_) {
    release(discard_);
    discard_ = nullptr;
  }
  if (pending_ && pending_->parts_submitted == 0) {
    release(pending_);
    pending_ = nullptr;
  }
  if (pending_) {
    // Part of it reached the engine: answer it, as an error, once those parts are back.
    Slot* s = pending_;
    pending_ = nullptr;
    s->submit_finished = true;
    if (!s->error) s->error = kEshutdown;
    if (s->parts_done == s->parts_submitted) complete(s);
  }
  if (in_use_ == 0) die();
}

void Connection::die() {
  if (state_ == State::dead) return;
  state_ = State::dead;
  if (tls_) tls_->bye();  // close_notify, if the socket takes it now
  tls_.reset();
  if (fd_ >= 0) {
    ::close(fd_);  // also removes it from the epoll set
    fd_ = -1;
  }
  // Drop everything that is not in the engine's hands; in-flight parts come back through
  // on_part_done() and complete() releases them then.
  while (send_head_) {
    Slot* s = send_head_;
    send_head_ = s->next;
    release(s);
  }
  send_tail_ = nullptr;
  if (rx_) release(rx_);
  if (discard_) release(discard_);
  rx_ = discard_ = nullptr;
  if (pending_) {
    Slot* s = pending_;
    pending_ = nullptr;
    s->submit_finished = true;
    if (s->parts_done == s->parts_submitted) release(s);
  }
  hs_.reset();
}

}  // namespace mqblk::nbd
