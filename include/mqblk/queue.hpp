// mqblk/queue.hpp - a device's hardware queue (hctx): its driver, the requests it uses
// (HwTags: its own, or shared with other devices' queues of the same index), and its
// completion context (softirq list, completion timers, requeue list).
//
// Invariants:
//  * Request t of this queue lives in hw_.slots[t] and hw_.pdus[t] for the life of the
//    tag set; nothing on the I/O path allocates.
//  * The completion context (run_completion_context) may be run by any thread that reaps
//    this queue; its lists are lock-free (softirq) or guarded by a lock taken only on the
//    timer and requeue paths, never on the irqmode=0 hot path.
//  * Requests on the softirq and requeue lists are owned by the list (owner bit set);
//    timer entries hold counted references.
//  * What a driver may use is public: its index, depth, driver, per-tag Pdu,
//    complete_after, and lookup/claim by RequestId. Tags, slots, lists and counters are the
//    engine's (private; Device<D>, DeviceQueue<D> and Owned<D> are its friends).
#pragma once

#include <algorithm>
#include <atomic>
#include <memory>
#include <mutex>
#include <optional>
#include <utility>
#include <vector>

#include "mqblk/detail/clock.hpp"
#include "mqblk/detail/request_slot.hpp"
#include "mqblk/detail/sbitmap.hpp"
#include "mqblk/driver.hpp"
#include "mqblk/faults.hpp"
#include "mqblk/request.hpp"
#include "mqblk/tag_set.hpp"

namespace mqblk {

namespace detail {
MQBLK_OWNERSHIP_NS_BEGIN
// The submission context running on this thread (set by IoQueue methods): completions
// ended on the same thread go to its local ring, others through the remote list.
inline thread_local void* tls_current_queue = nullptr;
// Cross-thread hand-over to the submitting context ctx: enter before publishing, then
// kick_exit (wake it and leave) after.
struct KickOps {
  void (*enter)(void* ctx) noexcept = nullptr;
  void (*kick_exit)(void* ctx) noexcept = nullptr;
};
MQBLK_OWNERSHIP_NS_END
}  // namespace detail

MQBLK_OWNERSHIP_NS_BEGIN

template <class D>
class Hctx {
 public:
  using Pdu = typename D::Pdu;

  // hw: the requests of this hardware queue, this device's alone or shared with others.
  // first: no other device has used hw (the first, or only, device on the tag set).
  Hctx(D& driver, unsigned index, HwTags<D>& hw, bool first)
      : driver_(&driver), index_(index), hw_(hw) {
    timers_.reserve(nr_slots());
    // Each start writes its slot's hctx. The first device writes it now too, so that a tag
    // taken but not yet started counts as this queue's in in_flight(), as it does when
    // the set is not shared. A later device must not: other devices' requests may be in
    // flight on these slots.
    if (first)
      for (unsigned t = 0; t < nr_slots(); ++t)
        hw_.slots[t].hctx.store(this, std::memory_order_relaxed);
  }
  Hctx(const Hctx&) = delete;
  Hctx& operator=(const Hctx&) = delete;

  unsigned index() const noexcept { return index_; }
  // The submitters' tags (queue_depth), and every slot: those and the reserved tags
  // (mqblk/tag_set.hpp), which the engine's scans cover as well.
  unsigned depth() const noexcept { return hw_.tags.depth(); }
  unsigned nr_slots() const noexcept { return hw_.nr_slots(); }
  D& driver() const noexcept { return *driver_; }
  Pdu& pdu(unsigned tag) noexcept { return hw_.pdus[tag]; }

  // Ends rq after delay_ns from now with status s, from this queue's completion context
  // (null_blk's irqmode=2). The timer holds a counted reference: if a timeout or teardown
  // ends the request first, the timer finds it ended and only drops its reference.
  // result travels as Owned::end's does (a zone append's sector) when the timer ends it.
  void complete_after(Owned<D> rq, Status s, int64_t delay_ns, uint64_t result = 0) noexcept {
    int64_t deadline = detail::now_ns() + delay_ns;
    detail::RequestSlot* slot = std::exchange(rq.slot_, nullptr);
    slot->owner_to_ref();  // the timer only ends it: it gives up the data
    void* slot_ctx = slot->end_ctx;
    bool foreign = detail::tls_current_queue != slot_ctx && kick_.enter;
    if (foreign) kick_.enter(slot_ctx);
    {
      std::lock_guard lk(timer_lock_);
      timers_.push_back(TimerEntry{deadline, slot, s, result});
      std::push_heap(timers_.begin(), timers_.end(), TimerEntry::later);
      next_timer_.store(timers_.front().deadline, std::memory_order_release);
    }
    if (foreign) kick_.kick_exit(slot_ctx);
  }

  // A counted reference to the request `id` names if it is still in flight on this
  // queue, else empty: never a request that ended, nor the one that reused its tag, nor
  // another device's (with a shared tag set). Any thread.
  Ref<D> lookup(RequestId id) noexcept {
    if (id.hw_queue() != index_) return Ref<D>();
    return lookup_gen(id.tag(), id.generation());
  }

  // Takes back the ownership of a request parked with Owned::park(): the Owned, or empty
  // when id names no request parked on this queue (claimed already, never parked, or a
  // stale id). Exactly one claim of a parked request succeeds. Any thread.
  Owned<D> claim(RequestId id) noexcept {
    if (id.hw_queue() != index_ || id.tag() >= nr_slots()) return Owned<D>();
    detail::RequestSlot& sl = hw_.slots[id.tag()];
    if (!sl.claim(id.generation())) return Owned<D>();
    if (sl.hctx.load(std::memory_order_relaxed) != this) {  // another device's request
      sl.park();
      return Owned<D>();
    }
    return Owned<D>(&sl);
  }

  uint64_t timeouts() const noexcept { return timeouts_.load(std::memory_order_relaxed); }
  uint64_t requeued() const noexcept { return requeued_.load(std::memory_order_relaxed); }

 private:
  friend class Device<D>;
  friend class DeviceQueue<D>;
  friend class Owned<D>;

  // Owned::complete() lands here: a lock-free push onto the softirq list.
  void push_softirq(detail::RequestSlot* slot) noexcept {
    // Decided before the push: once on the list, another thread may end and reuse it.
    void* slot_ctx = slot->end_ctx;
    bool foreign = detail::tls_current_queue != slot_ctx && kick_.enter;
    if (foreign) kick_.enter(slot_ctx);
    detail::RequestSlot* head = softirq_.load(std::memory_order_relaxed);
    do {
      slot->next = head;
    } while (!softirq_.compare_exchange_weak(head, slot, std::memory_order_release,
                                             std::memory_order_relaxed));
    if (foreign) kick_.kick_exit(slot_ctx);
  }

  // Takes ownership back from a driver that answered busy; retried on the next run.
  [[gnu::noinline, gnu::cold]] void requeue(Owned<D>&& rq) noexcept {
    detail::RequestSlot* slot = std::move(rq).release_slot();
    std::lock_guard lk(requeue_lock_);
    slot->next = nullptr;
    if (requeue_tail_) {
      requeue_tail_->next = slot;
    } else {
      requeue_head_ = slot;
      // The list's retry time, fixed when it becomes non-empty: a time computed afresh at
      // each look ("now + delay") never arrives, and a waiter would spin on it.
      requeue_due_ns_.store(detail::now_ns() + kRequeueDelayNs, std::memory_order_relaxed);
    }
    requeue_tail_ = slot;
    has_requeue_.store(true, std::memory_order_release);
    requeued_.fetch_add(1, std::memory_order_relaxed);
  }

  // Hands a started request to the driver (or to the requeue list while quiesced).
  [[gnu::always_inline]] inline void dispatch(detail::RequestSlot* slot, bool last) noexcept {
    if (quiesced_.load(std::memory_order_acquire)) {
      requeue(Owned<D>(slot));
      return;
    }
    if (__builtin_expect(faults_->active(), 0) && !apply_faults(slot)) return;
    QueueRqResult<D> r = driver_->queue_rq(*this, Owned<D>(slot), last);
    if (__builtin_expect(r.is_busy(), 0)) requeue(std::move(r).take());
  }

  // The test features' verdict on a request about to reach the driver (mqblk/faults.hpp).
  // True: dispatch it (partial I/O shortened it first); false: the engine took it.
  [[gnu::noinline, gnu::cold]] bool apply_faults(detail::RequestSlot* slot) noexcept {
    const DeviceFaults::Verdict v =
        faults_->decide(slot->op, slot->sector, slot->nr_bytes, block_sectors_, detail::now_ns());
    switch (v.action) {
      case DeviceFaults::Action::pass: break;
      case DeviceFaults::Action::partial:
        slot->nr_bytes = v.bytes;
        slot->forced = v.status;
        break;
      case DeviceFaults::Action::fail: (void)Owned<D>(slot).end(v.status); return false;
      case DeviceFaults::Action::requeue: requeue(Owned<D>(slot)); return false;
      case DeviceFaults::Action::hold:
        slot->fault_held.store(!MQBLK_BROKEN(HOLD_FORGOTTEN), std::memory_order_relaxed);
        (void)Owned<D>(slot).park();
        return false;
    }
    if (WriteCache* c = faults_->cache()) return cache_dispatch(*c, slot);
    return true;
  }

  // The write cache's part (mqblk/write_cache.hpp): true to dispatch the request to the
  // driver, false when the cache took it (ended, requeued or parked for write-backs).
  // Bounded: a request whose write-backs all ended inline is decided again at most
  // kCacheRounds times here, then retried from the requeue list.
  static constexpr unsigned kCacheRounds = 64;
  [[gnu::noinline, gnu::cold]] bool cache_dispatch(WriteCache& c,
                                                   detail::RequestSlot* slot) noexcept {
    if (slot->end_io == &Hctx::cache_writeback_end) return true;  // the cache's own write
    CacheTag& t = c.tag(index_, slot->tag);
    const uint64_t gen = slot->generation();
    if (t.request != gen) {  // this request's first visit
      t.request = gen;
      t.resumed = false;
      // A FLUSH, and a WRITE with PREFLUSH, make the writes completed before them durable.
      const bool flushes = slot->op == Op::flush || (slot->flags & kReqPreflush);
      t.flush_target = flushes ? c.flush_target() : 0;
    }
    const uint64_t off = slot->sector << kSectorShift;
    const IoSegment one{slot->buf, slot->nr_bytes};
    const IoSegment* segs = slot->buf ? &one : slot->segs;
    const unsigned nr_segs = slot->buf ? 1 : slot->nr_segs;
    for (unsigned round = 0; round < kCacheRounds; ++round) {
      if (t.resumed) {  // its write-backs ended: an error ends it
        t.resumed = false;
        const Status s = t.wb_status.load(std::memory_order_acquire);
        if (s != Status::ok) {
          (void)Owned<D>(slot).end(s);
          return false;
        }
      }
      WriteCache::Verdict v = WriteCache::Verdict::pass;
      switch (slot->op) {
        case Op::read: {
          if (slot->end_io == &cache_read_end) return true;  // retried: overlaid already
          const uint64_t g = c.begin_read(off, slot->nr_bytes);
          if (g == 0) return true;
          t.cache = &c;
          t.gen = g;
          t.off = off;
          t.len = slot->nr_bytes;
          t.one = one;
          t.segs = slot->buf ? &t.one : slot->segs;
          t.nr_segs = nr_segs;
          t.end_io = slot->end_io;
          t.user_data = slot->user_data;
          slot->end_io = &cache_read_end;
          slot->user_data = reinterpret_cast<uint64_t>(&t);
          return true;
        }
        case Op::write:
          // PREFLUSH: the cache written back first, then the write goes through with its
          // flag, so that the driver's flush covers the write-backs.
          if ((slot->flags & kReqPreflush) && !c.flushed(t.flush_target))
            v = WriteCache::Verdict::writeback;
          else if (slot->flags & (kReqFua | kReqPreflush))
            v = c.write_through(off, slot->nr_bytes, segs, nr_segs);
          else
            v = c.write(off, slot->nr_bytes, segs, nr_segs);
          break;
        case Op::flush:
          v = c.flushed(t.flush_target) ? WriteCache::Verdict::pass
                                        : WriteCache::Verdict::writeback;
          break;
        case Op::discard:
        case Op::write_zeroes: v = c.invalidate(off, slot->nr_bytes); break;
        default: return true;
      }
      switch (v) {
        case WriteCache::Verdict::done: (void)Owned<D>(slot).end(Status::ok); return false;
        case WriteCache::Verdict::pass: return true;
        case WriteCache::Verdict::retry: requeue(Owned<D>(slot)); return false;
        case WriteCache::Verdict::writeback:
          switch (cache_write_back(c, slot, t, off)) {
            case CacheWait::taken: return false;
            case CacheWait::again: break;  // every write-back ended already: decide again
            case CacheWait::through:
              // No tag for a write-back: a WRITE needing room goes to the driver itself,
              // on its own tag (else writes holding every tag would wait for each other).
              if (c.write_through(off, slot->nr_bytes, segs, nr_segs) == WriteCache::Verdict::pass)
                return true;
              requeue(Owned<D>(slot));
              return false;
          }
          break;
      }
    }
    requeue(Owned<D>(slot));
    return false;
  }

  // Starts the write-backs slot waits for (a FLUSH: the dirty pages up to its target; a
  // WRITE: the oldest pages, to make room) on free tags of this queue, and parks slot until
  // the last of them ended (cache_writeback_end claims and requeues it). again: they all
  // ended before this returned (slot is ours again); taken: slot was parked, or requeued
  // (nothing to write back yet: what it waits for is in flight already; or a FLUSH found no
  // free tag, the reserved one included: a write-back holds it and will requeue a waiter);
  // through: a WRITE found no free tag (slot is still ours).
  enum class CacheWait : uint8_t { taken, again, through };
  CacheWait cache_write_back(WriteCache& c, detail::RequestSlot* slot, CacheTag& t,
                             uint64_t off) noexcept {
    constexpr unsigned kMaxRuns = 32;
    uint32_t tags[kMaxRuns];
    unsigned n = 0;
    uint32_t hint = 0;
    while (n < kMaxRuns) {
      const uint32_t tag = hw_.tags.get(hint);
      if (tag == detail::Sbitmap::kNone) break;
      tags[n++] = tag;
    }
    const bool flush = slot->op == Op::flush || (slot->flags & kReqPreflush);
    if (n == 0 && flush) {  // every submitter tag held: the reserved one (tag_set.hpp)
      const uint32_t tag = hw_.get_reserved();
      if (tag != detail::Sbitmap::kNone) tags[n++] = tag;
    }
    std::vector<CacheWriteback*> wbs;
    if (n) wbs = flush ? c.take_flush(t.flush_target, n) : c.take_eviction(off, slot->nr_bytes, n);
    for (size_t i = wbs.size(); i < n; ++i) hw_.slots[tags[i]].release_tag();
    if (n == 0 && !flush) return CacheWait::through;
    if (wbs.empty()) {
      requeue(Owned<D>(slot));
      return CacheWait::taken;
    }
    // One count for each write-back and one held until slot is parked: none of them can
    // claim it before.
    t.pending.store(static_cast<unsigned>(wbs.size()) + 1, std::memory_order_relaxed);
    t.wb_status.store(Status::ok, std::memory_order_relaxed);
    t.hctx = this;
    t.end_ctx = slot->end_ctx;
    t.resumed = true;
    t.id = RequestId::make(slot->hw_queue, slot->tag, slot->generation());
    for (size_t i = 0; i < wbs.size(); ++i) {
      wbs[i]->owner = &t;
      detail::RequestSlot& s = hw_.slots[tags[i]];
      s.hctx.store(this, std::memory_order_relaxed);
      s.op = Op::write;
      s.flags = 0;
      s.sector = wbs[i]->offset >> kSectorShift;
      s.nr_bytes = static_cast<uint32_t>(wbs[i]->data.size());
      s.buf = wbs[i]->data.data();
      s.end_io = &Hctx::cache_writeback_end;
      s.end_ctx = slot->end_ctx;  // the waiting request's queue: woken by its completions
      s.user_data = reinterpret_cast<uint64_t>(wbs[i]);
      s.start_ns.store(detail::now_ns(), std::memory_order_relaxed);
      s.start();
    }
    for (size_t i = 0; i < wbs.size(); ++i) dispatch(&hw_.slots[tags[i]], true);
    (void)Owned<D>(slot).park();
    if (t.pending.fetch_sub(1, std::memory_order_acq_rel) != 1) return CacheWait::taken;
    Owned<D> back = claim(t.id);  // all ended meanwhile: nobody else claims it
    if (!back) return CacheWait::taken;
    (void)std::move(back).release_slot();
    return CacheWait::again;
  }

  // The end_io of a cache write-back: records how it went, and the last one hands the
  // waiting request back to its queue's requeue list, waking that queue. Any thread.
  static void cache_writeback_end(void*, uint64_t user_data, Status s, uint64_t) noexcept {
    auto* wb = reinterpret_cast<CacheWriteback*>(user_data);  // NOLINT(performance-no-int-to-ptr)
    auto* t = static_cast<CacheTag*>(wb->owner);
    wb->cache->writeback_done(wb, s);  // deletes wb
    if (s != Status::ok) {
      Status ok = Status::ok;
      t->wb_status.compare_exchange_strong(ok, s, std::memory_order_acq_rel);
    }
    if (t->pending.fetch_sub(1, std::memory_order_acq_rel) != 1) return;
    auto* h = static_cast<Hctx*>(t->hctx);
    void* ctx = t->end_ctx;
    const RequestId id = t->id;
    const bool foreign = detail::tls_current_queue != ctx && h->kick_.enter;
    if (foreign) h->kick_.enter(ctx);
    if (Owned<D> rq = h->claim(id)) {
      h->requeue(std::move(rq));
      h->requeue_due_ns_.store(0, std::memory_order_relaxed);  // retry it now
    }
    if (foreign) h->kick_.kick_exit(ctx);
  }

  // Ends request `tag` with s if the engine holds it for a timeout fault (the timeout scan,
  // a power cut, teardown). Returns true when it did. Any thread: the claim decides.
  bool end_fault_held(unsigned tag, Status s) noexcept {
    detail::RequestSlot& sl = hw_.slots[tag];
    if (!sl.fault_held.load(std::memory_order_relaxed)) return false;
    uint64_t w = sl.word.load(std::memory_order_acquire);
    if (detail::state_of(w) == detail::kFree || !(w & detail::kParked)) return false;
    Owned<D> rq = claim(RequestId::make(index_, tag, detail::gen_of(w)));
    if (!rq) return false;
    sl.fault_held.store(false, std::memory_order_relaxed);
    (void)std::move(rq).end(s);
    return true;
  }

  // Runs the completion context: driver poll, softirq list, due timers, requeue list.
  // Returns true when it did anything.
  bool run_completion_context() noexcept {
    bool did = false;
    if constexpr (HasPoll<D>) did |= driver_->poll(*this) != 0;
    // Requeued requests first: a driver that completes a retried one through complete()
    // puts it on the softirq list, which then runs in this same pass.
    if (has_requeue_.load(std::memory_order_relaxed) &&
        !quiesced_.load(std::memory_order_acquire) &&
        requeue_due_ns_.load(std::memory_order_relaxed) <= detail::now_ns())
      did |= run_requeue();
    if (softirq_.load(std::memory_order_relaxed)) did |= run_softirq();
    if (next_timer_.load(std::memory_order_relaxed) >= 0) did |= run_timers(detail::now_ns());
    return did;
  }

  // Absolute time of the earliest timer work, or -1: a completion timer, or the retry of
  // requests a driver answered busy (after kRequeueDelayNs, as the kernel's
  // BLK_MQ_RESOURCE_DELAY, so that a busy driver is retried without being spun on).
  static constexpr int64_t kRequeueDelayNs = 1'000'000;
  int64_t next_timer_ns() const noexcept {
    if constexpr (HasPollPending<D>)
      if (driver_->poll_pending(*const_cast<Hctx*>(this))) return detail::now_ns();
    // Work handed over without a wake-up (a completion context's own dispatch): now.
    if (softirq_.load(std::memory_order_relaxed)) return detail::now_ns();
    int64_t t = next_timer_.load(std::memory_order_acquire);
    if (has_requeue_.load(std::memory_order_acquire) &&
        !quiesced_.load(std::memory_order_acquire)) {
      int64_t retry = requeue_due_ns_.load(std::memory_order_relaxed);
      if (t < 0 || retry < t) t = retry;
    }
    return t;
  }

  // Requests of this queue whose tag is taken: in flight, or ended but still referenced
  // (the slot is not free for reuse yet). Not a hot path: it reads every slot.
  unsigned in_flight() const noexcept {
    unsigned n = 0;
    for (unsigned t = 0; t < nr_slots(); ++t)
      n += hw_.taken(t) && hw_.slots[t].hctx.load(std::memory_order_relaxed) == this;
    return n;
  }

  // Calls f(slot) for each request of this queue whose tag is taken (teardown's report
  // of what is still held). Not a hot path.
  template <class F>
  void for_each_taken(F&& f) noexcept {
    for (unsigned t = 0; t < nr_slots(); ++t)
      if (hw_.taken(t) && hw_.slots[t].hctx.load(std::memory_order_relaxed) == this)
        f(hw_.slots[t]);
  }

  // Engine internals (used by Device<D>): tags, slots, quiesce state, counters.
  detail::Sbitmap& tags() noexcept { return hw_.tags; }
  detail::RequestSlot& slot(unsigned tag) noexcept { return hw_.slots[tag]; }
  void set_quiesced(bool q) noexcept {
    if (!q) requeue_due_ns_.store(0, std::memory_order_relaxed);  // what waited goes now
    quiesced_.store(q, std::memory_order_release);
  }
  void count_timeout() noexcept { timeouts_.fetch_add(1, std::memory_order_relaxed); }
  void set_kick(detail::KickOps ops) noexcept { kick_ = ops; }
  void set_faults(DeviceFaults* f, uint32_t block_sectors) noexcept {
    faults_ = f;
    block_sectors_ = block_sectors;
  }

  // Teardown: ends what the completion context holds (timers drop their references,
  // softirq and requeue entries are ended with status s).
  void drain(Status s) noexcept {
    run_softirq(s);
    std::vector<TimerEntry> timers;
    {
      std::lock_guard lk(timer_lock_);
      timers.swap(timers_);
      timers_.reserve(nr_slots());
      next_timer_.store(-1, std::memory_order_release);
    }
    for (auto& e : timers) {
      e.slot->try_end(s);
      e.slot->put_ref();
    }
    detail::RequestSlot* list = take_requeue();
    while (list) {
      detail::RequestSlot* next = list->next;
      (void)Owned<D>(list).end(s);
      list = next;
    }
  }

  struct TimerEntry {
    int64_t deadline;
    detail::RequestSlot* slot;
    Status status;
    uint64_t result;
    static bool later(const TimerEntry& a, const TimerEntry& b) noexcept {
      return a.deadline > b.deadline;
    }
  };

  // Ends (or hands to complete()) every request on the softirq list, oldest first. With
  // cancel_with (teardown), each is ended with that status instead, bypassing complete().
  Ref<D> lookup_gen(uint32_t tag, uint64_t gen) noexcept {
    if (tag >= nr_slots() || !hw_.slots[tag].try_get_ref(gen)) return Ref<D>();
    Ref<D> r(&hw_.slots[tag]);
    // Stable while the reference is held: written before the start that the CAS saw.
    if (!MQBLK_BROKEN(WRONG_QUEUE) && hw_.slots[tag].hctx.load(std::memory_order_relaxed) != this)
      return Ref<D>();
    return r;
  }
  // The engine's scans: the request now on slot tag, if in flight on this queue.
  Ref<D> lookup_current(uint32_t tag) noexcept {
    if (tag >= nr_slots()) return Ref<D>();
    return lookup_gen(tag, hw_.slots[tag].generation());
  }

  bool run_softirq(std::optional<Status> cancel_with = std::nullopt) noexcept {
    detail::RequestSlot* list = softirq_.exchange(nullptr, std::memory_order_acquire);
    if (!list) return false;
    detail::RequestSlot* fifo = nullptr;
    while (list) {
      detail::RequestSlot* next = list->next;
      list->next = fifo;
      fifo = list;
      list = next;
    }
    while (fifo) {
      detail::RequestSlot* next = fifo->next;
      Owned<D> rq(fifo);
      if (cancel_with)
        (void)std::move(rq).end(*cancel_with);
      else if constexpr (HasComplete<D>)
        driver_->complete(*this, std::move(rq));
      else
        (void)std::move(rq).end(fifo->status, fifo->result);
      fifo = next;
    }
    return true;
  }

  bool run_timers(int64_t now) noexcept {
    TimerEntry due[32];
    bool did = false;
    for (;;) {
      unsigned n = 0;
      {
        std::lock_guard lk(timer_lock_);
        while (n < 32 && !timers_.empty() && timers_.front().deadline <= now) {
          std::pop_heap(timers_.begin(), timers_.end(), TimerEntry::later);
          due[n++] = timers_.back();
          timers_.pop_back();
        }
        next_timer_.store(timers_.empty() ? -1 : timers_.front().deadline,
                          std::memory_order_release);
      }
      for (unsigned i = 0; i < n; ++i) {
        due[i].slot->try_end(due[i].status, due[i].result);
        due[i].slot->put_ref();
      }
      did |= n != 0;
      if (n < 32) return did;
    }
  }

  detail::RequestSlot* take_requeue() noexcept {
    std::lock_guard lk(requeue_lock_);
    detail::RequestSlot* list = requeue_head_;
    requeue_head_ = requeue_tail_ = nullptr;
    has_requeue_.store(false, std::memory_order_relaxed);
    return list;
  }

  bool run_requeue() noexcept {
    detail::RequestSlot* list = take_requeue();
    bool did = list != nullptr;
    while (list) {
      detail::RequestSlot* next = list->next;
      // Ended meanwhile (a timeout or cancel while it waited): deliver, do not dispatch.
      if (detail::state_of(list->word.load(std::memory_order_acquire)) != detail::kInFlight)
        (void)Owned<D>(list).end(Status::ioerr);
      else
        dispatch(list, next == nullptr);
      list = next;
    }
    return did;
  }

  D* driver_;
  unsigned index_;
  HwTags<D>& hw_;
  detail::KickOps kick_;
  DeviceFaults* faults_ = nullptr;  // the device's; set before any I/O
  uint32_t block_sectors_ = 1;
  std::atomic<bool> quiesced_{false};

  alignas(64) std::atomic<detail::RequestSlot*> softirq_{nullptr};
  alignas(64) std::atomic<int64_t> next_timer_{-1};
  std::mutex timer_lock_;
  std::vector<TimerEntry> timers_;  // min-heap on deadline, capacity = depth
  alignas(64) std::atomic<bool> has_requeue_{false};
  std::atomic<int64_t> requeue_due_ns_{0};
  std::mutex requeue_lock_;
  detail::RequestSlot* requeue_head_ = nullptr;
  detail::RequestSlot* requeue_tail_ = nullptr;
  std::atomic<uint64_t> timeouts_{0};
  std::atomic<uint64_t> requeued_{0};
};

template <class D>
void Owned<D>::complete(Status s, uint64_t result) && noexcept {
  detail::RequestSlot* slot = std::exchange(this->slot_, nullptr);
  MQBLK_DEBUG_ASSERT(slot != nullptr, "Owned::complete on an empty handle");
  if (!slot) return;
  slot->status = s;
  slot->result = result;
  static_cast<Hctx<D>*>(slot->hctx.load(std::memory_order_relaxed))->push_softirq(slot);
}

MQBLK_OWNERSHIP_NS_END
}  // namespace mqblk
