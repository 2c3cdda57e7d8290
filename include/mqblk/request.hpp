// mqblk/request.hpp - the three ways a driver holds a request: Owned, Ref and Borrowed,
// and RequestId, the name it keeps when it hands a request on.
//
//  Owned<D>    unique, move-only ownership, and the only handle that reaches the data
//              (data(), segment()). queue_rq and complete receive it by value. Ending
//              consumes it (`std::move(rq).end(status)`); it cannot be copied. No
//              reference counting: ending an unshared request is one CAS.
//  Ref<D>      a counted reference, for escapes: a timer, another thread, a lookup by
//              id. Copyable (each copy counts). Reads identity and metadata, never the
//              data; may try to end the request (exactly one party wins). The slot is
//              reused only after the last Ref is gone.
//  Borrowed<D> the timeout callback's view: metadata only, for the duration of the
//              call. Neither copyable nor movable, and only the engine makes one.
//
// Delivery rule: the submitter receives the completion only when no owner remains. When a
// timer, the timeout scan, a cancel or teardown ends a request through a Ref while its
// owner still holds it, the status is recorded and delivered when the owner ends, drops,
// or shares it (its end returns lost). So a driver that holds an Owned may write the
// buffer until it lets go, whatever else happens. See docs/design.md.
//
// Handing a request on (a completion thread, an io_uring, a network library):
//  * keep the Owned: move it wherever the work is (a queue, a lambda); end it there;
//  * or park it: `RequestId id = std::move(rq).park();` gives the owner role to the id
//    (an io_uring user_data, say) and `Owned rq = hctx.claim(id)` takes it back, exactly
//    once. A parked request is still owned: a timeout or cancel records its status and
//    waits for the claim; teardown waits for it (and reports it as hung after 10 s).
//  * share() turns the Owned into a Ref: only for parties that need no data (a timer).
#pragma once

#include <cstdint>
#include <utility>

#include "mqblk/detail/request_slot.hpp"

namespace mqblk {
MQBLK_OWNERSHIP_NS_BEGIN

template <class D>
class Hctx;
template <class D>
class Device;
template <class D>
class DeviceQueue;
template <class D>
class Ref;
template <class D>
class Owned;
template <class D>
class Borrowed;

// Metadata access shared by all handles. Every accessor of an empty handle (moved from,
// ended, default-constructed) is an ownership violation: debug and sanitizer builds abort
// with that line; release builds must not call them (checking costs the hot path).
// Handles inherit it privately and re-export the accessors, so that no code can convert a
// Ref or a Borrowed to a RequestMeta and cast that to an Owned; the slot pointer is
// private, reachable by the handles and the engine only (not by a class deriving from
// RequestMeta).
template <class D>
class RequestMeta {
 public:
  Op op() const noexcept { return s().op; }
  uint32_t flags() const noexcept { return s().flags; }
  bool fua() const noexcept { return s().flags & kReqFua; }
  uint64_t sector() const noexcept { return s().sector; }
  uint64_t offset() const noexcept { return s().sector << kSectorShift; }
  uint32_t bytes() const noexcept { return s().nr_bytes; }
  uint32_t tag() const noexcept { return s().tag; }
  uint16_t hw_queue() const noexcept { return s().hw_queue; }
  // The generation of this use of the slot; id() names the request for lookups and claims.
  uint64_t generation() const noexcept { return s().generation(); }
  RequestId id() const noexcept { return RequestId::make(s().hw_queue, s().tag, generation()); }
  typename D::Pdu& pdu() const noexcept { return *static_cast<typename D::Pdu*>(s().pdu); }
  Hctx<D>& hctx() const noexcept {
    return *static_cast<Hctx<D>*>(s().hctx.load(std::memory_order_relaxed));
  }

 private:
  friend class Owned<D>;
  friend class Ref<D>;
  friend class Borrowed<D>;
  RequestMeta() = default;
  explicit RequestMeta(detail::RequestSlot* s) noexcept : slot_(s) {}
  detail::RequestSlot& s() const noexcept {
    MQBLK_DEBUG_ASSERT(slot_ != nullptr,
                       "a request read through an empty handle (moved from or ended)");
    return *slot_;
  }
  detail::RequestSlot* slot_ = nullptr;
};

// The metadata accessors each handle re-exports from its private RequestMeta base.
#define MQBLK_REQUEST_META_ACCESSORS \
  using RequestMeta<D>::op;          \
  using RequestMeta<D>::flags;       \
  using RequestMeta<D>::fua;         \
  using RequestMeta<D>::sector;      \
  using RequestMeta<D>::offset;      \
  using RequestMeta<D>::bytes;       \
  using RequestMeta<D>::tag;         \
  using RequestMeta<D>::hw_queue;    \
  using RequestMeta<D>::generation;  \
  using RequestMeta<D>::id;          \
  using RequestMeta<D>::pdu;         \
  using RequestMeta<D>::hctx

// Invariant: a non-empty Owned is the request's unique owner (the owner bit is set and
// only this handle may clear it), and the only party that may touch its data. Threads:
// any thread may hold and end it, one at a time.
template <class D>
class [[nodiscard]] Owned : private RequestMeta<D> {
  using RequestMeta<D>::slot_;
  using RequestMeta<D>::s;

 public:
  MQBLK_REQUEST_META_ACCESSORS;
  Owned() = default;
  Owned(const Owned&) = delete;
  Owned& operator=(const Owned&) = delete;
  Owned(Owned&& o) noexcept : RequestMeta<D>(std::exchange(o.slot_, nullptr)) {}
  Owned& operator=(Owned&& o) noexcept {
    if (this != &o) {
      abandon();
      slot_ = std::exchange(o.slot_, nullptr);
    }
    return *this;
  }
  // Dropping an Owned without ending it would lose a completion; the request is ended
  // with ioerr instead (and debug builds abort: it is a driver bug), unless someone else
  // ended it already (a timeout, a cancel): then dropping is how the owner lets go.
  ~Owned() { abandon(); }

  explicit operator bool() const noexcept { return slot_ != nullptr; }

  // The data of a read or write. A request submitted with one buffer has it in data();
  // a segmented one (IoQueue::submit_segments, for drivers with kSegments) has data() null
  // and its bytes in segment(0) .. segment(segment_count() - 1), in order. Either way the
  // segments describe it: a single buffer is one segment.
  std::byte* data() const noexcept { return s().buf; }
  unsigned segment_count() const noexcept {
    if (!op_has_data(s().op)) return 0;
    return s().buf ? 1u : s().nr_segs;
  }
  IoSegment segment(unsigned i) const noexcept {
    MQBLK_DEBUG_ASSERT(i < segment_count(), "segment index out of range");
    return s().buf ? IoSegment{s().buf, s().nr_bytes} : s().segs[i];
  }

  // Ends the request with status s and consumes the handle. Returns ended, or lost when
  // a timer/timeout/cancellation ended it first (then the submitter gets that status, now).
  // `result` travels to the submitter's IoCompletion::result (a zone append's sector);
  // it is 0 when the request was lost. Ending through an empty handle is a debug assertion
  // and returns not_owner. Always inlined: the hot path of drivers that end in queue_rq.
  [[gnu::always_inline]] inline EndResult end(Status st = Status::ok,
                                              uint64_t result = 0) && noexcept {
    detail::RequestSlot* s_ = std::exchange(slot_, nullptr);
    MQBLK_DEBUG_ASSERT(s_ != nullptr, "Owned::end on an empty handle (ended twice or moved from)");
    if (!s_) return EndResult::not_owner;
    return s_->end_owned(st, result);
  }

  // Hands the request to its hardware queue's completion context (the "softirq", run by
  // the thread that reaps that queue): the driver's complete() callback, or end(st) if it
  // has none, runs there. Consumes the handle.
  void complete(Status st = Status::ok, uint64_t result = 0) && noexcept;

  // Gives up the data and becomes one counted reference (a timer that only ends it).
  Ref<D> share() && noexcept;

  // Gives the owner role to the request's id: the driver keeps the id (an io_uring
  // user_data, a library's cookie) and later takes ownership back with Hctx::claim(id),
  // exactly once. The id of a parked request is the owner role itself: whoever claims it
  // first owns the request (a timeout() handler may, to end it), so keep it where only
  // the driver's own code reaches it. Until then the request is owned by nobody in particular:
  // timeouts and cancels record their status and wait for the claim. Consumes the handle.
  [[nodiscard]] RequestId park() && noexcept {
    detail::RequestSlot* s_ = std::exchange(slot_, nullptr);
    MQBLK_DEBUG_ASSERT(s_ != nullptr, "Owned::park on an empty handle");
    if (!s_) return RequestId();
    RequestId id = RequestId::make(s_->hw_queue, s_->tag, s_->generation());
    s_->park();
    return id;
  }

 private:
  friend class Hctx<D>;
  friend class Device<D>;
  friend class DeviceQueue<D>;
  explicit Owned(detail::RequestSlot* sl) noexcept : RequestMeta<D>(sl) {}
  detail::RequestSlot* release_slot() && noexcept { return std::exchange(slot_, nullptr); }
  void abandon() noexcept {
    if (slot_) {
      detail::RequestSlot* sl = std::exchange(slot_, nullptr);
      MQBLK_DEBUG_ASSERT(
          detail::state_of(sl->word.load(std::memory_order_acquire)) != detail::kInFlight,
          "an Owned request was dropped without being ended");
      sl->end_owned(Status::ioerr);
    }
  }
};

// Invariant: a non-empty Ref holds one count in the slot's refs; the slot cannot be
// reused while it lives. It may refer to a request that has already ended (then
// try_end() returns lost). It reaches metadata, not data. Threads: any.
template <class D>
class Ref : private RequestMeta<D> {
  using RequestMeta<D>::slot_;

 public:
  MQBLK_REQUEST_META_ACCESSORS;
  Ref() = default;
  Ref(const Ref& o) noexcept : RequestMeta<D>(o.slot_) {
    if (slot_) slot_->get_ref();
  }
  Ref(Ref&& o) noexcept : RequestMeta<D>(std::exchange(o.slot_, nullptr)) {}
  Ref& operator=(Ref o) noexcept {
    std::swap(slot_, o.slot_);
    return *this;
  }
  ~Ref() { reset(); }

  explicit operator bool() const noexcept { return slot_ != nullptr; }
  void reset() noexcept {
    if (slot_) std::exchange(slot_, nullptr)->put_ref();
  }

  // Ends the request if nobody has yet: exactly one of all racing parties gets ended.
  // If an owner still holds it, the status is recorded and the submitter receives it
  // when the owner lets go.
  EndResult try_end(Status st) noexcept {
    if (!slot_) return EndResult::not_owner;
    return slot_->try_end(st);
  }

  // Whether the request is still in flight (it may end right after this returns).
  bool in_flight() const noexcept {
    return slot_ &&
           detail::state_of(slot_->word.load(std::memory_order_acquire)) == detail::kInFlight;
  }

 private:
  friend class Hctx<D>;
  friend class Device<D>;
  friend class DeviceQueue<D>;
  friend class Owned<D>;
  // Adopts a count already taken.
  explicit Ref(detail::RequestSlot* sl) noexcept : RequestMeta<D>(sl) {}
};

// The timeout callback's view of a request: metadata only, valid for that call. Not
// copyable or movable and made only by the engine (which holds a Ref meanwhile), so
// ordinary code cannot keep it past the callback. It has no end(): a timeout handler
// answers with a TimeoutAction instead.
template <class D>
class Borrowed : private RequestMeta<D> {
 public:
  MQBLK_REQUEST_META_ACCESSORS;
  Borrowed(const Borrowed&) = delete;
  Borrowed(Borrowed&&) = delete;
  Borrowed& operator=(const Borrowed&) = delete;
  Borrowed& operator=(Borrowed&&) = delete;

 private:
  friend class Device<D>;
  explicit Borrowed(detail::RequestSlot* sl) noexcept : RequestMeta<D>(sl) {}
};

template <class D>
Ref<D> Owned<D>::share() && noexcept {
  detail::RequestSlot* sl = std::exchange(slot_, nullptr);
  MQBLK_DEBUG_ASSERT(sl != nullptr, "Owned::share on an empty handle");
  if (!sl) return Ref<D>();
  sl->owner_to_ref();
  return Ref<D>(sl);
}

MQBLK_OWNERSHIP_NS_END
}  // namespace mqblk
