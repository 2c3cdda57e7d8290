// ublk/queue.hpp - one ublk queue served by one thread and one io_uring.
//
// The kernel hands request `tag` of queue q to the server by completing the FETCH_REQ (or
// COMMIT_AND_FETCH_REQ) uring_cmd that the server queued for that tag; the server answers
// with COMMIT_AND_FETCH_REQ, which ends the request and re-arms the tag in one command.
// ublk tag t of queue q is the engine's request t of hardware queue q (submit_tag), so
// the kernel's blk-mq request and mqblk's request are the same slot, mirrored.
//
// Per tag, the state is a cycle: kernel-owned (a FETCH is queued) -> server-owned (the
// fetch completed; the request is in the engine) -> kernel-owned (commit queued). A tag
// is never in the engine twice: the kernel cannot hand out a tag whose commit we have not
// sent. A -ENODEV completion (abort) retires the tag for good.
//
// Batching: every engine completion is turned into an SQE and all of them go to the
// kernel in the same io_uring_enter that waits for the next requests, so one wake-up
// serves as many tags as the kernel queued meanwhile. Before sleeping, the thread polls
// the ring's TASKRUN flag for a short window (MQBLK_UBLK_SPIN_US, default 100) so that a
// steady stream of requests needs no wake-ups.
#pragma once

#include <sched.h>

#include <atomic>
#include <cstdint>
#include <memory>

#include "mqblk/block_device.hpp"

namespace mqblk::ublk {

// Counters a queue thread publishes for `list --json` and the exit report. Written by
// the queue thread only (relaxed), read by anyone.
struct QueueCounters {
  std::atomic<uint64_t> received{0};  // requests the kernel handed us
  std::atomic<uint64_t> ended{0};     // requests we committed back (any result)
  std::atomic<uint64_t> errors{0};    // of those, ended with an error
  std::atomic<uint64_t> one_copy{0};  // READs/WRITEs whose data moved through the device's
                                      // own memory (direct_window), not the tag buffer
  // Of the received, the zone appends (zoned devices).
  std::atomic<uint64_t> zone_appends{0};
  std::atomic<uint32_t> aborted_tags{0};
};

enum Phase : int { kServe = 0, kDrain = 1, kStop = 2 };

struct QueueConfig {
  uint32_t dev_id = 0;
  unsigned q = 0;
  unsigned depth = 0;
  uint32_t buf_bytes = 0;  // per-tag buffer size (the device's max_io_buf_bytes)
  bool user_copy = true;   // data via pread/pwrite on cdev, else mapped buffers
  int cdev_fd = -1;        // /dev/ublkcN, shared by all queues
  // The server's phase, re-read whenever stop_fd becomes readable: kServe, then kDrain
  // (a `del` began: requests that arrive now fail with EIO, those in the engine finish, so
  // the kernel's STOP_DEV can drain), then kStop (finish what the engine holds and exit).
  const std::atomic<int>* phase = nullptr;
  int stop_fd = -1;
  cpu_set_t cpus{};  // where the thread runs; empty: anywhere
  bool pin = false;
};

// Invariant: set_up() and serve() run on the same thread, the one the kernel will know as
// this queue's daemon (ublk requires that the task that fetched a tag commits it).
class QueueServer {
 public:
  QueueServer(BlockDevice& dev, const QueueConfig& cfg, QueueCounters& counters);
  ~QueueServer();
  QueueServer(const QueueServer&) = delete;
  QueueServer& operator=(const QueueServer&) = delete;

  // Maps the descriptors, creates the ring, queues FETCH_REQ for every tag and submits
  // them. Returns 0 or a negative errno (with a message in error()).
  int set_up();
  // Serves until the stop eventfd fires (then finishes what the engine holds, however
  // long its driver takes) or every tag has been aborted by the kernel and the engine
  // holds nothing.
  void serve();
  const std::string& error() const { return error_; }

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
  std::string error_;
};

}  // namespace mqblk::ublk
