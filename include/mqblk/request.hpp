// mqblk/request.hpp - the three ways a driver holds a request: Owned, Ref and Borrowed.
//
//  Owned<D>    unique, move-only ownership. queue_rq and complete receive it. Ending
//              consumes it (`std::move(rq).end(status)`); it cannot be copied. No
//              reference counting: ending an unshared request is one CAS.
//  Ref<D>      a counted reference, for escapes: a timer, another thread, a tag lookup.
//              Copyable (each copy counts). May try to end the request; exactly one
//              party wins. The slot is reused only after the last Ref is gone.
//  Borrowed<D> a view for the duration of a callback (timeout). Cannot end the request
//              and cannot become ownership; the engine holds a Ref while it lives.
//
// All three read the same fields (op, sector, data, pdu...). See docs/design.md.
#pragma once

#include <cstdint>
#include <utility>

#include "mqblk/detail/request_slot.hpp"

namespace mqblk {
MQBLK_OWNERSHIP_NS_BEGIN

template <class D>
class Hctx;

// Read access shared by all handles. Valid only while the handle holds a request.
template <class D>
class RequestView {
 public:
  Op op() const noexcept { return slot_->op; }
  uint32_t flags() const noexcept { return slot_->flags; }
  bool fua() const noexcept { return slot_->flags & kReqFua; }
  uint64_t sector() const noexcept { return slot_->sector; }
  uint64_t offset() const noexcept { return slot_->sector << kSectorShift; }
  uint32_t bytes() const noexcept { return slot_->nr_bytes; }
  // The data of a read or write. A request submitted with one buffer has it in data();
  // a segmented one (IoQueue::submit_segments, for drivers with kSegments) has data() null
  // and its bytes in segment(0) .. segment(segment_count() - 1), in order. Either way the
  // segments describe it: a single buffer is one segment.
  std::byte* data() const noexcept { return slot_->buf; }
  unsigned segment_count() const noexcept {
    if (!op_has_data(slot_->op)) return 0;
    return slot_->buf ? 1u : slot_->nr_segs;
  }
  IoSegment segment(unsigned i) const noexcept {
    MQBLK_DEBUG_ASSERT(i < segment_count(), "segment index out of range");
    return slot_->buf ? IoSegment{slot_->buf, slot_->nr_bytes} : slot_->segs[i];
  }
  uint32_t tag() const noexcept { return slot_->tag; }
  uint16_t hw_queue() const noexcept { return slot_->hw_queue; }
  // The generation of this use of the slot: (tag, generation) names one request forever.
  uint32_t generation() const noexcept {
    return detail::gen_of(slot_->word.load(std::memory_order_relaxed));
  }
  typename D::Pdu& pdu() const noexcept { return *static_cast<typename D::Pdu*>(slot_->pdu); }
  Hctx<D>& hctx() const noexcept {
    return *static_cast<Hctx<D>*>(slot_->hctx.load(std::memory_order_relaxed));
  }

 protected:
  RequestView() = default;
  explicit RequestView(detail::RequestSlot* s) noexcept : slot_(s) {}
  detail::RequestSlot* slot_ = nullptr;
};

template <class D>
class Ref;

// Invariant: a non-empty Owned is the request's unique owner (the owner bit is set and
// only this handle may clear it). Threads: any thread may hold and end it, one at a time.
template <class D>
class [[nodiscard]] Owned : public RequestView<D> {
  using RequestView<D>::slot_;

 public:
  Owned() = default;
  Owned(const Owned&) = delete;
  Owned& operator=(const Owned&) = delete;
  Owned(Owned&& o) noexcept : RequestView<D>(std::exchange(o.slot_, nullptr)) {}
  Owned& operator=(Owned&& o) noexcept {
    if (this != &o) {
      abandon();
      slot_ = std::exchange(o.slot_, nullptr);
    }
    return *this;
  }
  // Dropping an Owned without ending it would lose a completion; the request is ended
  // with ioerr instead (and debug builds abort: it is a driver bug).
  ~Owned() { abandon(); }

  explicit operator bool() const noexcept { return slot_ != nullptr; }

  // Ends the request with status s and consumes the handle. Returns ended, or lost when
  // a timer/timeout/cancellation ended it first. Ending through an empty handle (used
  // twice, moved from) is a debug assertion and returns not_owner. Always inlined: it is
  // the hot path of every driver that ends in queue_rq (its slow part is out of line).
  [[gnu::always_inline]] inline EndResult end(Status s = Status::ok) && noexcept {
    detail::RequestSlot* s_ = std::exchange(slot_, nullptr);
    MQBLK_DEBUG_ASSERT(s_ != nullptr, "Owned::end on an empty handle (ended twice or moved from)");
    if (!s_) return EndResult::not_owner;
    return s_->end_owned(s);
  }

  // Hands the request to its hardware queue's completion context (the "softirq", run by
  // the thread that reaps that queue): the driver's complete() callback, or end(s) if it
  // has none, runs there. Consumes the handle.
  void complete(Status s = Status::ok) && noexcept;

  // Shares the request: ownership becomes one counted reference (a timer, a thread).
  Ref<D> share() && noexcept;

  // Internal: the engine builds handles from slots.
  static Owned adopt(detail::RequestSlot* s) noexcept { return Owned(s); }
  detail::RequestSlot* release_slot() && noexcept { return std::exchange(slot_, nullptr); }

 private:
  explicit Owned(detail::RequestSlot* s) noexcept : RequestView<D>(s) {}
  // Dropping the handle of a request someone else already ended (cancelled, timed out)
  // just lets it go; dropping one still in flight is a driver bug.
  void abandon() noexcept {
    if (slot_) {
      detail::RequestSlot* s = std::exchange(slot_, nullptr);
      MQBLK_DEBUG_ASSERT(
          detail::state_of(s->word.load(std::memory_order_acquire)) != detail::kInFlight,
          "an Owned request was dropped without being ended");
      s->end_owned(Status::ioerr);
    }
  }
};

// Invariant: a non-empty Ref holds one count in the slot's refs; the slot cannot be
// reused while it lives. It may refer to a request that has already ended (then
// try_end() returns lost). Threads: any.
template <class D>
class Ref : public RequestView<D> {
  using RequestView<D>::slot_;

 public:
  Ref() = default;
  Ref(const Ref& o) noexcept : RequestView<D>(o.slot_) {
    if (slot_) slot_->get_ref();
  }
  Ref(Ref&& o) noexcept : RequestView<D>(std::exchange(o.slot_, nullptr)) {}
  Ref& operator=(Ref o) noexcept {
    std::swap(slot_, o.slot_);
    return *this;
  }
  ~Ref() { reset(); }

  explicit operator bool() const noexcept { return slot_ != nullptr; }
  void reset() noexcept {
    if (slot_) std::exchange(slot_, nullptr)->put_ref();
  }

  // Ends the request if nobody has yet. Exactly one of all racing parties gets ended.
  EndResult try_end(Status s) noexcept {
    if (!slot_) return EndResult::not_owner;
    return slot_->try_end(s);
  }

  // Whether the request is still in flight (it may end right after this returns).
  bool in_flight() const noexcept {
    return slot_ &&
           detail::state_of(slot_->word.load(std::memory_order_acquire)) == detail::kInFlight;
  }

  // Internal: adopt a count already taken.
  static Ref adopt(detail::RequestSlot* s) noexcept { return Ref(s); }
  detail::RequestSlot* release_slot() && noexcept { return std::exchange(slot_, nullptr); }

 private:
  explicit Ref(detail::RequestSlot* s) noexcept : RequestView<D>(s) {}
};

// A view valid for the duration of one callback; the engine keeps the request alive.
// It has no end(): a timeout handler answers with a TimeoutAction instead.
template <class D>
class Borrowed : public RequestView<D> {
 public:
  explicit Borrowed(const Ref<D>& r) noexcept : RequestView<D>(r) {}
  Borrowed(const Borrowed&) = default;
  Borrowed& operator=(const Borrowed&) = delete;
};

template <class D>
Ref<D> Owned<D>::share() && noexcept {
  detail::RequestSlot* s = std::exchange(slot_, nullptr);
  MQBLK_DEBUG_ASSERT(s != nullptr, "Owned::share on an empty handle");
  if (!s) return Ref<D>();
  s->owner_to_ref();
  return Ref<D>::adopt(s);
}

MQBLK_OWNERSHIP_NS_END
}  // namespace mqblk
