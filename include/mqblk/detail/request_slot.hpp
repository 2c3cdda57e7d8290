// mqblk/detail/request_slot.hpp - the preallocated request of one tag, and the atomic
// transitions that decide who ends it and when its slot may be reused.
//
// The seed's question (../shared/seed): who owns a request, and when may its memory be
// reused? mqblk's answer is encoded in one 64-bit word per slot, like the kernel's
// request state + refcount:
//
//   bits 0-1   state: kFree, kInFlight, kEnded (ended, but references remain)
//   bit  2     owner: the unique owner (an Owned<D> handle, or the engine's lists) exists
//   bits 3-31  refs:  counted escape references (Ref<D>: timers, lookups, timeout scan)
//   bits 32-63 gen:   generation, incremented each time the slot starts a request
//
// Invariants:
//  * The slot is reused (tag freed) only when state is kEnded/kFree, owner is clear and
//    refs is zero: the last holder frees it, exactly once.
//  * A request ends exactly once: the party whose CAS moves kInFlight -> kEnded/kFree
//    delivers the completion (end_io); every other party learns it lost.
//  * The unique owner's end on an unshared request is one CAS (in flight + owner + no refs
//    -> free): no reference counting on the hot path.
//  * References are taken only while the state is kInFlight (lookups CAS refs+1 on an in
//    flight word of the expected generation), so a stale tag never yields a request.
#pragma once

#include <atomic>
#include <cstdint>
#include <cstdio>

#include "mqblk/detail/assert.hpp"
#include "mqblk/detail/sbitmap.hpp"
#include "mqblk/types.hpp"

namespace mqblk {

// What an attempt to end a request achieved.
enum class EndResult : uint8_t {
  ended,      // this call ended it: the completion was delivered with its status
  lost,       // someone else (timer, timeout, cancel, teardown) ended it first
  not_owner,  // the handle was empty (moved from or already used); debug builds abort
};

namespace detail {
MQBLK_OWNERSHIP_NS_BEGIN

using EndIoFn = void (*)(void* ctx, uint64_t user_data, Status status) noexcept;

inline constexpr uint64_t kStateMask = 3;
inline constexpr uint64_t kFree = 0;
inline constexpr uint64_t kInFlight = 1;
inline constexpr uint64_t kEnded = 2;
inline constexpr uint64_t kOwner = 4;
inline constexpr uint64_t kRef = 8;
inline constexpr uint64_t kRefMask = 0xFFFFFFF8ull;
inline constexpr uint64_t kGenMask = 0xFFFFFFFF00000000ull;
inline constexpr unsigned kGenShift = 32;

inline constexpr uint64_t state_of(uint64_t w) noexcept { return w & kStateMask; }
inline constexpr uint32_t gen_of(uint64_t w) noexcept {
  return static_cast<uint32_t>(w >> kGenShift);
}

// One preallocated request. Fields other than word/deadline/next are written by the
// starter before the release store that puts the slot in flight, and are read-only until
// the slot is freed; any holder (owner, Ref, borrow) may read them. hctx is atomic because
// with a shared tag set another device's scan reads it while a starter writes it.
struct alignas(64) RequestSlot {
  std::atomic<uint64_t> word{0};
  Op op = Op::read;
  Status status = Status::ok;  // written by the ender before end_io (deferred paths)
  uint16_t hw_queue = 0;
  uint32_t tag = 0;
  uint32_t flags = 0;
  uint32_t nr_bytes = 0;
  uint64_t sector = 0;
  std::byte* buf = nullptr;
  EndIoFn end_io = nullptr;
  void* end_ctx = nullptr;
  uint64_t user_data = 0;
  Sbitmap* tags = nullptr;              // where the tag returns
  void* pdu = nullptr;                  // the driver's per-request data (Owned<D>::pdu())
  std::atomic<void*> hctx{nullptr};     // the Hctx<D> (a device's queue) that started it
  std::atomic<int64_t> deadline_ns{0};  // for the timeout scan (coarse clock)
  RequestSlot* next = nullptr;          // link for the list that owns it (softirq, requeue)
  // A segmented read or write (buf == nullptr): its segments. Written only by segmented
  // submissions; meaningless while buf is set.
  const IoSegment* segs = nullptr;
  uint32_t nr_segs = 0;

  // Puts a free slot (its tag just allocated by the caller) in flight with an owner.
  // A plain release store suffices: nobody else may modify a free slot's word (lookups
  // only CAS in-flight words, and no references exist).
  uint32_t start() noexcept {
    uint64_t w = word.load(std::memory_order_relaxed);
    MQBLK_DEBUG_ASSERT(state_of(w) == kFree && (w & (kOwner | kRefMask)) == 0,
                       "starting a request slot that is still referenced");
    uint64_t gen = (w & kGenMask) + (uint64_t{1} << kGenShift);
    word.store(gen | kOwner | kInFlight, std::memory_order_release);
    return gen_of(gen);
  }

  // Returns the slot to the tag pool. Only the party that brought it to free with no
  // owner and no refs calls this.
  void release_tag() noexcept { tags->put(tag); }

  void deliver(Status s) noexcept { end_io(end_ctx, user_data, s); }

  // The unique owner ends the request. Hot path: one CAS.
  [[gnu::always_inline]] inline EndResult end_owned(Status s) noexcept {
    uint64_t w = word.load(std::memory_order_relaxed);
#if defined(MQBLK_RAW_OWNERSHIP)
    // The raw baseline of bench/safety_cost: no state transition, no check, as a C driver
    // that trusts itself. Only for measuring what the checks cost.
    word.store(w & kGenMask, std::memory_order_relaxed);
    deliver(s);
    release_tag();
    return EndResult::ended;
#elif defined(MQBLK_BROKEN_OWNERSHIP)
    // Negative control for the stress test: the owner ends without checking that nobody
    // else ended the request. A timer or timeout that already ended it is ended again.
    word.store(w & kGenMask, std::memory_order_release);
    deliver(s);
    if ((w & kRefMask) == 0) release_tag();
    return EndResult::ended;
#else
    uint64_t expected = (w & kGenMask) | kOwner | kInFlight;
    if (__builtin_expect(
            word.compare_exchange_strong(expected, w & kGenMask, std::memory_order_acq_rel,
                                         std::memory_order_acquire),
            1)) {
      deliver(s);
      release_tag();
      return EndResult::ended;
    }
    return end_owned_slow(expected, s);
#endif
  }

  // Someone holds a reference, or someone else already ended the request. First end it if
  // it is still in flight, keeping the owner bit so that nobody can free the slot while
  // the completion is being delivered (deliver reads the slot); then drop the owner bit,
  // freeing the slot if no reference remains.
  [[gnu::noinline, gnu::cold]] EndResult end_owned_slow(uint64_t w, Status s) noexcept {
    EndResult r = EndResult::lost;
    while (state_of(w) == kInFlight) {
      MQBLK_DEBUG_ASSERT(w & kOwner, "owner end on a request without an owner");
      if (word.compare_exchange_weak(w, (w & ~kStateMask) | kEnded, std::memory_order_acq_rel,
                                     std::memory_order_acquire)) {
        deliver(s);
        r = EndResult::ended;
        break;
      }
    }
    drop_owner();
    return r;
  }

  // Gives up the owner reference of an ended request; the last holder frees the slot.
  void drop_owner() noexcept {
    uint64_t w = word.load(std::memory_order_acquire);
    for (;;) {
      MQBLK_DEBUG_ASSERT((w & kOwner) && state_of(w) == kEnded,
                         "dropping an owner it does not have");
      bool last = (w & kRefMask) == 0;
      uint64_t desired = last ? (w & kGenMask) : (w & ~kOwner);
      if (word.compare_exchange_weak(w, desired, std::memory_order_acq_rel,
                                     std::memory_order_acquire)) {
        if (last) release_tag();
        return;
      }
    }
  }

  // The owner gives up ownership without ending (into a counted reference): owner -> one
  // ref. Adding kOwner to a word with the owner bit set carries into refs.
  void owner_to_ref() noexcept {
    MQBLK_DEBUG_ASSERT(word.load(std::memory_order_relaxed) & kOwner, "share without owner");
    word.fetch_add(kOwner, std::memory_order_acq_rel);
  }

  // Any holder tries to end: wins only while in flight.
  EndResult try_end(Status s) noexcept {
    uint64_t w = word.load(std::memory_order_acquire);
    while (state_of(w) == kInFlight) {
      uint64_t desired = (w & ~kStateMask) | kEnded;
      if (word.compare_exchange_weak(w, desired, std::memory_order_acq_rel,
                                     std::memory_order_acquire)) {
        deliver(s);
        return EndResult::ended;
      }
    }
    return EndResult::lost;
  }

  // Takes a counted reference if the slot is in flight (and of generation gen, when
  // check_gen): the only way to reach a request from a bare tag.
  bool try_get_ref(bool check_gen, uint32_t gen) noexcept {
    uint64_t w = word.load(std::memory_order_acquire);
    while (state_of(w) == kInFlight && (!check_gen || gen_of(w) == gen)) {
      if (word.compare_exchange_weak(w, w + kRef, std::memory_order_acq_rel,
                                     std::memory_order_acquire))
        return true;
    }
    return false;
  }

  void get_ref() noexcept { word.fetch_add(kRef, std::memory_order_relaxed); }

  // Drops a counted reference; the last one out frees the slot. A request whose every
  // holder let go without ending it is ended with ioerr here, never lost.
  void put_ref() noexcept {
    uint64_t w = word.fetch_sub(kRef, std::memory_order_acq_rel) - kRef;
    for (;;) {
      if (w & (kRefMask | kOwner)) return;
      if (state_of(w) == kEnded) {
        word.store(w & kGenMask, std::memory_order_release);
        release_tag();
        return;
      }
      if (state_of(w) != kInFlight) return;
      // Abandoned in flight: nobody can end it any more. A lookup may take a ref
      // meanwhile; then the CAS fails and that holder faces the same question.
      if (word.compare_exchange_strong(w, w & kGenMask, std::memory_order_acq_rel,
                                       std::memory_order_acquire)) {
        std::fprintf(stderr,
                     "mqblk: request tag %u dropped by every holder without being ended; "
                     "ended with an I/O error\n",
                     tag);
        deliver(Status::ioerr);
        release_tag();
        return;
      }
    }
  }
};

MQBLK_OWNERSHIP_NS_END
}  // namespace detail
}  // namespace mqblk
