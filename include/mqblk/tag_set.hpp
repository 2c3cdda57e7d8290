// mqblk/tag_set.hpp - a device's request space: its shape (TagSetConfig) and, for a driver
// D, the preallocated requests themselves (TagSet<D>), which several devices may share.
#pragma once

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "mqblk/detail/request_slot.hpp"
#include "mqblk/detail/sbitmap.hpp"

namespace mqblk {

// Where request tags come from.
enum class TagSource : uint8_t {
  engine,    // the engine allocates tags (in process, NBD)
  external,  // a frontend names the tag (ublk: the kernel's tag t of queue q); submit_tag only
};

// Invariants (checked by validate()): 1 <= nr_hw_queues <= 256, 1 <= queue_depth <= 4096
// (RequestId packs both in 12 bits), timeout_ns > 0, hung_report_ns > 0, hung_repeat_ns > 0. Each
// hardware queue has queue_depth preallocated requests.
struct TagSetConfig {
  unsigned nr_hw_queues = 1;
  unsigned queue_depth = 64;
  uint64_t timeout_ns = 5'000'000'000ull;  // per-request deadline, as the kernel's 5 s
  bool blocking = false;  // queue_rq may sleep: frontends must call it off their event loop
  TagSource tag_source = TagSource::engine;
  // Teardown waits for every request its driver still holds; it reports each one this
  // long after teardown began, and again every hung_repeat_ns (the kernel's hung-task
  // report does the same).
  uint64_t hung_report_ns = 10'000'000'000ull;
  uint64_t hung_repeat_ns = 30'000'000'000ull;

  std::string validate() const;  // empty when valid, else one line
};

// The most requests one IoQueue may have in flight on a hardware queue of depth `depth`
// when `devices` devices share its tag set, as blk-mq's hctx_may_queue: the whole depth for
// one device, else ceil(depth / devices), at least 4 (and at most the depth).
constexpr unsigned fair_share(unsigned depth, unsigned devices) noexcept {
  if (devices <= 1) return depth;
  unsigned fair = (depth + devices - 1) / devices;
  return std::min(depth, std::max(fair, 4u));
}

namespace detail {
// Throws ConfigError with cfg.validate()'s line when cfg is invalid.
void check_tag_set_config(const TagSetConfig& cfg);
}  // namespace detail

MQBLK_OWNERSHIP_NS_BEGIN

template <class D>
class Device;

// The engine's own request per hardware queue, beyond the queue_depth that submitters
// share: tag queue_depth. The write cache's write-backs take it when a FLUSH (or a
// PREFLUSH write) finds every submitter tag held, else FLUSHes holding every tag would
// wait forever for a write-back none of them can start (blk-mq keeps a flush_rq per
// flush queue for the same reason). Drivers see it as any request: per-tag state is
// sized queue_depth + kReservedTags (init_request runs for it too).
inline constexpr unsigned kReservedTags = 1;

// The requests of one hardware queue: tag bitmap, request slots, driver data (Pdu).
// Invariant: slots[t] and pdus[t] are request t of hardware queue `index` for the life of
// the tag set; a slot's tag, hw_queue, tags and pdu fields never change. Which device's
// hardware queue (Hctx) a request belongs to is written into its slot when it starts.
// Tags 0..depth-1 come from `tags` (submitters and write-backs); tags depth.. are the
// reserved ones, from `reserved` (write-backs only; its bits below depth never free).
template <class D>
struct HwTags {
  using Pdu = typename D::Pdu;

  HwTags(unsigned index, unsigned depth)
      : tags(depth),
        reserved(depth + kReservedTags, depth),
        slots(new detail::RequestSlot[depth + kReservedTags]),
        pdus(new Pdu[depth + kReservedTags]()) {
    for (unsigned t = 0; t < depth + kReservedTags; ++t) {
      auto& s = slots[t];
      s.tag = t;
      s.hw_queue = static_cast<uint16_t>(index);
      s.tags = t < depth ? &tags : &reserved;
      s.pdu = &pdus[t];
    }
  }
  HwTags(const HwTags&) = delete;
  HwTags& operator=(const HwTags&) = delete;

  // Every slot: the submitters' tags and the reserved ones.
  unsigned nr_slots() const noexcept { return tags.depth() + kReservedTags; }
  // Whether slot t's tag is taken (in flight, or ended but still referenced).
  bool taken(unsigned t) const noexcept {
    return t < tags.depth() ? tags.test(t) : reserved.test(t);
  }
  // A reserved tag, or Sbitmap::kNone when they are all taken.
  uint32_t get_reserved() noexcept {
    if (MQBLK_BROKEN(NO_RESERVED_TAG)) return detail::Sbitmap::kNone;
    return reserved.get_near(tags.depth());
  }

  detail::Sbitmap tags;
  detail::Sbitmap reserved;
  std::unique_ptr<detail::RequestSlot[]> slots;
  std::unique_ptr<Pdu[]> pdus;
};

// nr_hw_queues x queue_depth preallocated requests. A Device made from a TagSetConfig has
// a tag set of its own; devices made from one shared TagSet share its tags and requests,
// as blk-mq's shared tag sets (BLK_MQ_F_TAG_QUEUE_SHARED, null_blk's shared_tags=1): tag t
// of hardware queue q is then one request that belongs to whichever device started it.
//
// Invariants:
//  * A device sees only its own requests: lookups, the timeout scan, freeze and teardown
//    of one device skip the requests another device started on the shared slots.
//  * Fairness, as blk-mq's hctx_may_queue: with n devices attached, one IoQueue may have
//    at most max(4, ceil(queue_depth / n)) requests in flight (share()).
//  * init_request runs once per request, by the driver of the first device attached.
//  * A tag set with TagSource::external serves one device (its tags are named outside).
// Threads: create() and the devices' constructors and shutdowns may run on any thread;
// the set lives until its last device and last shared_ptr are gone.
template <class D>
class TagSet {
 public:
  // Validates cfg (ConfigError with one line, nothing created) and preallocates every
  // request and its Pdu.
  static std::shared_ptr<TagSet> create(const TagSetConfig& cfg) {
    detail::check_tag_set_config(cfg);
    return std::shared_ptr<TagSet>(new TagSet(cfg));
  }
  TagSet(const TagSet&) = delete;
  TagSet& operator=(const TagSet&) = delete;

  const TagSetConfig& config() const noexcept { return cfg_; }
  HwTags<D>& hw(unsigned q) noexcept { return *hw_[q]; }
  // Devices attached now.
  unsigned devices() const noexcept {
    std::lock_guard lk(attach_lock_);
    return devices_;
  }
  // The per-IoQueue in-flight cap (see the fairness invariant); read on each reap.
  const std::atomic<unsigned>& share() const noexcept { return share_; }

 private:
  friend class Device<D>;

  explicit TagSet(const TagSetConfig& cfg) : cfg_(cfg) {
    hw_.reserve(cfg.nr_hw_queues);
    for (unsigned q = 0; q < cfg.nr_hw_queues; ++q)
      hw_.push_back(std::make_unique<HwTags<D>>(q, cfg.queue_depth));
    share_.store(cfg.queue_depth, std::memory_order_relaxed);
  }

  // A device joins; true when it is the first ever (it runs init_request). False with
  // *refused set when the set cannot take another device.
  bool attach(bool* refused) noexcept {
    std::lock_guard lk(attach_lock_);
    *refused = cfg_.tag_source == TagSource::external && devices_ > 0;
    if (*refused) return false;
    ++devices_;
    update_share();
    return !std::exchange(initialized_, true);
  }
  void detach() noexcept {
    std::lock_guard lk(attach_lock_);
    --devices_;
    update_share();
  }
  void update_share() noexcept {
    share_.store(fair_share(cfg_.queue_depth, devices_), std::memory_order_relaxed);
  }

  TagSetConfig cfg_;
  std::vector<std::unique_ptr<HwTags<D>>> hw_;
  alignas(64) std::atomic<unsigned> share_{0};
  mutable std::mutex attach_lock_;
  unsigned devices_ = 0;
  bool initialized_ = false;
};

MQBLK_OWNERSHIP_NS_END
}  // namespace mqblk
