// mqblk/detail/slot_word.hpp - the request slot's state word and every transition on it,
// as pure functions of the word. RequestSlot (request_slot.hpp) applies each one with a
// CAS loop; tests/model/test_slot_model.cpp applies the same functions in every
// interleaving of a bounded set of parties (a small model checker), so what is checked
// is the code that runs, not a copy of it.
//
// Layout of the 64-bit word:
//   bits 0-1   state   kFree, kInFlight, kEndedHeld (ended by a non-owner; the owner
//                      still holds the data), kEnded (completion delivered; refs remain)
//   bit  2     owner   the unique owner exists: an Owned<D> handle, an engine list
//                      (softirq, requeue), or a parked request (bit 3)
//   bit  3     parked  the owner is a RequestId the driver keeps (Owned::park); claim()
//                      turns it back into an Owned
//   bits 4-7   status  kEndedHeld only: the status the first ender recorded
//   bits 8-23  refs    counted references (Ref<D>): at most kMaxRefs
//   bits 24-63 gen     generation, +1 at every start: (queue, tag, gen) names one request
//
// What each holder may touch: the owner (and only the owner) reaches the request's data
// (buffer, segments); a Ref reaches identity and metadata (op, sector, length, flags,
// pdu, id) and may try to end the request. Hence the delivery rule: the submitter gets
// the completion only once no owner remains, because only an owner can still write the
// buffer the submitter is about to free. A Ref that ends a request whose owner still
// holds it records the status (kEndedHeld) and the owner's end or drop delivers it.
//
// Invariants (checked at every step by the model checker):
//  I1 a request ends exactly once: one transition out of kInFlight; its maker learns
//     `ended`, every other ender `lost`;
//  I2 the completion is delivered exactly once, and never while the owner bit is set;
//  I3 the tag is released exactly once, by the transition that leaves no owner and no
//     refs, and after the delivery;
//  I4 a reference is taken only on an in-flight word of the generation asked for;
//  I5 free words keep their generation, so an id of an older use never matches again.
#pragma once

#include <cstdint>

#include "mqblk/detail/assert.hpp"
#include "mqblk/types.hpp"

// Negative controls (tests/stress, tests/unit/test_slot_model): MQBLK_BROKEN_OWNERSHIP
// set to one of these compiles one rule out, so that the tests can show they catch it.
// Never set in a build that ships.
#define MQBLK_BROKEN_END_TWICE 1        // a Ref may end a request that already ended
#define MQBLK_BROKEN_EARLY_DELIVERY 2   // a Ref's end delivers while the owner holds the data
#define MQBLK_BROKEN_NO_GENERATION 3    // lookups ignore the generation of the id
#define MQBLK_BROKEN_FREE_REFERENCED 4  // the owner frees the slot although refs remain
#define MQBLK_BROKEN_WRONG_QUEUE 5      // lookups skip the "started by this queue" check
#define MQBLK_BROKEN_HOLD_FORGOTTEN 6   // a timeout fault parks a request and forgets it
#define MQBLK_BROKEN_NO_RESERVED_TAG 7  // write-backs never take the reserved tag
#if defined(MQBLK_BROKEN_OWNERSHIP)
#define MQBLK_BROKEN(rule) (MQBLK_BROKEN_OWNERSHIP == MQBLK_BROKEN_##rule)
#else
#define MQBLK_BROKEN(rule) 0
#endif

namespace mqblk {

// What an attempt to end a request achieved.
enum class EndResult : uint8_t {
  ended,      // this call decided how the request ended: with its status
  lost,       // someone else (timer, timeout, cancel, teardown) ended it first
  not_owner,  // the handle was empty (moved from or already used); debug builds abort
};

namespace detail {
MQBLK_OWNERSHIP_NS_BEGIN

inline constexpr uint64_t kStateMask = 3;
inline constexpr uint64_t kFree = 0;
inline constexpr uint64_t kInFlight = 1;
inline constexpr uint64_t kEndedHeld = 2;
inline constexpr uint64_t kEnded = 3;
inline constexpr uint64_t kOwner = 1u << 2;
inline constexpr uint64_t kParked = 1u << 3;
inline constexpr unsigned kStatusShift = 4;
inline constexpr uint64_t kStatusMask = 0xFull << kStatusShift;
inline constexpr unsigned kRefShift = 8;
inline constexpr uint64_t kRef = uint64_t{1} << kRefShift;
inline constexpr uint64_t kRefMask = 0xFFFFull << kRefShift;
inline constexpr uint64_t kMaxRefs = 0xFFFF;
inline constexpr unsigned kGenShift = 24;
inline constexpr uint64_t kGenMask = ~uint64_t{0} << kGenShift;
inline constexpr unsigned kGenBits = 64 - kGenShift;  // 40: see RequestId for the window

inline constexpr uint64_t state_of(uint64_t w) noexcept { return w & kStateMask; }
inline constexpr uint64_t gen_of(uint64_t w) noexcept { return w >> kGenShift; }
inline constexpr uint64_t refs_of(uint64_t w) noexcept { return (w & kRefMask) >> kRefShift; }
inline constexpr Status status_of(uint64_t w) noexcept {
  return static_cast<Status>((w & kStatusMask) >> kStatusShift);
}
inline constexpr bool has_owner(uint64_t w) noexcept { return w & kOwner; }
static_assert(static_cast<unsigned>(Status::zone_active_resource) < 16,
              "a status must fit in 4 bits");

// The result of applying one transition to a word `w`:
//   ok      false: the transition does not apply to w (nothing changes, no effects)
//   next    the word to CAS in
//   deliver the caller delivers the completion (after its CAS), with `status`
//   release the caller returns the tag to the pool (after delivering, if both)
//   result  what the caller reports (ends only)
//   put     the caller now holds one reference (the owner's, turned into one so that the
//           slot stays its own until the delivery is done) and drops it after delivering
struct Step {
  bool ok = false;
  uint64_t next = 0;
  bool deliver = false;
  bool release = false;
  Status status = Status::ok;
  EndResult result = EndResult::lost;
  bool put = false;
};

// A free slot whose tag was just allocated starts: in flight with an owner, next gen.
constexpr Step step_start(uint64_t w) noexcept {
  if (state_of(w) != kFree || (w & ~kGenMask) != 0) return {};
  return Step{true, (w & kGenMask) + (uint64_t{1} << kGenShift) + kOwner + kInFlight};
}

// The owner lets go: ends with s (it decides the status only if nobody ended it first),
// or drops an unended request (then s is ioerr). The owner bit goes; the completion is
// delivered now (the recorded status, if a non-owner ended it first). With no reference
// left the slot is freed after the delivery; otherwise the owner becomes a reference for
// the time of its delivery (put), so that the last other holder cannot return the tag
// (and the slot start its next request) before this completion reached its submitter.
constexpr Step step_owner_end(uint64_t w, Status s) noexcept {
  if (!has_owner(w) || (w & kParked)) return {};
  uint64_t st = state_of(w);
  Step r;
  r.ok = true;
  r.deliver = true;
  if (st == kInFlight) {
    r.status = s;
    r.result = EndResult::ended;
  } else if (st == kEndedHeld) {
    r.status = status_of(w);
    r.result = EndResult::lost;
  } else {
    return {};  // an owner of an ended-and-delivered request cannot exist
  }
  r.release = refs_of(w) == 0 || MQBLK_BROKEN(FREE_REFERENCED);
  if (r.release) {
    r.next = w & kGenMask;
  } else {
    if (refs_of(w) == kMaxRefs) return {};
    r.next = ((w & (kGenMask | kRefMask)) | kEnded) + kRef;
    r.put = true;
  }
  return r;
}

// The owner turns into one counted reference (Owned::share): it gives up the data. A
// request a non-owner ended meanwhile is delivered now, as nobody can reach its data.
constexpr Step step_owner_share(uint64_t w) noexcept {
  if (!has_owner(w) || (w & kParked) || refs_of(w) == kMaxRefs) return {};
  uint64_t st = state_of(w);
  if (st == kInFlight) return Step{true, (w & ~kOwner) + kRef};
  if (st != kEndedHeld) return {};
  Step r{true, ((w & (kGenMask | kRefMask)) | kEnded) + kRef};
  r.deliver = true;
  r.status = status_of(w);
  return r;
}

// The owner parks itself as an id (Owned::park) / claims itself back by id (claim).
constexpr Step step_park(uint64_t w) noexcept {
  if (!has_owner(w) || (w & kParked)) return {};
  return Step{true, w | kParked};
}
constexpr Step step_claim(uint64_t w, uint64_t gen) noexcept {
  if (!has_owner(w) || !(w & kParked) || gen_of(w) != gen) return {};
  return Step{true, w & ~kParked};
}

// A reference holder (timer, timeout scan, cancel, a lookup) tries to end the request.
// While an owner holds it: record the status, deliver later (the owner's step does).
// Without an owner: deliver now (the caller's reference keeps the slot meanwhile).
constexpr Step step_ref_end(uint64_t w, Status s) noexcept {
  bool endable = state_of(w) == kInFlight || (MQBLK_BROKEN(END_TWICE) && state_of(w) == kEnded);
  if (!endable || refs_of(w) == 0) return {};
  Step r;
  r.ok = true;
  r.result = EndResult::ended;
  if (has_owner(w) && !MQBLK_BROKEN(EARLY_DELIVERY)) {
    r.next = (w & ~(kStateMask | kStatusMask)) | kEndedHeld |
             (uint64_t{static_cast<uint8_t>(s)} << kStatusShift);
  } else {
    r.next = (w & ~kStateMask) | kEnded;
    r.deliver = true;
    r.status = s;
  }
  return r;
}

// A lookup takes a reference: only on an in-flight word of generation gen.
constexpr Step step_get_ref(uint64_t w, uint64_t gen) noexcept {
  bool gen_ok = gen_of(w) == gen || MQBLK_BROKEN(NO_GENERATION);
  if (state_of(w) != kInFlight || !gen_ok || refs_of(w) == kMaxRefs) return {};
  return Step{true, w + kRef};
}

// A reference holder that already has one takes another (copying a Ref).
constexpr Step step_copy_ref(uint64_t w) noexcept {
  if (refs_of(w) == 0 || refs_of(w) == kMaxRefs) return {};
  return Step{true, w + kRef};
}

// A reference goes. The last one out of an ended request frees the slot; the last one
// of an in-flight request nobody owns (every holder let go unended) ends it with ioerr,
// so nothing is lost.
constexpr Step step_put_ref(uint64_t w) noexcept {
  if (refs_of(w) == 0) return {};
  uint64_t n = w - kRef;
  if (refs_of(n) != 0 || has_owner(n)) return Step{true, n};
  Step r;
  r.ok = true;
  r.next = n & kGenMask;
  r.release = true;
  if (state_of(n) == kInFlight) {
    r.deliver = true;
    r.status = Status::ioerr;
  }
  return r;
}

MQBLK_OWNERSHIP_NS_END
}  // namespace detail
}  // namespace mqblk
