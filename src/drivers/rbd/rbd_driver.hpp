// drivers/rbd/rbd_driver.hpp - a Ceph RBD image served through librbd's aio calls.
//
// queue_rq starts one librbd aio per request (read, write, discard, write_zeroes, flush)
// and parks the request: its RequestId goes into a per-tag Cookie, the completion's
// argument. librbd calls on_complete on one of its own threads when the operation is
// done; that claims the request back with Hctx::claim(id) and ends it (or starts its next
// step: the flush before a PREFLUSH write, the flush after a FUA write). librbd cannot
// cancel an aio, so a parked request stays the driver's until librbd gives it back: a
// timeout only reports it (the engine records Status::timeout for the submitter), and a
// stuck cluster is bounded by the client's op timeouts (RbdConfig::op_timeout_s), after
// which librbd answers -ETIMEDOUT and the request ends with an I/O error.
//
// Allocation: librbd allocates its completion and request objects per operation
// (rbd_aio_create_completion); this driver allocates nothing per request.
//
// Threads: queue_rq on the submitting threads of a hardware queue, timeout() on the
// device's timeout thread, on_complete on librbd's threads (any of them, concurrently for
// different requests). The image handle is thread-safe. init_hctx/exit_hctx and the
// destructor on the creating thread; the Device waits for every request before the driver
// (and the image) is destroyed, so no callback runs after that.
#pragma once

#include <atomic>
#include <memory>
#include <vector>

#include "drivers/rbd/rbd_image.hpp"
#include "mqblk/device.hpp"

namespace mqblk::rbd {

class RbdDriver;

// The step a request is at (per-request driver data; written before the request is
// parked, read after it is claimed back: the park/claim pair orders them).
enum class Step : uint8_t {
  main,       // the request's own operation
  preflush,   // the flush before a write with kReqPreflush
  fua_flush,  // the flush after a write with kReqFua (librbd has no FUA)
};

struct RbdPdu {
  Step step = Step::main;
};

// What a librbd completion points at: one per tag, the driver's memory (not the
// request's). Invariant: while its tag's request is parked under a librbd operation, id
// names that request; it is rewritten only by whoever owns the request (before parking).
struct Cookie {
  RbdDriver* driver = nullptr;
  Hctx<RbdDriver>* hctx = nullptr;
  std::atomic<uint64_t> id{0};
};

class RbdDriver {
 public:
  using Pdu = RbdPdu;

  RbdDriver(std::shared_ptr<RbdImage> image, unsigned nr_queues, unsigned depth,
            uint32_t op_timeout_s);
  RbdDriver(const RbdDriver&) = delete;
  RbdDriver& operator=(const RbdDriver&) = delete;

  QueueRqResult<RbdDriver> queue_rq(Hctx<RbdDriver>& h, Owned<RbdDriver> rq, bool last);
  TimeoutAction timeout(Hctx<RbdDriver>& h, const Borrowed<RbdDriver>& rq);
  void init_hctx(Hctx<RbdDriver>& h);

 private:
  static void on_complete(rbd_completion_t c, void* arg);
  // Starts rq's current step under a new completion; on a synchronous failure ends rq.
  void start(Hctx<RbdDriver>& h, Owned<RbdDriver> rq);
  void finish(Owned<RbdDriver> rq, ssize_t ret);
  void report_error(const Owned<RbdDriver>& rq, Step step, int err) noexcept;

  std::shared_ptr<RbdImage> image_;
  const rbd_image_t img_;
  const unsigned depth_;
  const uint32_t op_timeout_s_;
  std::atomic<unsigned> errors_reported_{0};
  std::atomic<unsigned> timeouts_reported_{0};
  std::vector<std::unique_ptr<Cookie[]>> cookies_;  // [hw queue][tag]
};

using RbdDevice = Device<RbdDriver>;

}  // namespace mqblk::rbd
