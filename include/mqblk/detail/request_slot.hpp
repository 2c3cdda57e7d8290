// mqblk/detail/request_slot.hpp - the preallocated request of one tag, and the atomic
// transitions that decide who ends it, when its completion is delivered and when its slot
// may be reused.
//
// The seed's question (../shared/seed): who owns a request, and when may its memory be
// reused? mqblk's answer is one 64-bit word per slot (detail/slot_word.hpp: state, owner,
// parked, recorded status, refs, generation) and the transitions there, each applied here
// with one CAS. Invariants (see slot_word.hpp for the full list):
//  * a request ends exactly once; the completion is delivered exactly once, and only when
//    no owner remains (only the owner may touch the data, so a submitter that frees its
//    buffer at completion can never be written to late);
//  * the slot is reused only once no owner and no reference remain;
//  * a reference is taken only on an in-flight request of the generation asked for.
#pragma once

#include <atomic>
#include <cstdint>
#include <cstdio>

#include "mqblk/detail/assert.hpp"
#include "mqblk/detail/sbitmap.hpp"
#include "mqblk/detail/slot_word.hpp"
#include "mqblk/types.hpp"

namespace mqblk {

// The name of one request: its hardware queue, its tag and the generation of that use of
// the tag, as an NVMe command id carries a generation counter. What a driver keeps when it
// hands a request on (an io_uring's user_data, a network library's cookie) and looks up
// or claims back by. Invariant: an id names the request it was taken from, or none: a
// lookup of an id whose request ended finds nothing, never the request that reused its
// tag, until the same slot has started 2^40 more requests (at 22M IOPS on one slot, the
// fastest rate measured at QD1, about 13.9 hours). Packs into 64 bits (raw()) for APIs
// that carry one word: generation (40 bits) | hw_queue (11) | tag (13: a queue's
// queue_depth tags and the engine's reserved one, mqblk/tag_set.hpp).
class RequestId {
 public:
  constexpr RequestId() = default;  // names no request
  static constexpr RequestId make(unsigned hw_queue, unsigned tag, uint64_t generation) noexcept {
    return RequestId((generation << kGenPos) | (uint64_t{hw_queue & kQueueMask} << kQueuePos) |
                     (tag & kTagMask));
  }
  static constexpr RequestId from_raw(uint64_t raw) noexcept { return RequestId(raw); }
  constexpr uint64_t raw() const noexcept { return v_; }
  constexpr unsigned hw_queue() const noexcept {
    return static_cast<unsigned>((v_ >> kQueuePos) & kQueueMask);
  }
  constexpr unsigned tag() const noexcept { return static_cast<unsigned>(v_ & kTagMask); }
  constexpr uint64_t generation() const noexcept { return v_ >> kGenPos; }
  constexpr explicit operator bool() const noexcept { return v_ != 0; }
  friend constexpr bool operator==(RequestId a, RequestId b) noexcept { return a.v_ == b.v_; }

 private:
  static constexpr unsigned kQueuePos = 13, kGenPos = 24;
  // nr_hw_queues <= 256; tags 0..4096 (queue_depth <= 4096, and the reserved tag).
  static constexpr uint64_t kQueueMask = 0x7FF, kTagMask = 0x1FFF;
  static_assert(kGenPos == detail::kGenShift, "an id holds the whole generation");
  constexpr explicit RequestId(uint64_t v) noexcept : v_(v) {}
  uint64_t v_ = 0;
};

namespace detail {
MQBLK_OWNERSHIP_NS_BEGIN

using EndIoFn = void (*)(void* ctx, uint64_t user_data, Status status, uint64_t result) noexcept;

// One preallocated request. Fields other than the atomics and `next` are written by the
// starter before the release store that puts the slot in flight, and are read-only until
// the slot is freed; metadata may be read by any holder, buf/segs only by the owner.
// hctx is atomic because with a shared tag set another device's scan reads it while a
// starter writes it.
struct alignas(64) RequestSlot {
  std::atomic<uint64_t> word{0};
  Op op = Op::read;
  Status status = Status::ok;  // the owner's status for the softirq hand-over (complete())
  uint16_t hw_queue = 0;
  uint32_t tag = 0;
  uint32_t flags = 0;
  uint32_t nr_bytes = 0;
  uint64_t sector = 0;
  std::byte* buf = nullptr;
  EndIoFn end_io = nullptr;
  void* end_ctx = nullptr;
  uint64_t user_data = 0;
  uint64_t result = 0;               // the owner's result for the softirq hand-over
  Sbitmap* tags = nullptr;           // where the tag returns
  void* pdu = nullptr;               // the driver's per-request data (pdu())
  std::atomic<void*> hctx{nullptr};  // the Hctx<D> (a device's queue) that started it
  // Coarse start time: the timeout scan's deadline is start_ns + the request timeout, or
  // timer_until_ns when a driver's timeout() reset the timer of generation timer_gen
  // (written only by timeout threads, so that starting a request stores one time only).
  std::atomic<int64_t> start_ns{0};
  std::atomic<uint64_t> timer_gen{0};
  std::atomic<int64_t> timer_until_ns{0};
  RequestSlot* next = nullptr;  // link for the list that owns it (softirq, requeue)
  // A segmented read or write (buf == nullptr): its segments. Written only by segmented
  // submissions; meaningless while buf is set.
  const IoSegment* segs = nullptr;
  uint32_t nr_segs = 0;
  // Test features (mqblk/faults.hpp). forced: a badblocks_partial_io request, whose
  // submitter gets this status (not ok) with result = the bytes the driver transferred;
  // fault_held: the engine itself parked it (a timeout fault) and the
  // timeout scan, a power cut or teardown claims it; written before the park's release.
  // forced is reset by the delivery that used it, so starts need not write it.
  Status forced = Status::ok;
  std::atomic<bool> fault_held{false};

  // Delivers the completion to the submitter. Every caller holds the slot meanwhile: the
  // tag is released only after it (free transitions), or the caller keeps a reference
  // (Step::put, try_end, share), so these fields cannot be rewritten under it.
  void deliver(Status s, uint64_t result) noexcept {
    if (__builtin_expect(forced != Status::ok, 0)) {
      if (s == Status::ok) {
        s = forced;
        result = nr_bytes;  // what was transferred before the bad sector
      }
      forced = Status::ok;  // delivered once: the next start begins clean
    }
    end_io(end_ctx, user_data, s, result);
  }

  uint64_t generation() const noexcept { return gen_of(word.load(std::memory_order_relaxed)); }

  // Puts a free slot (its tag just allocated by the caller) in flight with an owner.
  // A plain release store suffices: nobody else may modify a free slot's word (lookups
  // only CAS in-flight words, and no references exist).
  void start() noexcept {
    const uint64_t w = word.load(std::memory_order_relaxed);
    MQBLK_DEBUG_ASSERT(step_start(w).ok, "starting a request slot that is still referenced");
    // step_start(w).next, without the check that release builds need not make.
    word.store((w & kGenMask) + (uint64_t{1} << kGenShift) + kOwner + kInFlight,
               std::memory_order_release);
  }

  // Returns the slot to the tag pool. Only the party whose transition released it.
  void release_tag() noexcept { tags->put(tag); }

  // The unique owner ends the request (or drops it unended, with ioerr). Hot path: one
  // CAS from "in flight, owned, unshared" to free, then deliver and free the tag.
  [[gnu::always_inline]] inline EndResult end_owned(Status s, uint64_t res = 0) noexcept {
    uint64_t w = word.load(std::memory_order_relaxed);
#if defined(MQBLK_RAW_OWNERSHIP)
    // The raw baseline of bench/safety_cost: no state transition, no check, as a C driver
    // that trusts itself. Only for measuring what the checks cost.
    word.store(w & kGenMask, std::memory_order_relaxed);
    deliver(s, res);
    release_tag();
    return EndResult::ended;
#else
    uint64_t expected = (w & kGenMask) | kOwner | kInFlight;
    if (__builtin_expect(
            word.compare_exchange_strong(expected, w & kGenMask, std::memory_order_acq_rel,
                                         std::memory_order_acquire),
            1)) {
      deliver(s, res);
      release_tag();
      return EndResult::ended;
    }
    return end_owned_slow(expected, s, res);
#endif
  }

  // Someone holds a reference, or a non-owner already ended the request (its recorded
  // status is delivered now: the owner was the last party that could touch the data).
  [[gnu::noinline, gnu::cold]] EndResult end_owned_slow(uint64_t w, Status s,
                                                        uint64_t res) noexcept {
    for (;;) {
      Step st = step_owner_end(w, s);
      MQBLK_DEBUG_ASSERT(st.ok, "an owner's end on a request it does not own (or 65535 refs)");
      if (!st.ok) return EndResult::not_owner;
      if (word.compare_exchange_weak(w, st.next, std::memory_order_acq_rel,
                                     std::memory_order_acquire)) {
        deliver(st.status, st.result == EndResult::ended ? res : 0);
        if (st.release) release_tag();
        if (st.put) put_ref();  // the reference that kept the slot during the delivery
        return st.result;
      }
    }
  }

  // The owner becomes one counted reference (Owned::share).
  void owner_to_ref() noexcept {
    uint64_t w = word.load(std::memory_order_acquire);
    for (;;) {
      Step st = step_owner_share(w);
      if (!st.ok)
        assert_fail("Owned::share on a request it does not own, or with 65535 references", __FILE__,
                    __LINE__);
      if (word.compare_exchange_weak(w, st.next, std::memory_order_acq_rel,
                                     std::memory_order_acquire)) {
        if (st.deliver) deliver(st.status, 0);  // the reference it became keeps the slot
        return;
      }
    }
  }

  // The owner parks itself (Owned::park); a claim with the right generation undoes it.
  void park() noexcept {
    uint64_t w = word.load(std::memory_order_relaxed);
    for (;;) {
      Step st = step_park(w);
      MQBLK_DEBUG_ASSERT(st.ok, "parking a request that is not owned");
      if (!st.ok) return;
      if (word.compare_exchange_weak(w, st.next, std::memory_order_release,
                                     std::memory_order_relaxed))
        return;
    }
  }
  bool claim(uint64_t gen) noexcept {
    uint64_t w = word.load(std::memory_order_acquire);
    for (;;) {
      Step st = step_claim(w, gen);
      if (!st.ok) return false;
      if (word.compare_exchange_weak(w, st.next, std::memory_order_acq_rel,
                                     std::memory_order_acquire))
        return true;
    }
  }

  // A reference holder tries to end: wins only while in flight. With an owner present the
  // status is recorded and delivered when the owner lets go (without res: the owner's
  // end brings its own). res reaches the submitter only with this party's status.
  EndResult try_end(Status s, uint64_t res = 0) noexcept {
    uint64_t w = word.load(std::memory_order_acquire);
    for (;;) {
      Step st = step_ref_end(w, s);
      if (!st.ok) return EndResult::lost;
      if (word.compare_exchange_weak(w, st.next, std::memory_order_acq_rel,
                                     std::memory_order_acquire)) {
        if (st.deliver)
          deliver(st.status, st.status == s ? res : 0);  // our reference keeps the slot
        return EndResult::ended;
      }
    }
  }

  // Takes a counted reference if the slot is in flight with generation gen: the only way
  // to reach a request from its id.
  bool try_get_ref(uint64_t gen) noexcept {
    uint64_t w = word.load(std::memory_order_acquire);
    for (;;) {
      Step st = step_get_ref(w, gen);
      if (!st.ok) return false;
      if (word.compare_exchange_weak(w, st.next, std::memory_order_acq_rel,
                                     std::memory_order_acquire))
        return true;
    }
  }

  // Another reference from a holder of one (copying a Ref). Not a hot path.
  void get_ref() noexcept {
    uint64_t w = word.load(std::memory_order_relaxed);
    for (;;) {
      Step st = step_copy_ref(w);
      if (!st.ok) assert_fail("more than 65535 references to one request", __FILE__, __LINE__);
      if (word.compare_exchange_weak(w, st.next, std::memory_order_relaxed,
                                     std::memory_order_relaxed))
        return;
    }
  }

  // Drops a counted reference; the last one out frees the slot. A request whose every
  // holder let go without ending it is ended with ioerr here, never lost.
  void put_ref() noexcept {
    uint64_t w = word.load(std::memory_order_acquire);
    for (;;) {
      Step st = step_put_ref(w);
      if (!st.ok) return;  // only reachable in a negative-control build
      if (word.compare_exchange_weak(w, st.next, std::memory_order_acq_rel,
                                     std::memory_order_acquire)) {
        if (st.deliver) {
          std::fprintf(stderr,
                       "mqblk: request tag %u dropped by every holder without being ended; "
                       "ended with an I/O error\n",
                       tag);
          deliver(st.status, 0);  // freed, but the tag is still ours until release_tag
        }
        if (st.release) release_tag();
        return;
      }
    }
  }
};

MQBLK_OWNERSHIP_NS_END
}  // namespace detail
}  // namespace mqblk
