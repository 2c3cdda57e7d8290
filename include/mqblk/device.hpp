// mqblk/device.hpp - Device<D>: a driver D, its tag set and hardware queues, served
// through BlockDevice/IoQueue.
//
// Threads:
//  * IoQueue methods: the thread using that IoQueue (one at a time). queue_rq, commit_rqs,
//    complete and poll run on it; completions ended on it land in its local ring.
//  * The device's timeout thread: coarse clock, timeout scan, the driver's timeout().
//  * shutdown()/the destructor: any thread, once no IoQueue call is running on it in
//    parallel with destruction. IoQueues must be destroyed before their Device: a Device
//    destroyed while an IoQueue opened from it lives aborts with one line naming it.
//
// Teardown never delivers early: a request the driver still holds (an Owned, a parked
// id) keeps its submitter waiting, and teardown waits for it, reporting it after
// hung_report_ns and every hung_repeat_ns, because the submitter may free its buffer the
// moment its completion arrives.
#pragma once

#include <poll.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "mqblk/block_device.hpp"
#include "mqblk/detail/completion_queue.hpp"
#include "mqblk/driver.hpp"
#include "mqblk/errors.hpp"
#include "mqblk/queue.hpp"
#include "mqblk/tag_set.hpp"

namespace mqblk {

namespace detail {
// Validation shared by every Device: throws ConfigError with one line.
void check_device_config(const TagSetConfig& cfg, const DiskLimits& limits);
// The range/alignment/op check of one submission; Status::ok when acceptable.
Status check_io(const DiskLimits& l, const IoDesc& io) noexcept;
// check_io for a segmented read or write (see IoQueue::submit_segments).
Status check_segments(const DiskLimits& l, const IoDesc& io, const IoSegment* segs,
                      unsigned nr_segs) noexcept;
// Sleeps on fd until readable or deadline_ns (absolute, -1: forever); 1 ns timer slack.
void wait_fd_until(int fd, int64_t deadline_ns) noexcept;
// The same on two fds: until either is readable (fd2 < 0: fd alone).
void wait_fds_until(int fd, int fd2, int64_t deadline_ns) noexcept;

MQBLK_OWNERSHIP_NS_BEGIN
// Sets tls_current_queue for the duration of an IoQueue call (restoring it after, so a
// thread using two queues never pushes into the wrong local ring).
class CurrentQueue {
 public:
  explicit CurrentQueue(void* q) noexcept : prev_(tls_current_queue) { tls_current_queue = q; }
  ~CurrentQueue() { tls_current_queue = prev_; }
  CurrentQueue(const CurrentQueue&) = delete;
  CurrentQueue& operator=(const CurrentQueue&) = delete;

 private:
  void* prev_;
};
MQBLK_OWNERSHIP_NS_END
}  // namespace detail

MQBLK_OWNERSHIP_NS_BEGIN

template <class D>
class Device;

// The IoQueue of a Device<D>. Invariant: outstanding_ <= capacity of cq_ (= queue depth),
// so completions always have room; new submissions stop at capacity_ (the queue depth, or
// the fair share of a tag set shared by several devices).
template <class D>
class DeviceQueue final : public IoQueue {
 public:
  DeviceQueue(Device<D>& dev, Hctx<D>& h)
      : dev_(dev),
        h_(h),
        cq_(h.depth()),
        share_(dev.member_.set->share()),
        hint_(h.tags().initial_hint()),
        capacity_(share_.load(std::memory_order_relaxed)),
        block_mask_(dev.limits_.logical_block_size - 1),
        max_fast_bytes_(std::min(dev.limits_.max_request_bytes(), dev.limits_.capacity_bytes)),
        capacity_bytes_(dev.limits_.capacity_bytes),
        fast_ops_((1u << static_cast<unsigned>(Op::read)) |
                  (dev.limits_.read_only ? 0u : 1u << static_cast<unsigned>(Op::write))) {}
  // Destroying a queue with I/O in flight cancels that I/O and waits for its completions
  // (see cancel_outstanding), so that nothing ever completes into a queue that is gone.
  ~DeviceQueue() override {
    if (outstanding_) cancel_outstanding();
    if constexpr (HasWaitFd<D>)
      if (watching_) h_.driver().watch(h_, -1);
    dev_.forget_queue(this);
  }

  Status submit(const IoDesc& io, uint64_t user_data) override {
    if (__builtin_expect(!plain_rw_ok(io), 0)) {
      Status v = detail::check_io(dev_.limits_, io);
      if (v != Status::ok) return v;
    }
    return submit_checked(io, user_data, nullptr, 0);
  }

  Status submit_segments(const IoDesc& io, const IoSegment* segs, unsigned nr_segs,
                         uint64_t user_data) override {
    if constexpr (!SupportsSegments<D>) {
      return Status::notsupp;
    } else {
      Status v = detail::check_segments(dev_.limits_, io, segs, nr_segs);
      if (v != Status::ok) return v;
      return submit_checked(io, user_data, segs, nr_segs);
    }
  }

  Status submit_tag(uint32_t tag, const IoDesc& io, uint64_t user_data) override {
    Status v = detail::check_io(dev_.limits_, io);
    if (v != Status::ok) return v;
    if (outstanding_ >= capacity_) return Status::busy;
    detail::CurrentQueue cur(this);
    if (!h_.tags().get_exact(tag)) return Status::busy;
    if (dev_.gate_.load(std::memory_order_seq_cst) != Device<D>::kOpen) {
      h_.tags().put(tag);
      return Status::cancelled;
    }
    start(tag, io, user_data);
    return Status::ok;
  }

  void commit() override {
    if (!pending_commit_) return;
    pending_commit_ = false;
    detail::CurrentQueue cur(this);
    if constexpr (HasCommitRqs<D>) h_.driver().commit_rqs(h_);
  }

  unsigned reap(IoCompletion* out, unsigned max) override {
    if (__builtin_expect(pending_commit_, 0)) commit();
    detail::CurrentQueue cur(this);
    if (cq_.signalled()) cq_.drain_event();  // re-arm the eventfd before looking
    h_.run_completion_context();
    unsigned n = cq_.pop(out, max);
    outstanding_ -= n;
    capacity_ = share_.load(std::memory_order_relaxed);  // changes as devices share the set
    ended_.store(ended_.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
    return n;
  }

  unsigned wait(IoCompletion* out, unsigned max, unsigned min, int64_t timeout_ns) override {
    int64_t deadline = timeout_ns < 0 ? -1 : detail::now_ns() + timeout_ns;
    unsigned n = 0;
    for (;;) {
      n += reap(out + n, max - n);
      if (n >= min || n >= max || outstanding_ == 0) return n;
      int64_t now = detail::now_ns();
      if (deadline >= 0 && now >= deadline) return n;
      int64_t wake = h_.next_timer_ns();
      if (wake >= 0 && wake - now <= kSpinWindowNs) continue;  // due soon: spin
      cq_.drain_event();
      if (!cq_.empty() || h_.next_timer_ns() != wake) continue;
      int64_t until = deadline;
      if (wake >= 0) {
        int64_t w = wake - kSpinWindowNs / 2;  // wake a little early, then spin
        until = until < 0 ? w : std::min(until, w);
      }
      detail::wait_fds_until(cq_.event_fd(), driver_fd(), until);
    }
  }

  int64_t next_timer_ns() const override { return h_.next_timer_ns(); }
  int event_fd() const override { return cq_.event_fd(); }
  int driver_fd() override {
    if constexpr (HasWaitFd<D>) {
      if (!watching_) {
        watching_ = true;
        h_.driver().watch(h_, 1);
      }
      return h_.driver().wait_fd(h_);
    } else {
      return -1;
    }
  }
  unsigned outstanding() const override { return outstanding_; }
  unsigned hw_queue() const override { return h_.index(); }

  uint64_t started() const noexcept { return started_.load(std::memory_order_relaxed); }
  uint64_t ended() const noexcept { return ended_.load(std::memory_order_relaxed); }

  // Another thread hands this queue work (see Hctx::push_softirq): enter, then wake and leave.
  static void kick_enter(void* self) noexcept {
    static_cast<DeviceQueue*>(self)->cq_.producer_enter();
  }
  static void kick_exit(void* self) noexcept {
    auto* q = static_cast<DeviceQueue*>(self);
    q->cq_.signal();
    q->cq_.producer_exit();
  }

 private:
  friend class Device<D>;
  static constexpr int64_t kSpinWindowNs = 20'000;

  // The common case decided inline: an aligned, in-range read or write. Anything else
  // goes to check_io, which gives the exact status.
  // (len - 1 < max_fast_bytes_ also refuses len 0; len <= capacity makes the subtraction safe.)
  bool plain_rw_ok(const IoDesc& io) const noexcept {
    return ((fast_ops_ >> static_cast<unsigned>(io.op)) & 1) &&
           ((io.offset | io.len) & block_mask_) == 0 && io.len - 1u < max_fast_bytes_ &&
           io.offset <= capacity_bytes_ - io.len && io.buf != nullptr;
  }

  static void on_end(void* ctx, uint64_t user_data, Status s, uint64_t result) noexcept {
    auto* q = static_cast<DeviceQueue*>(ctx);
    if (detail::tls_current_queue == q)
      q->cq_.push_local(user_data, s, result);
    else
      q->cq_.push_remote(user_data, s, result);
  }

  // Takes a tag for an I/O that passed its checks and starts it. segs: a segmented I/O's
  // list (the plain path passes nullptr, a constant: the branch folds away when inlined).
  [[gnu::always_inline]] inline Status submit_checked(const IoDesc& io, uint64_t user_data,
                                                      const IoSegment* segs,
                                                      unsigned nr_segs) noexcept {
    if (__builtin_expect(outstanding_ >= capacity_, 0)) return Status::busy;
    detail::CurrentQueue cur(this);
    uint32_t tag = h_.tags().get(hint_);
    if (__builtin_expect(tag == detail::Sbitmap::kNone, 0)) {
      if (io.flags & kReqNoWait) return Status::busy;
      tag = wait_for_tag();
      if (tag == detail::Sbitmap::kNone) return Status::cancelled;
    }
    if (__builtin_expect(dev_.gate_.load(std::memory_order_seq_cst) != Device<D>::kOpen, 0)) {
      h_.tags().put(tag);
      return Status::cancelled;
    }
    start(tag, io, user_data, segs, nr_segs);
    return Status::ok;
  }

  [[gnu::always_inline]] inline void start(uint32_t tag, const IoDesc& io, uint64_t user_data,
                                           const IoSegment* segs = nullptr,
                                           unsigned nr_segs = 0) noexcept {
    detail::RequestSlot& s = h_.slot(tag);
    s.hctx.store(&h_, std::memory_order_relaxed);
    s.op = io.op;
    s.flags = io.flags;
    s.sector = io.offset >> kSectorShift;
    s.nr_bytes = io.len;
    s.buf = io.buf;
    if (segs != nullptr) {
      s.segs = segs;
      s.nr_segs = nr_segs;
    }
    s.end_io = &DeviceQueue::on_end;
    s.end_ctx = this;
    s.user_data = user_data;
    s.start_ns.store(dev_.coarse_now_.load(std::memory_order_relaxed), std::memory_order_relaxed);
    s.start();
    ++outstanding_;
    started_.store(started_.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
    if (__builtin_expect(io.flags & kReqMore, 0)) {
      pending_commit_ = true;
      h_.dispatch(&s, false);
    } else {
      h_.dispatch(&s, true);
    }
  }

  // Ends every request of this queue still in flight with Status::cancelled (a driver that
  // ends one later learns it lost, as after teardown) and reaps until each completion has
  // landed. A completion arrives only when the driver lets go of the request, so this
  // waits as long as the driver holds one, reporting the held requests after
  // hung_report_ns and every hung_repeat_ns: returning earlier would let the driver write
  // into a buffer its submitter is about to free.
  [[gnu::cold]] void cancel_outstanding() noexcept {
    detail::CurrentQueue cur(this);
    for (unsigned t = 0; t < h_.nr_slots(); ++t) {
      Ref<D> r = h_.lookup_current(t);
      // end_ctx is stable while the reference pins this use of the slot.
      if (!r || h_.slot(t).end_ctx != this) continue;
      if (!h_.end_fault_held(t, Status::cancelled)) (void)r.try_end(Status::cancelled);
    }
    IoCompletion sink[64];
    const int64_t began = detail::now_ns();
    int64_t report_at = began + static_cast<int64_t>(dev_.cfg_.hung_report_ns);
    while (outstanding_) {
      wait(sink, 64, 64, std::max<int64_t>(report_at - detail::now_ns(), 0));
      if (outstanding_ && detail::now_ns() >= report_at) {
        dev_.report_held("I/O queue teardown", began, this);
        report_at += static_cast<int64_t>(dev_.cfg_.hung_repeat_ns);
      }
    }
  }

  // No tag free: run this queue's completion context (which frees tags) and sleep briefly
  // on the eventfd between tries. Gives up only when the device is dying.
  uint32_t wait_for_tag() noexcept {
    for (;;) {
      h_.run_completion_context();
      uint32_t tag = h_.tags().get(hint_);
      if (tag != detail::Sbitmap::kNone) return tag;
      if (dev_.gate_.load(std::memory_order_seq_cst) == Device<D>::kDying)
        return detail::Sbitmap::kNone;
      int64_t wake = h_.next_timer_ns();
      int64_t until = detail::now_ns() + 200'000;
      if (wake >= 0) until = std::min(until, wake);
      cq_.drain_event();
      detail::wait_fds_until(cq_.event_fd(), driver_fd(), until);
    }
  }

  Device<D>& dev_;
  Hctx<D>& h_;
  detail::CompletionQueue cq_;
  const std::atomic<unsigned>& share_;  // the tag set's per-IoQueue cap
  uint32_t hint_;                       // the bitmap word it allocates from first
  unsigned outstanding_ = 0;
  unsigned capacity_;
  const uint64_t block_mask_, max_fast_bytes_, capacity_bytes_;
  const uint32_t fast_ops_;           // bit per Op the inline check accepts
  bool pending_commit_ = false;       // a queue_rq saw last=false and commit_rqs has not run
  bool watching_ = false;             // told the driver this queue polls its wait_fd
  std::atomic<uint64_t> started_{0};  // written only by the using thread
  std::atomic<uint64_t> ended_{0};
};

template <class D>
class Device final : public BlockDevice {
  static_assert(HasPdu<D>,
                "mqblk: a driver must declare its per-request data type: `using Pdu = ...;` "
                "(mqblk::NoPdu when it needs none)");
  static_assert(HasQueueRq<D>,
                "mqblk: a driver must define exactly `mqblk::QueueRqResult<D> "
                "queue_rq(mqblk::Hctx<D>&, mqblk::Owned<D> rq, bool last)`: it receives ownership "
                "of each request, by value (not Owned<D>&, const Owned<D>& or Owned<D>&&, and "
                "not overloaded)");
  static_assert(!NamesComplete<D> || HasComplete<D>,
                "mqblk: a driver's complete must be exactly `void complete(mqblk::Hctx<D>&, "
                "mqblk::Owned<D> rq)`: it receives ownership back, by value (not Owned<D>&, "
                "const Owned<D>& or Owned<D>&&, and not overloaded)");
  static_assert(!NamesTimeout<D> || HasTimeout<D>,
                "mqblk: a driver's timeout must be exactly `mqblk::TimeoutAction "
                "timeout(mqblk::Hctx<D>&, mqblk::Borrowed<D> rq)` (or const Borrowed<D>&): it "
                "borrows the request for the call");

 public:
  // Validates cfg and limits (ConfigError, nothing created), constructs the driver from
  // args, preallocates every request in a tag set of its own, runs init_request and
  // init_hctx, starts the timeout thread.
  template <class... Args>
  Device(const TagSetConfig& cfg, const DiskLimits& limits, std::string description, Args&&... args)
      : Device(TagSet<D>::create(cfg), limits, std::move(description),
               std::forward<Args>(args)...) {}

  // The same on a tag set that other devices may share (see TagSet<D>): this device's
  // requests are taken from its slots; init_request ran when the first device attached.
  template <class... Args>
  Device(std::shared_ptr<TagSet<D>> set, const DiskLimits& limits, std::string description,
         Args&&... args)
      : member_(std::move(set), limits),
        cfg_(member_.set->config()),
        limits_(limits),
        description_(std::move(description)),
        timeout_ns_(static_cast<int64_t>(cfg_.timeout_ns)),
        driver_(std::forward<Args>(args)...) {
    coarse_now_.store(detail::now_ns(), std::memory_order_relaxed);
    faults_.set_geometry(limits_, cfg_.nr_hw_queues, cfg_.queue_depth);  // for a write cache
    hctxs_.reserve(cfg_.nr_hw_queues);
    for (unsigned q = 0; q < cfg_.nr_hw_queues; ++q) {
      hctxs_.push_back(std::make_unique<Hctx<D>>(driver_, q, member_.set->hw(q), member_.first));
      hctxs_.back()->set_kick(
          detail::KickOps{&DeviceQueue<D>::kick_enter, &DeviceQueue<D>::kick_exit});
      if constexpr (HasInitRequest<D>)
        if (member_.first)
          for (unsigned t = 0; t < cfg_.queue_depth + kReservedTags; ++t)
            driver_.init_request(hctxs_.back()->pdu(t), q, t);
      hctxs_.back()->set_faults(&faults_, limits_.logical_block_size >> kSectorShift);
      if constexpr (HasInitHctx<D>) driver_.init_hctx(*hctxs_.back());
    }
    timeout_thread_ = std::thread([this] { timeout_loop(); });
  }
  ~Device() override {
    shutdown();
    std::lock_guard lk(queues_lock_);
    if (!queues_.empty()) {
      std::fprintf(stderr,
                   "mqblk: device '%s' destroyed while %zu I/O queue(s) opened from it still "
                   "exist; destroy every IoQueue before the Device it came from\n",
                   description_.c_str(), queues_.size());
      std::abort();
    }
  }

  D& driver() noexcept { return driver_; }
  Hctx<D>& hctx(unsigned q) noexcept { return *hctxs_[q]; }
  const TagSetConfig& config() const noexcept { return cfg_; }
  const std::shared_ptr<TagSet<D>>& tag_set() const noexcept { return member_.set; }

  // Lookups for escapes: a counted reference to the request id names, or empty when it
  // is not in flight any more (or never was on this device). See Hctx::lookup.
  Ref<D> lookup(RequestId id) noexcept {
    return id.hw_queue() < hctxs_.size() ? hctxs_[id.hw_queue()]->lookup(id) : Ref<D>();
  }
  // Ownership back from a parked id (Owned::park), exactly once. See Hctx::claim.
  Owned<D> claim(RequestId id) noexcept {
    return id.hw_queue() < hctxs_.size() ? hctxs_[id.hw_queue()]->claim(id) : Owned<D>();
  }

  // Quiesce: queue_rq is no longer called; new requests wait on the requeue lists until
  // unquiesce(). Requests already with the driver are unaffected.
  void quiesce() noexcept {
    for (auto& h : hctxs_) h->set_quiesced(true);
  }
  void unquiesce() noexcept {
    for (auto& h : hctxs_) h->set_quiesced(false);
  }

  // Freeze: new submissions are refused (Status::cancelled) and this waits until every
  // request has ended (running completion contexts itself). False if timeout passed.
  bool freeze(int64_t timeout_ns) noexcept {
    int expected = kOpen;
    gate_.compare_exchange_strong(expected, kFrozen, std::memory_order_seq_cst);
    return wait_idle(timeout_ns);
  }
  void unfreeze() noexcept {
    int expected = kFrozen;
    gate_.compare_exchange_strong(expected, kOpen, std::memory_order_seq_cst);
  }

  // BlockDevice
  const DiskLimits& limits() const noexcept override { return limits_; }
  unsigned nr_hw_queues() const noexcept override { return cfg_.nr_hw_queues; }
  unsigned queue_depth() const noexcept override { return cfg_.queue_depth; }
  unsigned queue_cap() const noexcept override {
    return member_.set->share().load(std::memory_order_relaxed);
  }

  std::unique_ptr<IoQueue> open_queue(int hw_queue = -1) override {
    unsigned q = hw_queue >= 0 ? static_cast<unsigned>(hw_queue) % cfg_.nr_hw_queues
                               : next_queue_.fetch_add(1) % cfg_.nr_hw_queues;
    auto dq = std::make_unique<DeviceQueue<D>>(*this, *hctxs_[q]);
    std::lock_guard lk(queues_lock_);
    queues_.push_back(dq.get());
    return dq;
  }

  // While a test feature is armed (bad blocks, faults, power off...), every byte reads as
  // data and no window is lent: frontends must submit each read and write, so that the
  // engine can fail, hold or throttle it, never answer it from the allocation map.
  Extent block_status(uint64_t offset, uint64_t max_len) override {
    if constexpr (HasBlockStatus<D>)
      if (!faults_.active()) return driver_.block_status(offset, max_len);
    return Extent{max_len, false, false};
  }

  std::byte* direct_window(uint64_t offset, uint64_t len) override {
    if constexpr (HasDirectWindow<D>)
      if (!faults_.active()) return driver_.direct_window(offset, len);
    return nullptr;
  }
  void abandon_window(uint64_t offset, uint64_t len) override {
    if constexpr (HasDirectWindow<D>) driver_.abandon_window(offset, len);
  }

  unsigned report_zones(uint64_t sector, ZoneInfo* out, unsigned max) override {
    if constexpr (HasReportZones<D>) return driver_.report_zones(sector, out, max);
    return 0;
  }

  std::string describe() const override { return description_; }

  DeviceFaults* faults() noexcept override { return &faults_; }

  void set_power(bool on) override {
    std::lock_guard lk(power_lock_);
    if (!on) {
      faults_.set_powered(false);  // from here every dispatch fails with ioerr
      for (auto& h : hctxs_)
        for (unsigned t = 0; t < h->nr_slots(); ++t) {
          if (h->end_fault_held(t, Status::ioerr)) continue;
          Ref<D> r = h->lookup_current(t);
          if (r) (void)r.try_end(Status::ioerr);
        }
      if constexpr (HasPowerHooks<D>) driver_.power_off();
    } else {
      if constexpr (HasPowerHooks<D>) driver_.power_on();
      faults_.set_powered(true);
    }
  }

  bool set_live_attr(std::string_view key, std::string_view value, bool apply) override {
    if constexpr (HasLiveAttrs<D>) return driver_.set_live_attr(key, value, apply);
    return false;
  }
  void live_state(std::vector<std::pair<std::string, std::string>>& out) const override {
    if constexpr (HasLiveState<D>) driver_.live_state(out);
  }

  std::vector<QueueStats> stats() const override {
    std::vector<QueueStats> out(hctxs_.size());
    std::lock_guard lk(queues_lock_);
    for (size_t q = 0; q < hctxs_.size(); ++q) {
      out[q].started = retired_[q].started;
      out[q].ended = retired_[q].ended;
      out[q].timeouts = hctxs_[q]->timeouts();
      out[q].requeued = hctxs_[q]->requeued();
      out[q].in_flight = hctxs_[q]->in_flight();
      const int64_t now = detail::now_ns();
      hctxs_[q]->for_each_taken([&](detail::RequestSlot& sl) {
        if (detail::state_of(sl.word.load(std::memory_order_acquire)) != detail::kEndedHeld) return;
        ++out[q].hung;
        int64_t age = now - sl.start_ns.load(std::memory_order_relaxed);
        out[q].hung_longest_ns =
            std::max<uint64_t>(out[q].hung_longest_ns, std::max<int64_t>(age, 0));
      });
    }
    for (auto* dq : queues_) {
      out[dq->hw_queue()].started += dq->started();
      out[dq->hw_queue()].ended += dq->ended();
    }
    return out;
  }

  void shutdown() override {
    std::call_once(shutdown_once_, [this] { begin_shutdown(); });
    (void)wait_released(-1);
  }
  bool shutdown_within(int64_t timeout_ns) override {
    std::call_once(shutdown_once_, [this] { begin_shutdown(); });
    return wait_released(timeout_ns);
  }

 private:
  friend class DeviceQueue<D>;
  static constexpr int kOpen = 0, kFrozen = 1, kDying = 2;

  // This device's place in its tag set: joins when constructed (ConfigError when the set
  // cannot take another device), leaves when destroyed, after shutdown waited for idle.
  struct Membership {
    Membership(std::shared_ptr<TagSet<D>> s, const DiskLimits& limits) {
      if (!s) throw ConfigError("no tag set given: create one with TagSet<D>::create(config)");
      detail::check_device_config(s->config(), limits);
      bool refused = false;
      first = s->attach(&refused);
      if (refused)
        throw ConfigError(
            "tag set with external tags already serves a device: external tags (ublk) are "
            "named per device; give each device its own tag set");
      set = std::move(s);
    }
    ~Membership() { set->detach(); }
    Membership(const Membership&) = delete;
    Membership& operator=(const Membership&) = delete;
    std::shared_ptr<TagSet<D>> set;
    bool first = false;  // the first device on the set: it runs init_request
  };

  void forget_queue(DeviceQueue<D>* dq) noexcept {
    std::lock_guard lk(queues_lock_);
    retired_[dq->hw_queue()].started += dq->started();
    retired_[dq->hw_queue()].ended += dq->ended();
    queues_.erase(std::remove(queues_.begin(), queues_.end(), dq), queues_.end());
  }

  unsigned in_flight() const noexcept {
    unsigned n = 0;
    for (auto& h : hctxs_) n += h->in_flight();
    return n;
  }

  bool wait_idle(int64_t timeout_ns) noexcept {
    int64_t deadline = detail::now_ns() + timeout_ns;
    while (in_flight() != 0) {
      for (auto& h : hctxs_) h->run_completion_context();
      if (detail::now_ns() >= deadline) return false;
      std::this_thread::sleep_for(std::chrono::microseconds(100));
    }
    return true;
  }

  // Ends every request the driver has not: each in-flight tag is looked up and ended with
  // Status::cancelled (an owner that ends it later learns it lost; its submitter gets the
  // cancel when the owner lets go).
  void cancel_all() noexcept {
    for (auto& h : hctxs_) {
      for (unsigned t = 0; t < h->nr_slots(); ++t) {
        if (h->end_fault_held(t, Status::cancelled)) continue;
        Ref<D> r = h->lookup_current(t);
        if (r) r.try_end(Status::cancelled);
      }
      h->drain(Status::cancelled);
    }
  }

  void begin_shutdown() noexcept {
    gate_.store(kDying, std::memory_order_seq_cst);
    {
      std::lock_guard lk(timeout_lock_);
      stop_timeout_ = true;
    }
    timeout_cv_.notify_all();
    if (timeout_thread_.joinable()) timeout_thread_.join();
    shutdown_began_ns_ = detail::now_ns();
    next_report_ns_ = shutdown_began_ns_ + static_cast<int64_t>(cfg_.hung_report_ns);
    cancel_all();
    if constexpr (HasExitHctx<D>)
      for (auto& h : hctxs_) driver_.exit_hctx(*h);
  }

  // Waits until every request was let go (timeout_ns < 0: forever), running completion
  // contexts and reporting what is held (see hung_report_ns). True when idle.
  bool wait_released(int64_t timeout_ns) noexcept {
    std::lock_guard lk(release_wait_lock_);  // one waiter reports, the others wait behind it
    const int64_t deadline = timeout_ns < 0 ? -1 : detail::now_ns() + timeout_ns;
    for (;;) {
      // Completions handed to the softirq list after cancel_all, and requeued entries,
      // are delivered by running the contexts; whatever the driver holds it ends itself.
      // A timeout fault parked just as cancel_all ran is the engine's to end.
      for (auto& h : hctxs_)
        for (unsigned t = 0; t < h->nr_slots(); ++t) (void)h->end_fault_held(t, Status::cancelled);
      if (wait_idle(20'000'000)) return true;
      const int64_t now = detail::now_ns();
      if (now >= next_report_ns_) {
        report_held("teardown", shutdown_began_ns_, nullptr);
        next_report_ns_ = now + static_cast<int64_t>(cfg_.hung_repeat_ns);
      }
      if (deadline >= 0 && now >= deadline) return false;
    }
  }

  // One line per request of this device (or of IoQueue `only`) whose tag is still taken:
  // which queue and tag, who holds it, for how long. The kernel's hung-task report.
  void report_held(const char* waiter, int64_t since_ns, const void* only) noexcept {
    const int64_t now = detail::now_ns();
    unsigned n = 0;
    for (auto& h : hctxs_) {
      h->for_each_taken([&](detail::RequestSlot& sl) {
        if (only && sl.end_ctx != only) return;
        uint64_t w = sl.word.load(std::memory_order_acquire);
        const char* who = "being released";
        switch (detail::state_of(w)) {
          case detail::kInFlight:
            who = (w & detail::kParked)  ? "in flight, parked by its driver"
                  : detail::has_owner(w) ? "in flight, held by its driver"
                                         : "in flight, referenced by its driver";
            break;
          case detail::kEndedHeld:
            who = "ended (cancelled or timed out), still held by its driver";
            break;
          case detail::kEnded: who = "completed, still referenced by its driver"; break;
          default: break;
        }
        ++n;
        std::fprintf(stderr,
                     "mqblk: device '%s' queue %u tag %u: %s for %.1f s; %s has waited %.1f s "
                     "for it\n",
                     description_.c_str(), h->index(), sl.tag, who,
                     static_cast<double>(now - sl.start_ns.load(std::memory_order_relaxed)) / 1e9,
                     waiter, static_cast<double>(now - since_ns) / 1e9);
      });
    }
    if (n) std::fflush(stderr);
  }

  void timeout_loop() {
    const auto period =
        std::chrono::nanoseconds(std::clamp<int64_t>(timeout_ns_ / 10, 1'000'000, 1'000'000'000));
    std::unique_lock lk(timeout_lock_);
    while (!stop_timeout_) {
      timeout_cv_.wait_for(lk, period);
      if (stop_timeout_) break;
      lk.unlock();
      int64_t now = detail::now_ns();
      coarse_now_.store(now, std::memory_order_relaxed);
      scan_timeouts(now);
      lk.lock();
    }
  }

  void scan_timeouts(int64_t now) noexcept {
    for (auto& hp : hctxs_) {
      Hctx<D>& h = *hp;
      for (unsigned t = 0; t < h.nr_slots(); ++t) {
        detail::RequestSlot& s = h.slot(t);
        uint64_t w = s.word.load(std::memory_order_acquire);
        if (detail::state_of(w) != detail::kInFlight) continue;
        if (s.hctx.load(std::memory_order_relaxed) != &h) continue;  // another device's
        int64_t deadline = s.start_ns.load(std::memory_order_relaxed) + timeout_ns_;
        if (s.timer_gen.load(std::memory_order_relaxed) == detail::gen_of(w))
          deadline = s.timer_until_ns.load(std::memory_order_relaxed);
        if (deadline > now) continue;
        Ref<D> r = h.lookup_gen(t, detail::gen_of(w));
        if (!r) continue;
        // A timeout fault: the engine plays the driver whose timeout handler ends it.
        if (h.end_fault_held(t, Status::timeout)) {
          h.count_timeout();
          continue;
        }
        TimeoutAction a = TimeoutAction::done;
        if constexpr (HasTimeout<D>) a = driver_.timeout(h, Borrowed<D>(r.slot_));
        if (a == TimeoutAction::done) {
          if (r.try_end(Status::timeout) == EndResult::ended) h.count_timeout();
        } else {
          s.timer_until_ns.store(now + timeout_ns_, std::memory_order_relaxed);
          s.timer_gen.store(detail::gen_of(w), std::memory_order_relaxed);
        }
      }
    }
  }

  Membership member_;
  TagSetConfig cfg_;
  DiskLimits limits_;
  std::string description_;
  int64_t timeout_ns_;
  D driver_;
  DeviceFaults faults_;
  std::mutex power_lock_;
  std::vector<std::unique_ptr<Hctx<D>>> hctxs_;
  alignas(64) std::atomic<int> gate_{kOpen};
  std::atomic<int64_t> coarse_now_{0};
  std::atomic<unsigned> next_queue_{0};

  mutable std::mutex queues_lock_;
  std::vector<DeviceQueue<D>*> queues_;
  struct Retired {
    uint64_t started = 0, ended = 0;
  };
  std::vector<Retired> retired_ = std::vector<Retired>(cfg_.nr_hw_queues);

  std::once_flag shutdown_once_;
  std::mutex release_wait_lock_;
  int64_t shutdown_began_ns_ = 0;
  int64_t next_report_ns_ = 0;  // set with shutdown_began_ns_
  std::mutex timeout_lock_;
  std::condition_variable timeout_cv_;
  bool stop_timeout_ = false;
  std::thread timeout_thread_;
};

MQBLK_OWNERSHIP_NS_END
}  // namespace mqblk
