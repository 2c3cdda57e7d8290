// mqblk/driver.hpp - what a driver is: the callbacks, their threads, their contracts.
//
// A driver D is a class with a `using Pdu = ...;` (per-request driver data, preallocated
// per tag; mqblk::NoPdu when it needs none) and these member functions:
//
//   QueueRqResult<D> queue_rq(Hctx<D>& h, Owned<D> rq, bool last);          required
//       Thread: the submitting thread of hardware queue h (an IoQueue user), one at a time
//       per submitter. rq is owned: end it (now or later, from any thread), complete() it
//       into h's completion context, share() it with a timer or thread, or return
//       QueueRqResult<D>::busy(std::move(rq)) to have the engine retry it later. `last` is
//       false when more requests follow at once (defer doorbells to commit_rqs).
//   void commit_rqs(Hctx<D>& h);                                               optional
//       Thread: as queue_rq, after a batch whose last queue_rq did not see last=true.
//   void complete(Hctx<D>& h, Owned<D> rq);                                    optional
//       Thread: the thread running h's completion context (the one reaping that queue),
//       for requests handed over by Owned::complete(). Default: end with the given status.
//   TimeoutAction timeout(Hctx<D>& h, Borrowed<D> rq);                         optional
//       (or `const Borrowed<D>&`) Thread: the device's timeout thread. rq outlived its
//       deadline; return TimeoutAction::done (the engine ends it with Status::timeout
//       unless its owner ended it first) or TimeoutAction::reset_timer. Default: done.
//       Ending it does not take it from its owner: the submitter gets the timeout when
//       the owner ends or drops the request (whose end then returns lost), so a driver
//       that can abort the hardware's work (an io_uring cancel) starts that here.
//   queue_rq and complete are checked exactly: taking the request as `Owned<D>&`,
//   `const Owned<D>&` or `Owned<D>&&`, or overloading them, is a compile error.
//   unsigned poll(Hctx<D>& h);                                                 optional
//       Thread: the reaping thread of h; returns how many requests it ended.
//   bool poll_pending(Hctx<D>& h);                                             optional
//       Thread: any thread that reaps h. True while requests wait for poll(): the queue's
//       next_timer_ns() is then "now", so that event loops keep reaping instead of sleeping.
//   void init_hctx(Hctx<D>& h);  void exit_hctx(Hctx<D>& h);                  optional
//       Thread: the thread creating / shutting down the device. exit_hctx runs after every
//       request in flight was ended (cancelled) by teardown; it must let go of any
//       Owned/Ref/parked id it still keeps (or make its threads do so). Teardown waits
//       until they are all let go, reporting the ones still held after 10 s.
//   void init_request(typename D::Pdu& pdu, unsigned hw_queue, unsigned tag);  optional
//       Thread: the creating thread, once per tag, before any I/O. Tags of a hardware
//       queue run from 0 to queue_depth + kReservedTags - 1 (mqblk/tag_set.hpp: the last
//       are the engine's own, for write-cache write-backs): size per-tag state so.
//   static constexpr bool kSegments = true;                                  optional
//       The driver reads a request's data through segment_count()/segment(i) (not only
//       data()), so it accepts segmented requests (IoQueue::submit_segments); without it
//       those are refused with Status::notsupp before anything starts.
//   unsigned report_zones(uint64_t sector, ZoneInfo* out, unsigned max);       optional
//       Thread: any frontend thread; must be thread-safe. A zoned driver's zones
//       (BlockDevice::report_zones; mqblk/zoned.hpp's ZoneTable keeps them).
//   Extent block_status(uint64_t offset, uint64_t max_len);                    optional
//       Thread: any frontend thread; must be thread-safe.
//   std::byte* direct_window(uint64_t offset, uint64_t len);                   optional
//   void abandon_window(uint64_t offset, uint64_t len);                        (both or none)
//       Thread: any frontend thread; must be thread-safe. Zero-copy writes: see
//       BlockDevice::direct_window for the contract. A driver that lends its memory must
//       recognise a write whose data() is its own memory at that offset and not copy it.
//   void power_off();  void power_on();                                        optional
//       Thread: the thread changing the power (a control socket's), with the device's
//       requests already failed (power_off) or before new ones arrive (power_on). A device
//       with a volatile cache drops what was not flushed in power_off.
//   bool set_live_attr(std::string_view key, std::string_view value, bool apply);  optional
//       Thread: any (a control socket's), one at a time. A driver attribute that may change
//       while the device runs: false when key is not one; ConfigError (one line) for a bad
//       value; applies it only when apply is true (a set of several keys is checked whole
//       first, then applied).
//   void live_state(std::vector<std::pair<std::string, std::string>>& out) const;  optional
//       Thread: any. The driver's run-time state for `mqblk get` (a cache's dirty bytes).
#pragma once

#include <concepts>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "mqblk/block_device.hpp"
#include "mqblk/request.hpp"

namespace mqblk {
MQBLK_OWNERSHIP_NS_BEGIN

struct NoPdu {};

enum class TimeoutAction { done, reset_timer };

// What queue_rq answers. Invariant: when busy, it carries the request back (ownership
// returns to the engine, which retries it later); when accepted, it carries nothing.
template <class D>
class [[nodiscard]] QueueRqResult {
 public:
  static QueueRqResult accepted() noexcept { return QueueRqResult(); }
  static QueueRqResult busy(Owned<D>&& rq) noexcept { return QueueRqResult(std::move(rq)); }
  bool is_busy() const noexcept { return static_cast<bool>(rq_); }
  Owned<D> take() && noexcept { return std::move(rq_); }

 private:
  QueueRqResult() = default;
  explicit QueueRqResult(Owned<D>&& rq) noexcept : rq_(std::move(rq)) {}
  Owned<D> rq_;
};

template <class D>
concept HasPdu = requires {
  typename D::Pdu;
};

MQBLK_OWNERSHIP_NS_END
namespace detail {
// The plain function type of a member function pointer: R(Args...), whatever its
// const and noexcept qualifiers.
template <class T>
struct member_fn;
template <class C, class R, class... A>
struct member_fn<R (C::*)(A...)> {
  using type = R(A...);
};
template <class C, class R, class... A>
struct member_fn<R (C::*)(A...) const> {
  using type = R(A...);
};
template <class C, class R, class... A>
struct member_fn<R (C::*)(A...) noexcept> {
  using type = R(A...);
};
template <class C, class R, class... A>
struct member_fn<R (C::*)(A...) const noexcept> {
  using type = R(A...);
};
}  // namespace detail
MQBLK_OWNERSHIP_NS_BEGIN

// Each callback is recognised by name in any form (a single member, an overload set or a
// template: the last two are callable but have no single address) and then must have
// exactly the signature the ownership model needs (const and noexcept allowed).
template <class D>
concept QueueRqHasAddress = requires {
  &D::queue_rq;
};
template <class D>
concept QueueRqTakesLvalue = requires(D& d, Hctx<D>& h, Owned<D>& rq) {
  d.queue_rq(h, rq, true);
};
template <class D>
concept QueueRqTakesRvalue = requires(D& d, Hctx<D>& h, Owned<D>&& rq) {
  d.queue_rq(h, std::move(rq), true);
};
template <class D>
using QueueRqType = typename detail::member_fn<decltype(&D::queue_rq)>::type;
template <class D>
using ExactQueueRq = QueueRqResult<D>(Hctx<D>&, Owned<D>, bool);
template <class D>
concept QueueRqIsExact = std::same_as<QueueRqType<D>, ExactQueueRq<D>>;
template <class D>
concept NamesQueueRq = QueueRqHasAddress<D> || QueueRqTakesLvalue<D> || QueueRqTakesRvalue<D>;
template <class D>
concept HasQueueRq = QueueRqHasAddress<D> && QueueRqIsExact<D>;

// The compile-time check of a driver; Device<D> also static_asserts each part with a
// message that names the missing piece.
template <class D>
concept Driver = HasPdu<D> && HasQueueRq<D>;

template <class D>
concept HasCommitRqs = requires(D& d, Hctx<D>& h) {
  d.commit_rqs(h);
};

template <class D>
concept CompleteHasAddress = requires {
  &D::complete;
};
template <class D>
concept CompleteTakesLvalue = requires(D& d, Hctx<D>& h, Owned<D>& rq) {
  d.complete(h, rq);
};
template <class D>
concept CompleteTakesRvalue = requires(D& d, Hctx<D>& h, Owned<D>&& rq) {
  d.complete(h, std::move(rq));
};
template <class D>
using CompleteType = typename detail::member_fn<decltype(&D::complete)>::type;
template <class D>
using ExactComplete = void(Hctx<D>&, Owned<D>);
template <class D>
concept CompleteIsExact = std::same_as<CompleteType<D>, ExactComplete<D>>;
template <class D>
concept NamesComplete = CompleteHasAddress<D> || CompleteTakesLvalue<D> || CompleteTakesRvalue<D>;
template <class D>
concept HasComplete = CompleteHasAddress<D> && CompleteIsExact<D>;

template <class D>
concept NamesTimeout = requires {
  &D::timeout;
};
template <class D>
using TimeoutType = typename detail::member_fn<decltype(&D::timeout)>::type;
template <class D>
using ExactTimeoutByValue = TimeoutAction(Hctx<D>&, Borrowed<D>);
template <class D>
using ExactTimeoutByRef = TimeoutAction(Hctx<D>&, const Borrowed<D>&);
template <class D>
concept TimeoutIsExact = std::same_as<TimeoutType<D>, ExactTimeoutByValue<D>> ||
    std::same_as<TimeoutType<D>, ExactTimeoutByRef<D>>;
template <class D>
concept HasTimeout = NamesTimeout<D> && TimeoutIsExact<D>;
template <class D>
concept HasPoll = requires(D& d, Hctx<D>& h) {
  { d.poll(h) } -> std::convertible_to<unsigned>;
};
template <class D>
concept HasPollPending = requires(D& d, Hctx<D>& h) {
  { d.poll_pending(h) } -> std::same_as<bool>;
};
// Optional: an fd that is readable while poll() has completions to reap (an io_uring's
// ring fd), so that a submitter sleeping on it with its queue's eventfd is woken by the
// completion itself, not by a driver thread that reaped it and then wakes the submitter
// (one wake-up instead of two or three). watch(h, +1) when an IoQueue on h starts polling
// the fd whenever it sleeps, watch(h, -1) when that queue goes: while any watch, the driver
// may leave its completions to the watchers' poll() and reap them itself only as a
// fallback (a watcher busy elsewhere). Called on the submitting threads.
template <class D>
concept HasWaitFd = requires(D& d, Hctx<D>& h) {
  { d.wait_fd(h) } -> std::same_as<int>;
  d.watch(h, 1);
};
template <class D>
concept HasInitHctx = requires(D& d, Hctx<D>& h) {
  d.init_hctx(h);
};
template <class D>
concept HasExitHctx = requires(D& d, Hctx<D>& h) {
  d.exit_hctx(h);
};
template <class D>
concept HasInitRequest = HasPdu<D> && requires(D& d, typename D::Pdu& p) {
  d.init_request(p, 0u, 0u);
};
template <class D>
concept HasBlockStatus = requires(D& d) {
  { d.block_status(uint64_t{}, uint64_t{}) } -> std::same_as<Extent>;
};
template <class D>
concept HasReportZones = requires(D& d, ZoneInfo* out) {
  { d.report_zones(uint64_t{}, out, 0u) } -> std::same_as<unsigned>;
};
template <class D>
concept SupportsSegments = requires {
  requires D::kSegments;
};
template <class D>
concept HasPowerHooks = requires(D& d) {
  d.power_off();
  d.power_on();
};
template <class D>
concept HasLiveAttrs = requires(D& d, std::string_view k) {
  { d.set_live_attr(k, k, true) } -> std::same_as<bool>;
};
template <class D>
concept HasLiveState = requires(const D& d, std::vector<std::pair<std::string, std::string>>& o) {
  d.live_state(o);
};
template <class D>
concept HasDirectWindow = requires(D& d) {
  { d.direct_window(uint64_t{}, uint64_t{}) } -> std::same_as<std::byte*>;
  d.abandon_window(uint64_t{}, uint64_t{});
};

MQBLK_OWNERSHIP_NS_END
}  // namespace mqblk
