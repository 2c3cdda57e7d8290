// drivers/null/null_driver.hpp - the null_blk-compatible driver.
//
// Completes every request without doing I/O, or, with memory_backed=1, stores the data
// in a sparse PageStore. Completion follows irqmode as null_blk: 0 inline in queue_rq,
// 1 through the hardware queue's completion context, 2 by a timer completion_nsec later.
// Threads: queue_rq runs on the submitting thread of its hardware queue; the PageStore is
// safe for concurrent use by every queue; block_status,
// set_live_attr and live_state may be called from any thread (irqmode and completion_nsec
// are atomics: a change applies to the requests started after it). Hardware queues from
// submit_queues on are polled (poll_queues): their requests end in poll(), on the thread
// that reaps that queue.
#pragma once

#include <atomic>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <tuple>
#include <utility>
#include <vector>

#include "drivers/null/null_config.hpp"
#include "drivers/null/page_store.hpp"
#include "drivers/null/zoned_null.hpp"
#include "mqblk/device.hpp"

namespace mqblk::null {

class NullDriver {
 public:
  using Pdu = NoPdu;
  static constexpr bool kSegments = true;  // store_io walks segments

  // zones: a zoned device's table (zoned=1), else null.
  NullDriver(const NullConfig& cfg, std::unique_ptr<PageStore> store,
             std::unique_ptr<ZoneTable> zones = nullptr)
      : store_(std::move(store)),
        zones_(std::move(zones)),
        io_(zones_   ? IoPath::zoned
            : store_ ? IoPath::store
                     : IoPath::none),
        irqmode_(cfg.irqmode),
        completion_nsec_(static_cast<int64_t>(cfg.completion_nsec)),
        first_poll_queue_(cfg.poll_queues ? cfg.submit_queues : UINT32_MAX),
        polled_(cfg.poll_queues) {
    for (auto& p : polled_) p.list.reserve(cfg.hw_queue_depth);
  }

  // Small enough to inline into the engine's dispatch: the store path is out of line.
  [[gnu::always_inline]] inline QueueRqResult<NullDriver> queue_rq(Hctx<NullDriver>& h,
                                                                   Owned<NullDriver> rq,
                                                                   bool /*last*/) {
    // One test on the way of a device that stores nothing; result: a zone append's sector.
    IoResult r{};
    if (__builtin_expect(io_ != IoPath::none, 0))
      r = io_ == IoPath::store ? IoResult{store_io(rq), 0} : zoned_io(rq);
    if (__builtin_expect(h.index() >= first_poll_queue_, 0)) {
      poll_add(h, std::move(rq), r.status, r.result);
      return QueueRqResult<NullDriver>::accepted();
    }
    switch (irqmode_.load(std::memory_order_relaxed)) {
      case IrqMode::none: std::move(rq).end(r.status, r.result); break;
      case IrqMode::softirq: std::move(rq).complete(r.status, r.result); break;
      case IrqMode::timer:
        h.complete_after(std::move(rq), r.status, completion_nsec_.load(std::memory_order_relaxed),
                         r.result);
        break;
    }
    return QueueRqResult<NullDriver>::accepted();
  }

  // poll_queues: the requests of a polled queue end here, when its submitter reaps, never
  // from the completion context (null_blk's null_poll).
  unsigned poll(Hctx<NullDriver>& h) {
    if (__builtin_expect(polled_.empty(), 1) || h.index() < first_poll_queue_) return 0;
    return poll_queue(h);
  }
  bool poll_pending(Hctx<NullDriver>& h) {
    if (polled_.empty() || h.index() < first_poll_queue_) return false;
    return polled_[h.index() - first_poll_queue_].pending.load(std::memory_order_acquire) != 0;
  }

  Extent block_status(uint64_t offset, uint64_t max_len) {
    if (!store_) return Extent{max_len, false, false};
    return store_->extent_at(offset, max_len);
  }

  // A zoned device
  // lends only ranges that hold no data: a write lands in the window before the zone rules
  // may refuse it, so over data (behind the write pointer) it would change what is there;
  // over holes a refused write is undone by abandon_window, as any failed one. A write at
  // the write pointer is over holes; reads (which need data) never get one.
  std::byte* direct_window(uint64_t offset, uint64_t len) {
    if (!store_) return nullptr;
    if (zones_) {
      Extent e = store_->extent_at(offset, len);
      if (!e.hole || e.length < len) return nullptr;
    }
    return store_->window(offset, len);
  }
  void abandon_window(uint64_t offset, uint64_t len) {
    if (store_) store_->abandon_window(offset, len);
  }

  bool set_live_attr(std::string_view key, std::string_view value, bool apply);
  void live_state(std::vector<std::pair<std::string, std::string>>& out) const;

  PageStore* store() noexcept { return store_.get(); }
  ZoneTable* zones() noexcept { return zones_.get(); }

  unsigned report_zones(uint64_t sector, ZoneInfo* out, unsigned max) {
    return zones_ ? zones_->report(sector, out, max) : 0;
  }

 private:
  enum class IoPath : uint8_t { none, store, zoned };
  struct IoResult {
    Status status = Status::ok;
    uint64_t result = 0;
  };
  // The zoned device's path (zoned_io.cpp): the zone rules around the store's I/O.
  [[gnu::noinline]] IoResult zoned_io(const Owned<NullDriver>& rq);
  Status zoned_read(const Owned<NullDriver>& rq, uint32_t valid_bytes);

  [[gnu::noinline]] Status store_io(const Owned<NullDriver>& rq) {
    switch (rq.op()) {
      case Op::read: return store_rw(rq, false, rq.offset());
      case Op::write: return store_rw(rq, true, rq.offset());
      case Op::flush: return store_->flush();
      case Op::discard: return store_->discard(rq.offset(), rq.bytes());
      case Op::write_zeroes:
        return store_->write_zeroes(rq.offset(), rq.bytes(), !(rq.flags() & kReqNoUnmap));
      default: return Status::notsupp;
    }
  }

  // One store call per segment (a single buffer is one segment), from byte off (the
  // request's own offset, or where a zone append lands). A segmented write that fails part
  // way (memory_cap) leaves the segments before it written, as a disk may.
  Status store_rw(const Owned<NullDriver>& rq, bool write, uint64_t off) {
    for (unsigned i = 0, n = rq.segment_count(); i < n; ++i) {
      const IoSegment seg = rq.segment(i);
      Status s = write ? store_->write(off, seg.buf, seg.len) : store_->read(off, seg.buf, seg.len);
      if (s != Status::ok) return s;
      off += seg.len;
    }
    return Status::ok;
  }

  // A polled queue's requests, ended by poll(). Bounded by the queue depth: reserved.
  struct PollList {
    std::mutex lock;
    std::vector<std::tuple<Owned<NullDriver>, Status, uint64_t>> list;
    std::atomic<unsigned> pending{0};
    std::atomic<uint64_t> reaped{0};  // requests ended by poll(): `get`'s polled_ios
  };
  void poll_add(Hctx<NullDriver>& h, Owned<NullDriver> rq, Status s, uint64_t result);
  unsigned poll_queue(Hctx<NullDriver>& h);

  std::unique_ptr<PageStore> store_;
  std::unique_ptr<ZoneTable> zones_;
  IoPath io_;
  std::atomic<IrqMode> irqmode_;
  std::atomic<int64_t> completion_nsec_;
  const uint32_t first_poll_queue_;  // UINT32_MAX without poll_queues
  std::vector<PollList> polled_;
};

using NullDevice = Device<NullDriver>;

// What a null device with these attributes would be, checked, creating nothing.
struct NullPlan {
  NullConfig cfg;
  TagSetConfig tags;
  DiskLimits limits;
  ZonedPlan zoned;  // zoned=1: the zones, and null_blk's adjustments (printed at creation)
};
NullPlan plan_null_device(const std::vector<std::string>& attrs,
                          const DeviceOverrides& overrides = {});

// Creates the nr_devices null devices the attributes describe, on one shared tag set with
// shared_tags=1 (ConfigError before anything is created).
std::vector<std::unique_ptr<NullDevice>> make_null_devices(const std::vector<std::string>& attrs,
                                                           const DeviceOverrides& overrides = {});

}  // namespace mqblk::null
