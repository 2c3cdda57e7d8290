// drivers/file/file_driver.cpp - the io_uring side of the file driver: preparing SQEs,
// the reaper threads, and the steps a request goes through.
#include "drivers/file/file_driver.hpp"

#include <fmt/format.h>
#include <linux/falloc.h>
#include <linux/fs.h>
#include <sys/ioctl.h>

#include <bit>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <ctime>

namespace mqblk::file {
namespace {

// user_data values that name no request: real ids have a hardware queue below 256.
constexpr uint64_t kCancelMark = RequestId::make(0xFFF, 0, 0).raw();
constexpr uint64_t kStopMark = RequestId::make(0xFFF, 1, 0).raw();
// A read or write io_uring answers EAGAIN is tried again this many times before it fails:
// io_uring retries that itself for files, so this is a guard, not a path. (Not EINTR: an
// operation interrupted by the timeout's cancel must come back, not run again.)
constexpr uint8_t kMaxRetries = 8;
// How often the reaper looks for completions while submitters watch the ring: the latency
// a completion can wait when its watcher is busy elsewhere (a bench job between waits
// reaps sooner). Timeouts are far longer.
constexpr long kFallbackReapNs = 1'000'000;

Status status_of(int res) noexcept {
  switch (-res) {
    case ENOSPC:
    case EDQUOT: return Status::nospc;
    case EOPNOTSUPP: return Status::notsupp;
    case EROFS:
    case EBADF: return Status::readonly;
    case ECANCELED:
    case EINTR: return Status::cancelled;
    case EINVAL: return Status::inval;
    default: return Status::ioerr;
  }
}

}  // namespace

FileDriver::FileDriver(std::shared_ptr<Backing> backing, unsigned nr_queues, unsigned depth)
    : backing_(std::move(backing)),
      direct_index_(0),
      mem_align_mask_(backing_->direct() ? backing_->mem_align_mask() : 0),
      block_device_(backing_->block_device()) {
  const unsigned entries = std::bit_ceil(depth * 2 + 8);
  for (unsigned q = 0; q < nr_queues; ++q) {
    auto r = std::make_unique<Ring>();
    io_uring_params p{};
    p.flags = IORING_SETUP_CQSIZE | IORING_SETUP_SUBMIT_ALL;
    p.cq_entries = entries * 2;
    int rc = io_uring_queue_init_params(entries, &r->ring, &p);
    if (rc < 0) {
      stop_reapers();
      throw ConfigError(fmt::format(
          "file: cannot create an io_uring of {} entries: {}{}", entries, errno_text(-rc),
          rc == -ENOMEM ? " (raise RLIMIT_MEMLOCK or lower hw_queue_depth)" : ""));
    }
    r->ready = true;
    // Index 0: the descriptor I/O uses (O_DIRECT when direct); 1: the buffered one.
    int fds[2] = {backing_->fd(), backing_->fd_buffered()};
    rc = io_uring_register_files(&r->ring, fds, 2);
    if (rc < 0) {
      rings_.push_back(std::move(r));
      stop_reapers();
      throw ConfigError(
          fmt::format("file: cannot register the file with io_uring: {}", errno_text(-rc)));
    }
    rings_.push_back(std::move(r));
  }
}

FileDriver::~FileDriver() { stop_reapers(); }

// The Device has waited for every request before its driver is destroyed: the rings are
// idle. A NOP marked stop ends each reaper after everything before it.
void FileDriver::stop_reapers() noexcept {
  for (auto& r : rings_) {
    if (r->reaper.joinable()) {
      {
        std::lock_guard lk(r->sq_lock);
        io_uring_sqe* sqe = io_uring_get_sqe(&r->ring);
        if (!sqe) {
          io_uring_submit(&r->ring);
          sqe = io_uring_get_sqe(&r->ring);
        }
        if (sqe) {
          io_uring_prep_nop(sqe);
          sqe->user_data = kStopMark;
          io_uring_submit(&r->ring);
        }
      }
      r->reaper.join();
    }
    if (r->ready) io_uring_queue_exit(&r->ring);
    r->ready = false;
  }
}

void FileDriver::init_hctx(Hctx<FileDriver>& h) {
  Ring& r = *rings_[h.index()];
  r.hctx = &h;
  r.reaper = std::thread([this, &r] { reap_loop(r); });
}

// Teardown already ended every request (cancelled); ask io_uring to cancel what it still
// has so the reaper hands them back sooner. Requests io_uring cannot cancel (a buffered
// read in progress) come back when they finish; teardown waits for them.
void FileDriver::exit_hctx(Hctx<FileDriver>& h) {
  Ring& r = *rings_[h.index()];
  std::lock_guard lk(r.sq_lock);
  io_uring_sqe* sqe = io_uring_get_sqe(&r.ring);
  if (!sqe) return;
  io_uring_prep_cancel64(sqe, 0, IORING_ASYNC_CANCEL_ANY);
  sqe->user_data = kCancelMark;
  io_uring_submit(&r.ring);
  r.pending = false;
}

QueueRqResult<FileDriver> FileDriver::queue_rq(Hctx<FileDriver>& h, Owned<FileDriver> rq,
                                               bool last) {
  FilePdu& p = rq.pdu();
  p.done = 0;
  p.retries = 0;
  switch (rq.op()) {
    case Op::read: p.step = Step::rw; break;
    case Op::write: p.step = (rq.flags() & kReqPreflush) ? Step::preflush : Step::rw; break;
    case Op::flush: p.step = Step::flush; break;
    case Op::discard: p.step = block_device_ ? Step::blk_discard : Step::punch; break;
    case Op::write_zeroes:
      if (!(rq.flags() & kReqNoUnmap))
        p.step = Step::zero_punch;
      else if (zero_range_unsupported_.load(std::memory_order_relaxed))
        p.step = Step::zero_punch_alloc;
      else
        p.step = Step::zero_range;
      break;
    default: std::move(rq).end(Status::notsupp); return QueueRqResult<FileDriver>::accepted();
  }
  Ring& r = *rings_[h.index()];
  std::lock_guard lk(r.sq_lock);
  if (!prepare_locked(r, rq)) return QueueRqResult<FileDriver>::busy(std::move(rq));
  if (last) {
    io_uring_submit(&r.ring);
    r.pending = false;
  } else {
    r.pending = true;
  }
  return QueueRqResult<FileDriver>::accepted();
}

void FileDriver::commit_rqs(Hctx<FileDriver>& h) {
  Ring& r = *rings_[h.index()];
  std::lock_guard lk(r.sq_lock);
  if (!r.pending) return;
  io_uring_submit(&r.ring);
  r.pending = false;
}

TimeoutAction FileDriver::timeout(Hctx<FileDriver>& h, const Borrowed<FileDriver>& rq) {
  Ring& r = *rings_[h.index()];
  std::lock_guard lk(r.sq_lock);
  io_uring_sqe* sqe = io_uring_get_sqe(&r.ring);
  if (sqe) {
    // Names this request's generation: a request that ended meanwhile and whose tag
    // started another is not what it cancels (that finds nothing: -ENOENT).
    io_uring_prep_cancel64(sqe, rq.id().raw(), 0);
    sqe->user_data = kCancelMark;
    io_uring_submit(&r.ring);
    r.pending = false;
  }
  return TimeoutAction::done;
}

// Fills one SQE for rq's current step and parks rq under it. False (rq untouched) when the
// SQ is full even after submitting what it holds. Caller holds r.sq_lock.
bool FileDriver::prepare_locked(Ring& r, Owned<FileDriver>& rq) {
  io_uring_sqe* sqe = io_uring_get_sqe(&r.ring);
  if (!sqe) {
    io_uring_submit(&r.ring);
    r.pending = false;
    sqe = io_uring_get_sqe(&r.ring);
    if (!sqe) return false;
  }
  const FilePdu& p = rq.pdu();
  const uint64_t off = rq.offset();
  const uint32_t len = rq.bytes();
  switch (p.step) {
    case Step::rw: {
      std::byte* buf = rq.data() + p.done;
      // O_DIRECT needs aligned memory; a buffer that is not goes through the page cache.
      const int idx = (reinterpret_cast<uintptr_t>(buf) & mem_align_mask_) ? 1 : direct_index_;
      if (rq.op() == Op::read) {
        io_uring_prep_read(sqe, idx, buf, len - p.done, off + p.done);
      } else {
        io_uring_prep_write(sqe, idx, buf, len - p.done, off + p.done);
        if (rq.fua()) sqe->rw_flags = RWF_DSYNC;
      }
      sqe->flags |= IOSQE_FIXED_FILE;
      break;
    }
    case Step::preflush:
    case Step::flush:
      io_uring_prep_fsync(sqe, 0, IORING_FSYNC_DATASYNC);
      sqe->flags |= IOSQE_FIXED_FILE;
      break;
    case Step::punch:
    case Step::zero_punch:
    case Step::zero_punch_alloc:
      io_uring_prep_fallocate(sqe, 0, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, off, len);
      sqe->flags |= IOSQE_FIXED_FILE;
      break;
    case Step::zero_range:
      io_uring_prep_fallocate(sqe, 0, FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE, off, len);
      sqe->flags |= IOSQE_FIXED_FILE;
      break;
    case Step::zero_alloc:
      io_uring_prep_fallocate(sqe, 0, FALLOC_FL_KEEP_SIZE, off, len);
      sqe->flags |= IOSQE_FIXED_FILE;
      break;
    case Step::blk_discard: io_uring_prep_nop(sqe); break;
  }
  sqe->user_data = std::move(rq).park().raw();
  return true;
}

// The reaper chains the next step of a request it holds.
void FileDriver::resubmit(Ring& r, Owned<FileDriver> rq) {
  std::lock_guard lk(r.sq_lock);
  if (!prepare_locked(r, rq)) {  // cannot happen: the SQ has room for every request
    std::move(rq).end(Status::busy);
    return;
  }
  io_uring_submit(&r.ring);
  r.pending = false;
}

unsigned FileDriver::poll(Hctx<FileDriver>& h) {
  Ring& r = *rings_[h.index()];
  if (!r.cq_lock.try_lock()) return 0;  // the CQ head is read only under cq_lock
  bool stop = false;
  unsigned n = io_uring_cq_ready(&r.ring) ? drain_cq_locked(r, &stop) : 0;
  r.cq_lock.unlock();
  return n;
}

// Handles every CQE there is. *stop: the stop mark was among them.
unsigned FileDriver::drain_cq_locked(Ring& r, bool* stop) {
  unsigned head, n = 0;
  io_uring_cqe* cqe = nullptr;
  io_uring_for_each_cqe(&r.ring, head, cqe) {
    ++n;
    const uint64_t ud = cqe->user_data;
    const int res = cqe->res;
    if (ud == kStopMark)
      *stop = true;
    else if (ud != kCancelMark)
      on_cqe(r, RequestId::from_raw(ud), res);
  }
  io_uring_cq_advance(&r.ring, n);
  return n;
}

// The stop mark is submitted only once the Device has waited for every request, when no
// poll() runs any more: the reaper is the one that sees it. The reaper sleeps in the
// kernel until a CQE is there (io_uring_enter with GETEVENTS reads the CQ head itself)
// rather than peeking at the CQ head, which poll() may be moving under cq_lock.
void FileDriver::reap_loop(Ring& r) {
  for (;;) {
    if (r.watchers.load(std::memory_order_acquire) > 0) {
      // The watchers wake on the ring fd and reap in their poll(): waking here too would
      // cost a wake-up and the CQ lock per completion. Look only for what stays unreaped.
      timespec ts{0, kFallbackReapNs};
      nanosleep(&ts, nullptr);
      // The CQ head is read only under cq_lock (poll() advances it): lock, then look.
      if (!r.cq_lock.try_lock()) continue;
      bool stop = false;
      if (io_uring_cq_ready(&r.ring)) drain_cq_locked(r, &stop);
      r.cq_lock.unlock();
      if (stop) return;
      continue;
    }
    int rc = io_uring_enter(r.ring.ring_fd, 0, 1, IORING_ENTER_GETEVENTS, nullptr);
    const int err = rc == -1 ? errno : -rc;  // -errno, or -1 and errno, by liburing version
    if (rc < 0 && err != EINTR && err != EAGAIN && err != EBUSY) {
      std::fprintf(stderr, "file: queue %u: waiting for io_uring completions failed: %s\n",
                   r.hctx ? r.hctx->index() : 0u, errno_text(err).c_str());
      continue;
    }
    bool stop = false;
    {
      std::lock_guard lk(r.cq_lock);
      drain_cq_locked(r, &stop);
    }
    if (stop) return;
  }
}

void FileDriver::on_cqe(Ring& r, RequestId id, int res) {
  Owned<FileDriver> rq = r.hctx->claim(id);
  if (!rq) {  // an id io_uring gave back twice, or never ours: a bug, not a user's
    std::fprintf(stderr,
                 "file: queue %u: completion for request %u (generation %llu) that is "
                 "not parked here; ignored\n",
                 r.hctx->index(), id.tag(), static_cast<unsigned long long>(id.generation()));
    return;
  }
  FilePdu& p = rq.pdu();
  switch (p.step) {
    case Step::rw:
      if (res == -EAGAIN && p.retries < kMaxRetries) {
        ++p.retries;
        resubmit(r, std::move(rq));
        return;
      }
      if (res < 0) break;
      if (res == 0) {  // the file ended early (truncated under us) or the disk wrote nothing
        report_error(r, rq, -EIO);
        std::move(rq).end(Status::ioerr);
        return;
      }
      p.done += static_cast<uint32_t>(res);
      if (p.done < rq.bytes()) {  // a short transfer: the rest
        resubmit(r, std::move(rq));
        return;
      }
      std::move(rq).end(Status::ok);
      return;
    case Step::preflush:
      if (res < 0) break;
      p.step = Step::rw;
      resubmit(r, std::move(rq));
      return;
    case Step::blk_discard: {
      uint64_t range[2] = {rq.offset(), rq.bytes()};
      res = ioctl(backing_->fd(), BLKDISCARD, range) == 0 ? 0 : -errno;
      break;
    }
    case Step::zero_punch:
      if (res == -EOPNOTSUPP) {  // a block device without unmapping write-zeroes
        p.step = Step::zero_range;
        resubmit(r, std::move(rq));
        return;
      }
      break;
    case Step::zero_range:
      if (res == -EOPNOTSUPP && !block_device_) {  // tmpfs: no zero range
        zero_range_unsupported_.store(true, std::memory_order_relaxed);
        p.step = Step::zero_punch_alloc;
        resubmit(r, std::move(rq));
        return;
      }
      break;
    case Step::zero_punch_alloc:
      if (res < 0) break;
      p.step = Step::zero_alloc;
      resubmit(r, std::move(rq));
      return;
    case Step::flush:
    case Step::punch:
    case Step::zero_alloc: break;
  }
  if (res < 0 && res != -ECANCELED) report_error(r, rq, res);
  std::move(rq).end(res < 0 ? status_of(res) : Status::ok);
}

// One line per failed request, for the first 16 (a dying disk must not flood the log).
void FileDriver::report_error(Ring& r, const Owned<FileDriver>& rq, int res) noexcept {
  if (errors_reported_.fetch_add(1, std::memory_order_relaxed) >= 16) return;
  std::fprintf(stderr, "file: queue %u: %s of %u bytes at offset %llu failed: %s\n",
               r.hctx->index(), to_string(rq.op()).data(), rq.bytes(),
               static_cast<unsigned long long>(rq.offset()), errno_text(-res).c_str());
}

}  // namespace mqblk::file
