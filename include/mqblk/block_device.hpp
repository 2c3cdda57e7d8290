// mqblk/block_device.hpp - a device as frontends and tools see it, whatever its driver.
//
// Device<D> (device.hpp) is the typed engine for a driver D; BlockDevice is its type-erased
// face, used by the NBD and ublk frontends, `mqblk bench` and simple programs. One virtual
// call per submission and per reap: the per-request work behind it is inlined for D.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "mqblk/disk.hpp"
#include "mqblk/types.hpp"

namespace mqblk {

class DeviceFaults;
struct ZoneInfo;  // mqblk/zoned.hpp

// One I/O as a submitter describes it. Offsets and lengths are in bytes and must be
// multiples of the logical block size; data ops need buf of len bytes, valid until the
// I/O completes.
struct IoDesc {
  Op op = Op::read;
  uint32_t flags = 0;  // ReqFlag bits
  uint64_t offset = 0;
  uint32_t len = 0;
  std::byte* buf = nullptr;
};

// What a submitter gets back, once per submitted I/O.
// result: what the driver's end reported beside the status (a zone append's sector);
// 0 unless the driver's own end set it.
struct IoCompletion {
  uint64_t user_data = 0;
  Status status = Status::ok;
  uint64_t result = 0;
};

// A run of bytes with one allocation state, the answer to block_status().
struct Extent {
  uint64_t length = 0;
  bool hole = false;  // unallocated: reads return zeros and no memory backs it
  bool zero = false;  // reads return zeros (allocated or not)
};

// A submission context bound to one hardware queue: the equivalent of an io_uring ring.
//
// Invariants: used by one thread at a time (it is not internally locked); every I/O that
// submit() accepted produces exactly one IoCompletion from reap()/wait() on this IoQueue,
// including when the device is torn down (then with Status::cancelled). The completion
// context of the hardware queue ("softirq", timers, requeue) runs inside reap()/wait() on
// the calling thread; completions ended by other threads are handed over through a
// lock-free list and signalled on event_fd(). Destroying an IoQueue with I/O in flight
// ends that I/O with Status::cancelled and waits for its completions (whose IoCompletions
// are discarded): nothing completes into a queue that is gone.
class IoQueue {
 public:
  virtual ~IoQueue() = default;
  IoQueue() = default;
  IoQueue(const IoQueue&) = delete;
  IoQueue& operator=(const IoQueue&) = delete;

  // Starts one I/O. Returns Status::ok when accepted. Status::busy when no tag is free and
  // the I/O carries kReqNoWait (otherwise submit waits for a tag, running completions
  // meanwhile); Status::inval / nospc for a range or alignment the device refuses (nothing
  // was started). Never blocks forever: a frozen or dying device answers cancelled.
  virtual Status submit(const IoDesc& io, uint64_t user_data) = 0;

  // Starts one I/O as request `tag` of this queue's hardware queue, a tag chosen outside
  // (ublk: the kernel's tag). The tag must not be in flight: if it is, returns Status::busy
  // and starts nothing.
  virtual Status submit_tag(uint32_t tag, const IoDesc& io, uint64_t user_data) = 0;

  // Starts one read or write whose data lies in nr_segs segments (scatter-gather), filled
  // or read in order: io.buf must be null and io.len the sum of the segments' lengths; each
  // segment has a buffer and a non-zero length that is a multiple of the logical block
  // size; 1 <= nr_segs <= limits().max_segments. The array and the buffers must stay valid
  // until the I/O completes. Status::inval for a list that breaks these rules,
  // Status::notsupp when the driver takes only single-buffer requests (see driver.hpp,
  // kSegments); otherwise as submit().
  virtual Status submit_segments(const IoDesc& io, const IoSegment* segs, unsigned nr_segs,
                                 uint64_t user_data) = 0;

  // Ends a batch submitted with kReqMore: the driver's commit_rqs (its doorbell) runs.
  // reap() and wait() commit a pending batch first, so a batch is never left unflushed.
  virtual void commit() = 0;

  // Runs the hardware queue's completion context, then moves up to max completions into
  // out. Returns how many. Never blocks.
  virtual unsigned reap(IoCompletion* out, unsigned max) = 0;

  // As reap(), but first waits until at least min completions are ready or timeout_ns
  // passes (negative: no limit). Sleeps rather than spins unless a timer is due within the
  // spin window.
  virtual unsigned wait(IoCompletion* out, unsigned max, unsigned min, int64_t timeout_ns) = 0;

  // Absolute CLOCK_MONOTONIC time in ns at which reap() has timer work to do, or -1.
  // Event loops that do not call wait() use it for their poll timeout.
  virtual int64_t next_timer_ns() const = 0;

  // An eventfd that becomes readable when another thread hands this queue a completion.
  // The caller may read it or not; reap() re-arms it, so call reap() after each wake-up.
  virtual int event_fd() const = 0;

  // A second fd for an event loop to poll beside event_fd(), or -1: readable when the
  // driver has completions that reap() would collect (wait() polls it itself). The first
  // call tells the driver that this queue watches it, so the driver leaves those
  // completions to reap(): an event loop that calls driver_fd() must poll it whenever it
  // sleeps, and call reap() when it is readable (level-triggered: until reaped). One that
  // never calls it (nor wait()) gets its completions through event_fd() alone.
  virtual int driver_fd() { return -1; }

  // I/Os submitted here and not yet reaped.
  virtual unsigned outstanding() const = 0;
  virtual unsigned hw_queue() const = 0;
};

// Counters of a hardware queue, for list/--json and exit reports.
struct QueueStats {
  uint64_t started = 0;   // requests handed to queue_rq
  uint64_t ended = 0;     // requests ended (any status)
  uint64_t timeouts = 0;  // requests the timeout handler ended
  uint64_t requeued = 0;
  uint32_t in_flight = 0;
  // Requests a timeout, cancel or teardown ended while their driver still holds them (the
  // submitter gets the completion when the driver lets go), and the age of the oldest.
  uint32_t hung = 0;
  uint64_t hung_longest_ns = 0;
};

class BlockDevice {
 public:
  virtual ~BlockDevice() = default;
  BlockDevice() = default;
  BlockDevice(const BlockDevice&) = delete;
  BlockDevice& operator=(const BlockDevice&) = delete;

  virtual const DiskLimits& limits() const noexcept = 0;
  virtual unsigned nr_hw_queues() const noexcept = 0;
  virtual unsigned queue_depth() const noexcept = 0;
  // The most requests one IoQueue may have in flight: queue_depth(), or less while the
  // device shares its tag set with others (its fair share; a submit past it is busy).
  virtual unsigned queue_cap() const noexcept { return queue_depth(); }

  // A new submission context on hardware queue hw_queue, or on the next queue in
  // round-robin order when hw_queue < 0 (this is mqblk's map_queues: by submitting
  // context, not by CPU, so that a thread keeps its queue when the scheduler moves it).
  virtual std::unique_ptr<IoQueue> open_queue(int hw_queue = -1) = 0;

  // Allocation state of the bytes at offset (up to max_len of them), for NBD block status
  // and sparse reads. Drivers that cannot tell report data (hole=false, zero=false).
  virtual Extent block_status(uint64_t offset, uint64_t max_len) = 0;

  // Zero-copy writes, for frontends that receive a WRITE's payload from a socket.
  // direct_window: the device's own memory for the bytes [offset, offset + len) of a write
  // about to be submitted, or nullptr when the device lends none (the default, and for any
  // range it would refuse or could not hold). The caller may put the payload straight into
  // it, then submit the write (in one or several parts) with io.buf pointing into the
  // window at each part's offset; the driver sees its own memory and does not copy. Until
  // that write completes, the range reads old data, new data or a mix, as during any
  // in-flight write. If the caller put bytes into the window but the write was not
  // submitted in full or did not succeed, it must call abandon_window(offset, bytes_put),
  // which restores what the device promises about blocks never written (the null device:
  // they read as zeros); the range itself is then unspecified, as after any failed write.
  // Any thread; the window stays valid while the device lives.
  virtual std::byte* direct_window(uint64_t /*offset*/, uint64_t /*len*/) { return nullptr; }
  virtual void abandon_window(uint64_t /*offset*/, uint64_t /*len*/) {}

  // The test features every engine device has (bad blocks, fault and error injection,
  // mbps, power: mqblk/faults.hpp); null for a BlockDevice that is not an engine device.
  // Change them through control_set (registry.hpp), which checks a whole set first.
  virtual DeviceFaults* faults() noexcept { return nullptr; }
  // Cuts the power (false): new requests fail with EIO, the requests in flight are ended
  // with EIO (a driver still holding one keeps its submitter waiting until it lets go, as
  // always), and the driver drops what its volatile cache did not make durable. True
  // restores it: the device serves its durable content. The device itself stays (a disk
  // whose power blinked). Any thread.
  virtual void set_power(bool /*on*/) {}
  // The driver's live attributes (driver.hpp, set_live_attr / live_state).
  virtual bool set_live_attr(std::string_view /*key*/, std::string_view /*value*/, bool /*apply*/) {
    return false;
  }
  virtual void live_state(std::vector<std::pair<std::string, std::string>>& /*out*/) const {}
  // A zoned device's zones (limits().zoned != none; mqblk/zoned.hpp): up to max of them
  // from the one holding sector, in order. Returns how many: 0 past the last zone and for
  // a device that is not zoned. Zone management goes through IoQueue::submit (Op::zone_*);
  // a zone append's completion carries the sector it was written at (IoCompletion::result).
  // Any thread.
  virtual unsigned report_zones(uint64_t /*sector*/, ZoneInfo* /*out*/, unsigned /*max*/) {
    return 0;
  }

  // Driver name and attributes, e.g. "null size=1024 memory_backed=1".
  virtual std::string describe() const = 0;
  virtual std::vector<QueueStats> stats() const = 0;

  // Stops new submissions, ends every outstanding request with Status::cancelled (the
  // owners that end them later learn they lost; their submitters get the completion when
  // the driver lets go), and waits until every tag is free: forever if the driver never
  // lets go, printing one line per held request after 10 s and again every 30 s
  // (TagSetConfig::hung_report_ns / hung_repeat_ns). Idempotent; the destructor calls it.
  virtual void shutdown() = 0;
  // The same, giving up after timeout_ns: true when every request was let go. False means
  // the driver can still write into memory the device owns: the caller must neither
  // destroy the device nor free buffers it submitted, and a server should leave the
  // process with _exit rather than run destructors (the NBD and ublk servers exit with
  // status 70 after one line saying so).
  virtual bool shutdown_within(int64_t timeout_ns) = 0;
};

// Completion callbacks, liburing-style: the I/O's user_data is the address of an
// IoCallback the caller keeps alive until it has run. run_callbacks() waits for at least
// min completions (or timeout_ns, negative: no limit) and calls each callback on the
// calling thread; it returns how many ran. Nothing is allocated.
struct IoCallback {
  void (*fn)(IoCallback* self, Status status) = nullptr;
};
inline Status submit(IoQueue& q, const IoDesc& io, IoCallback* cb) {
  return q.submit(io, reinterpret_cast<uintptr_t>(cb));
}
unsigned run_callbacks(IoQueue& q, unsigned min, int64_t timeout_ns);

// Synchronous helpers for simple programs: one I/O on a private queue, waited for.
Status sync_io(IoQueue& q, const IoDesc& io);
Status sync_read(BlockDevice& dev, uint64_t offset, void* buf, uint32_t len);
Status sync_write(BlockDevice& dev, uint64_t offset, const void* buf, uint32_t len);

// Servers (NBD, ublk): how long a stopping server waits for its driver to let go of the
// requests it still holds once they were cancelled (shutdown_within), and the exit status
// of one that gave up (EX_SOFTWARE: a driver that never lets go of a request is a bug).
inline constexpr int64_t kServerHeldWaitNs = 60'000'000'000;
inline constexpr int kExitRequestsHeld = 70;

// A server's last resort when shutdown_within(...) returned false: prints one line
// ("<who>: the driver still holds N request(s) (the oldest for X s) Y s after the server
// began to stop; exiting with status 70 without freeing memory it can still write
// [(consequence)]"), flushes and leaves with _exit(kExitRequestsHeld), so that no
// destructor frees memory the driver can still write. The caller cleans up first what
// the driver cannot reach (pidfiles, sockets). consequence may be null.
[[noreturn]] void exit_with_requests_held(const BlockDevice& dev, const char* who,
                                          int64_t stop_began_ns, const char* consequence);

}  // namespace mqblk
