// mqblk/write_cache.hpp - the volatile write-back cache (cache_size, null_blk's name and
// unit), in front of any driver: the driver plays the durable media.
//
// Rules (what the device promises, and what survives a power cut):
//  * A WRITE without FUA lands in the cache and completes at once, unless the cache must
//    make room first: then it writes back the oldest dirty pages (they are "evicted": from
//    then on durable), and the write waits for that, as null_blk's null_make_cache_space.
//    A write larger than the whole cache goes to the driver (written through).
//  * A READ goes to the driver; when it completes, the cached bytes of its range are laid
//    over the buffer before the submitter sees it: the cache holds the newest data.
//  * FUA WRITE: written through to the driver; cached copies of its bytes are updated.
//  * FLUSH: every write completed before it (on any queue, any connection) is written
//    back to the driver, then the driver's own FLUSH runs, then the FLUSH completes.
//  * DISCARD / WRITE_ZEROES: the cached bytes of the range are dropped, the driver does it.
//  * A power cut (Device::set_power(false)) drops every dirty page: afterwards the device
//    serves what the driver holds: flushed writes, FUA writes, evicted pages, discards.
//    A write-back in flight at the cut may or may not land, as on a disk.
//
// Ordering invariant: for each page, at most one write-back is in flight, and no write
// through, discard or write_zeroes reaches the driver while a write-back of an overlapping
// page is in flight (it is retried after it: Verdict retry). So an older cached copy can
// never land over newer data in the driver.
// Read invariant: a page present when a read was dispatched stays in the cache (pinned)
// until that read's completion laid it over the buffer; so a page written back and dropped
// meanwhile cannot leave the read with the driver's older bytes.
//
// How the engine uses it (Hctx, mqblk/queue.hpp): while a cache exists DeviceFaults is
// active, so every request takes the test features' cold path, which asks this class what
// to do. Write-backs are WRITE requests the engine starts on free tags of the same
// hardware queue, with buffers this class owns (a snapshot of the pages: later writes may
// change the cache meanwhile); the request that needed them (a FLUSH, an evicting WRITE)
// is parked until they all ended, then retried. No completion reaches a submitter while a
// driver holds a buffer: the write-back buffers are the cache's, freed in writeback_done.
//
// Threads: every method from any thread; one mutex serialises them. A test feature: the
// I/O path allocates (map nodes, write-back buffers) only on devices with cache_size.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <vector>

#include "mqblk/detail/request_slot.hpp"
#include "mqblk/disk.hpp"
#include "mqblk/types.hpp"

namespace mqblk {

class WriteCache;

// The cache's record of one request (per hardware queue and tag), written by the thread
// dispatching it. A read it overlays keeps what its completion needs (the submitter's
// end_io, user_data and buffer); a request waiting for write-backs (an evicting WRITE, a
// FLUSH) keeps their count and first error, and its id, to be claimed and retried when
// the last one ended (on whichever thread ended it). `request` names the use of the tag
// these fields belong to (the slot's generation), so a stale record is never taken as new.
struct CacheTag {
  WriteCache* cache = nullptr;
  // A read being overlaid.
  detail::EndIoFn end_io = nullptr;
  uint64_t user_data = 0;
  uint64_t gen = 0;
  uint64_t off = 0, len = 0;
  IoSegment one;
  const IoSegment* segs = nullptr;
  unsigned nr_segs = 0;
  // A request waiting for write-backs.
  uint64_t request = 0;       // generation of the request the fields below describe
  uint64_t flush_target = 0;  // a FLUSH: the writes it must make durable
  bool resumed = false;       // it waited: wb_status says how its write-backs went
  std::atomic<unsigned> pending{0};
  std::atomic<Status> wb_status{Status::ok};
  void* hctx = nullptr;     // the Hctx<D> that parked it
  void* end_ctx = nullptr;  // its submitter's queue, to wake
  RequestId id;
};

// The end_io of a read the cache overlays (CacheTag::user_data is the submitter's).
void cache_read_end(void* ctx, uint64_t user_data, Status s, uint64_t result) noexcept;

// One write-back: a run of contiguous cached sectors copied into data. Owned by the cache
// from take_*() to writeback_done(); owner: the request waiting for it.
struct CacheWriteback {
  WriteCache* cache = nullptr;
  void* owner = nullptr;  // the engine's per-request record of the waiting request
  uint64_t offset = 0;    // bytes
  std::vector<std::byte> data;
  struct PageRef {
    uint64_t page, born;  // born: names this page's life in the cache (a cut ends it)
  };
  std::vector<PageRef> pages;
  bool eviction = false;
};

class WriteCache {
 public:
  static constexpr uint64_t kPage = 4096;
  static constexpr unsigned kSectorsPerPage = kPage >> kSectorShift;

  enum class Verdict : uint8_t {
    done,       // the cache took it: end it ok
    pass,       // send it to the driver as it is
    retry,      // an overlapping write-back is in flight: requeue it
    writeback,  // take_eviction() names write-backs to issue; then retry the request
  };

  // cache_bytes: at least one page (rounded down to pages). One CacheTag per tag of each
  // of the device's hardware queues.
  WriteCache(uint64_t cache_bytes, const DiskLimits& limits, unsigned nr_hw_queues, unsigned depth);
  WriteCache(const WriteCache&) = delete;
  WriteCache& operator=(const WriteCache&) = delete;

  // A non-FUA write of segs (len bytes at off): cached, or room is needed (writeback), or
  // it is larger than the cache and goes through (pass, after write_through's rules).
  Verdict write(uint64_t off, uint32_t len, const IoSegment* segs, unsigned nr_segs);
  // A FUA write, or one the cache cannot hold: pass (cached copies updated) or retry.
  Verdict write_through(uint64_t off, uint32_t len, const IoSegment* segs, unsigned nr_segs);
  // DISCARD, WRITE_ZEROES: pass (cached bytes dropped) or retry.
  Verdict invalidate(uint64_t off, uint64_t len);
  // A read about to reach the driver: pins the cached pages of its range and returns the
  // generation to give finish_read, or 0 when none is cached (nothing to lay over).
  uint64_t begin_read(uint64_t off, uint64_t len);
  // Lays the cached bytes over the first `copy` bytes of the read of [off, off + len)
  // (0 when it failed) and unpins. Runs when the read's completion is delivered: the
  // driver has let go of the buffer, the submitter has not seen it yet.
  void finish_read(uint64_t gen, uint64_t off, uint64_t len, uint64_t copy, const IoSegment* segs,
                   unsigned nr_segs) noexcept;

  // The sequence number of the last write the cache took: a FLUSH's target.
  uint64_t flush_target();
  // True when every write up to target is in the driver (the FLUSH may go to the driver).
  bool flushed(uint64_t target);
  // Up to max write-backs of dirty pages written up to target, not already in flight.
  std::vector<CacheWriteback*> take_flush(uint64_t target, unsigned max);
  // Up to max write-backs of the oldest dirty pages, enough to make room for a write of
  // [off, off + len) (whose own pages are not taken). Empty: all are in flight (retry).
  std::vector<CacheWriteback*> take_eviction(uint64_t off, uint64_t len, unsigned max);
  // A write-back ended with s: its pages are clean (and leave the cache) or stay dirty.
  // Deletes wb.
  void writeback_done(CacheWriteback* wb, Status s) noexcept;

  // The power cut: forgets every page, dirty or not, without writing it back.
  void drop() noexcept;

  uint64_t dirty_bytes();  // dirty pages x 4 KiB
  uint64_t evicted_pages();
  uint64_t size_bytes() const noexcept { return nslots_ * kPage; }
  CacheTag& tag(unsigned hw_queue, unsigned t) noexcept {
    return tags_[size_t{hw_queue} * depth_ + t];
  }

 private:
  // Invariants: a page is in order_ iff it is dirty and no write-back of its current
  // content is in flight (seq != wb_seq or writing == 0); dirty_ counts pages with seq != 0;
  // a page leaves index_ only when clean (or emptied) and unpinned and not being written.
  struct Page {
    uint32_t slot = 0;
    uint8_t valid = 0;       // bit per 512-byte sector holding cached data
    uint16_t writing = 0;    // write-backs in flight covering it
    uint32_t pins = 0;       // reads in flight that will lay it over their buffer
    uint64_t seq = 0;        // the last write's sequence number; 0: clean
    uint64_t wb_seq = 0;     // seq when the in-flight write-back copied it
    uint64_t born = 0;       // generation when it entered the cache
    bool wb_failed = false;  // a write-back of this copy failed: it stays dirty
  };
  using Index = std::map<uint64_t, Page>;

  std::byte* mem(const Page& p) noexcept { return &mem_[uint64_t{p.slot} * kPage]; }
  bool overlaps_writing(uint64_t off, uint64_t len) const;
  void mark_dirty(uint64_t page, Page& p);
  void maybe_free(Index::iterator it) noexcept;
  // Appends write-backs of page it and of the dirty pages right after it (up to max_pages
  // pages, out holding at most max_runs) to out, marking them in flight.
  void take_run(Index::iterator it, std::vector<CacheWriteback*>& out, unsigned max_runs,
                unsigned max_pages, bool eviction);
  void copy_in(uint64_t off, uint32_t len, const IoSegment* segs, unsigned nr_segs,
               bool only_cached);

  const uint64_t nslots_;
  const uint64_t max_run_;
  const unsigned depth_;
  std::unique_ptr<CacheTag[]> tags_;
  std::mutex lock_;
  std::vector<std::byte> mem_;
  std::vector<uint32_t> free_;
  Index index_;
  std::map<uint64_t, uint64_t> order_;  // seq -> page: dirty pages waiting, oldest first
  std::set<uint64_t> inflight_;         // wb_seq of each page being written back
  uint64_t seq_ = 0, gen_ = 0, dirty_ = 0, evicted_ = 0;
};

}  // namespace mqblk
