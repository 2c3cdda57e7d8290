// drivers/file/file_driver.hpp - a file or block device served through io_uring.
//
// One io_uring per hardware queue. queue_rq prepares one SQE per request and parks the
// request: its RequestId is the SQE's user_data, so the request stays owned (by that id)
// while the kernel has its buffer. Each ring has a reaper thread that waits for CQEs,
// claims the request back with Hctx::claim(id) and ends it (or prepares its next step: the
// rest of a short transfer, the write after a preflush, a fallback for write_zeroes).
// Because the request is parked until io_uring gives it back, a timeout or a teardown
// cancel only records its status (the submitter gets it when the reaper ends the request),
// and the driver's timeout() asks io_uring to cancel the operation (IORING_OP_ASYNC_CANCEL).
//
// Operations: read/write (O_DIRECT when the Backing is direct; a buffer O_DIRECT cannot
// take goes to the buffered descriptor), FUA -> RWF_DSYNC, PREFLUSH and FLUSH ->
// fsync(DATASYNC), DISCARD -> punch hole (BLKDISCARD on a block device, run by the reaper),
// WRITE_ZEROES -> punch hole, or zero range with NOUNMAP (on tmpfs, which has no zero
// range: punch then allocate).
//
// Threads: queue_rq/commit_rqs on the submitting threads of a hardware queue, timeout() on
// the device's timeout thread, and the reaper: all three submit SQEs, under the ring's
// sq_lock (uncontended but for cancels and the steps the reaper chains). Only the reaper
// reads the CQ (or poll(), holding cq_lock as the reaper does). While submitters watch the
// ring (wait_fd), they reap it themselves and the reaper is only a fallback. init_hctx starts the
// reaper; the destructor stops it, after the Device has waited for every request (so none is parked
// any more).
#pragma once

#include <liburing.h>

#include <atomic>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "drivers/file/file_backing.hpp"
#include "mqblk/device.hpp"

namespace mqblk::file {

// The step a request is at (per-request driver data; written before the request is
// parked, read by the reaper after it claimed it back: the park/claim pair orders them).
enum class Step : uint8_t {
  rw,                // a read or write; `done` bytes of it are transferred
  preflush,          // the fsync before a write with kReqPreflush
  flush,             // fsync(DATASYNC)
  punch,             // discard on a file
  blk_discard,       // discard on a block device: a NOP, then BLKDISCARD on the reaper
  zero_punch,        // write_zeroes that may unmap: punch a hole
  zero_range,        // write_zeroes with NOUNMAP: zero range
  zero_punch_alloc,  // zero range unsupported: punch, then ...
  zero_alloc,        // ... allocate the range again (reads zeros, stays allocated)
};

struct FilePdu {
  uint32_t done = 0;
  Step step = Step::rw;
  uint8_t retries = 0;  // EAGAIN answers resubmitted so far (at most kMaxRetries)
};

class FileDriver {
 public:
  using Pdu = FilePdu;

  FileDriver(std::shared_ptr<Backing> backing, unsigned nr_queues, unsigned depth);
  ~FileDriver();
  FileDriver(const FileDriver&) = delete;
  FileDriver& operator=(const FileDriver&) = delete;

  QueueRqResult<FileDriver> queue_rq(Hctx<FileDriver>& h, Owned<FileDriver> rq, bool last);
  void commit_rqs(Hctx<FileDriver>& h);
  TimeoutAction timeout(Hctx<FileDriver>& h, const Borrowed<FileDriver>& rq);
  // The submitting thread's completion context: reaps what the ring already completed
  // (buffered I/O on a warm page cache completes within the submit), so that those
  // completions end on the submitter without waking the reaper's side. Skips when the
  // reaper holds the CQ.
  unsigned poll(Hctx<FileDriver>& h);
  // The ring's fd (readable while it has CQEs) for submitters to sleep on; while one or
  // more IoQueues watch it, the reaper leaves the CQ to their poll() and looks only every
  // kFallbackReapNs for completions nobody reaped (a watcher busy elsewhere).
  int wait_fd(Hctx<FileDriver>& h) noexcept { return rings_[h.index()]->ring.ring_fd; }
  void watch(Hctx<FileDriver>& h, int delta) noexcept {
    rings_[h.index()]->watchers.fetch_add(delta, std::memory_order_acq_rel);
  }
  void init_hctx(Hctx<FileDriver>& h);
  void exit_hctx(Hctx<FileDriver>& h);

  Extent block_status(uint64_t offset, uint64_t max_len) {
    return backing_->block_status(offset, max_len);
  }

 private:
  // Invariant: every request parked on this ring has exactly one SQE or CQE outstanding,
  // whose user_data is its RequestId; the SQ holds at least depth * 2 + 8 entries (one per
  // request, one cancel per request, teardown's cancel), so an SQE is always there.
  struct Ring {
    io_uring ring{};
    bool ready = false;
    std::mutex sq_lock;
    std::mutex cq_lock;    // the reaper or a poll() reads the CQ, one at a time
    bool pending = false;  // SQEs prepared and not submitted yet (a batch in progress)
    Hctx<FileDriver>* hctx = nullptr;
    std::atomic<int> watchers{0};  // IoQueues that poll ring_fd when they sleep
    std::thread reaper;
  };

  bool prepare_locked(Ring& r, Owned<FileDriver>& rq);
  void resubmit(Ring& r, Owned<FileDriver> rq);
  void reap_loop(Ring& r);
  unsigned drain_cq_locked(Ring& r, bool* stop);
  void on_cqe(Ring& r, RequestId id, int res);
  void stop_reapers() noexcept;
  void report_error(Ring& r, const Owned<FileDriver>& rq, int res) noexcept;

  std::shared_ptr<Backing> backing_;
  const int direct_index_;  // fixed-file index of the descriptor reads and writes use
  const uintptr_t mem_align_mask_;
  const bool block_device_;
  std::atomic<bool> zero_range_unsupported_{false};  // learned from the first EOPNOTSUPP
  std::atomic<unsigned> errors_reported_{0};
  std::vector<std::unique_ptr<Ring>> rings_;
};

using FileDevice = Device<FileDriver>;

}  // namespace mqblk::file
