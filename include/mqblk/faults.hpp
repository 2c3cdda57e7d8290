// mqblk/faults.hpp - the test device's half that works on every driver: bad blocks, fault
// injection, error injection, bandwidth throttling and power, decided by the engine before
// a request reaches its driver (null_blk's names, units and semantics).
//
// Every Device<D> has one DeviceFaults. Its hardware queues ask decide() for each request
// they dispatch while any feature is armed (one relaxed load when none is: the hot path's
// only cost). What each verdict does:
//   pass     the driver gets the request;
//   fail     the engine ends it with the status (a bad block: ioerr, as null_blk's
//            BLK_STS_IOERR; an injected error; power off: ioerr) and the driver never sees it;
//   partial  badblocks_partial_io: the driver transfers the bytes before the first bad
//            sector; the submitter gets Status::ioerr with IoCompletion::result = those bytes;
//   hold     a `timeout` fault (null_blk's fake timeout): the engine keeps the request until
//            the device's request timeout, then ends it with Status::timeout, as
//            null_blk's null_timeout_rq does; nothing else ends it early but a power cut or
//            teardown;
//   requeue  a `requeue` fault, or mbps over budget (null_blk's BLK_STS_DEV_RESOURCE): the
//            engine puts it on the queue's requeue list and retries it after 1 ms.
//
// Attributes (any driver; `mqblk features` lists them with each driver):
//   badblocks=+S-E[,+S-E|-S-E...]  bad sectors S..E inclusive (512-byte sectors), + adds, - clears
//   badblocks_once=0|1             a bad range is cleared once a request failed on it
//   badblocks_partial_io=0|1       transfer up to the first bad sector (rounded down to a block)
//   timeout=I,P,S,T  requeue=I,P,S,T  init_hctx=I,P,S,T
//                                  Linux fault_attr: interval, probability (%), space, times
//                                  (-1: no limit); init_hctx applies when the device is created
//   error_rate=R  error=EIO  error_ops=read,write,...  error_seed=N
//                                  nbdkit's error filter: fail a fraction R (0..1, or N%) of
//                                  the listed operations with that errno, repeatably per seed
//   mbps=N                         bandwidth limit in MiB/s (null_blk's unit), 0 = none
//   power=0|1                      live only: 0 cuts the power (see Device::set_power)
//   cache_size=N                   a volatile write-back cache of N MB (K/M/G/T suffixes) in
//                                  front of the driver (mqblk/write_cache.hpp); set at creation
//
// Thread safety: decide() from any dispatching thread; configure()/settings() from any
// thread (the control socket's); they serialise on one mutex, which decide() takes only
// for the features that need it (bad blocks, fault attrs, error injection: test paths).
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "mqblk/errors.hpp"
#include "mqblk/registry.hpp"
#include "mqblk/types.hpp"
#include "mqblk/write_cache.hpp"

namespace mqblk {

// Linux's struct fault_attr, as null_blk parses it from "interval,probability,space,times".
// should_fail() follows lib/fault-inject.c: times == 0 never fails; space is consumed
// first; then every interval-th call is a candidate, failing with probability percent;
// each failure decrements times (unless -1).
struct FaultAttr {
  uint64_t interval = 1;
  uint32_t probability = 0;  // percent, 0..100
  int64_t space = 0;
  int64_t times = 0;  // -1: unlimited
  uint64_t count = 0;

  bool armed() const noexcept { return times != 0 && probability != 0; }
  // rnd: a uniform draw in [0, 100).
  bool should_fail(uint64_t size, uint32_t rnd) noexcept;
  std::string to_string() const;  // "interval,probability,space,times"
  // ConfigError naming key=value on a bad string.
  static FaultAttr parse(std::string_view key, std::string_view value);
  bool operator==(const FaultAttr& o) const noexcept {
    return interval == o.interval && probability == o.probability && space == o.space &&
           times == o.times;
  }
};

// Bad sector ranges, inclusive, sorted and merged.
class BadBlocks {
 public:
  // Applies "+S-E" / "-S-E" edits separated by commas; ConfigError (nothing changed) on a
  // malformed one.
  void apply(std::string_view key, std::string_view edits);
  // The first bad sector in [sector, sector + nr), if any, and the length of its run
  // within the request.
  std::optional<std::pair<uint64_t, uint64_t>> first_bad(uint64_t sector,
                                                         uint64_t nr) const noexcept;
  void clear(uint64_t start, uint64_t end) noexcept;  // inclusive
  bool empty() const noexcept { return ranges_.empty(); }
  std::string to_string() const;  // "+S-E,+S-E" ("" when empty)
  const std::vector<std::pair<uint64_t, uint64_t>>& ranges() const noexcept { return ranges_; }

 private:
  void add(uint64_t s, uint64_t e);
  std::vector<std::pair<uint64_t, uint64_t>> ranges_;
};

struct ErrorInjection {
  double rate = 0;  // 0..1
  Status status = Status::ioerr;
  uint32_t ops = ~0u;  // bit per Op
  uint64_t seed = 0;
  bool armed() const noexcept { return rate > 0; }
};

// The whole configuration, as attributes give it.
struct FaultSettings {
  BadBlocks badblocks;
  bool badblocks_once = false;
  bool badblocks_partial_io = false;
  FaultAttr timeout, requeue, init_hctx;
  ErrorInjection error;
  uint64_t mbps = 0;  // MiB/s
  bool powered = true;
  uint64_t cache_size = 0;  // bytes; 0: no write cache
};

// The attributes DeviceFaults handles, for `features`, the docs and the man pages.
std::vector<AttributeInfo> fault_attributes();
// True when key (before '=') is one of them.
bool is_fault_attribute(std::string_view key) noexcept;

// Applies key=value items (fault attributes only) to s, in order. ConfigError with one
// line on any bad item: then s is unchanged. live: power is accepted, init_hctx is not
// (it applies at creation).
void apply_fault_items(FaultSettings& s, const std::vector<std::string>& items, bool live);

// The (device, hardware queue) whose creation an armed init_hctx fault fails, deciding once
// per queue of every device in order (seeded by error_seed), or none.
std::optional<std::pair<unsigned, unsigned>> first_failing_hctx(const FaultSettings& s,
                                                                unsigned nr_devices,
                                                                unsigned nr_hw_queues);

// The settings as attributes ("key=value"), the default-valued ones left out.
std::vector<std::string> fault_items(const FaultSettings& s);
// Every one of them, defaults included (`mqblk get`: badblocks= when there are none).
std::vector<std::string> fault_items_all(const FaultSettings& s);

class DeviceFaults {
 public:
  enum class Action : uint8_t { pass, fail, partial, hold, requeue };
  struct Verdict {
    Action action = Action::pass;
    Status status = Status::ok;
    uint32_t bytes = 0;  // partial: what the driver transfers
  };

  DeviceFaults() = default;
  DeviceFaults(const DeviceFaults&) = delete;
  DeviceFaults& operator=(const DeviceFaults&) = delete;

  // Non-zero while anything is armed (or the power is off): the dispatch hot path's test.
  bool active() const noexcept { return active_.load(std::memory_order_relaxed) != 0; }
  bool powered() const noexcept { return powered_.load(std::memory_order_acquire); }

  // What to do with a request about to be dispatched. block_sectors: the logical block size
  // in sectors (partial I/O rounds down to it). now_ns: CLOCK_MONOTONIC.
  Verdict decide(Op op, uint64_t sector, uint32_t bytes, uint32_t block_sectors,
                 int64_t now_ns) noexcept;

  // Replaces the settings (already validated). The power bit is the device's to change
  // (Device::set_power), so s.powered is ignored here.
  void configure(const FaultSettings& s);
  FaultSettings settings() const;
  void set_powered(bool on) noexcept;

  // The device's shape, for a write cache (Device<D>'s constructor, before any I/O).
  void set_geometry(const DiskLimits& limits, unsigned nr_hw_queues, unsigned depth);
  // The write cache (cache_size), or null. Created by the first configure() that asks for
  // one, never replaced or freed before the device.
  WriteCache* cache() const noexcept { return cache_ptr_.load(std::memory_order_acquire); }

  // Counters for `get`.
  uint64_t failed() const noexcept { return failed_.load(std::memory_order_relaxed); }
  uint64_t held() const noexcept { return held_.load(std::memory_order_relaxed); }
  uint64_t throttled() const noexcept { return throttled_.load(std::memory_order_relaxed); }

 private:
  static constexpr uint32_t kBad = 1, kTimeout = 2, kRequeue = 4, kError = 8, kMbps = 16,
                            kPowerOff = 32, kCache = 64;
  void update_active() noexcept;  // under lock_
  uint64_t next_random() noexcept;
  bool throttle(uint32_t bytes, int64_t now_ns) noexcept;

  mutable std::mutex lock_;
  FaultSettings s_;
  uint64_t rng_ = 0;
  std::atomic<uint32_t> active_{0};
  std::atomic<bool> powered_{true};
  // mbps: the generic cell rate algorithm on one atomic "theoretical arrival time": a
  // request of b bytes is admitted when tat <= now + burst, and moves tat by b / rate.
  std::atomic<int64_t> tat_ns_{0};
  std::atomic<uint64_t> ns_per_mib_{0};
  std::atomic<uint64_t> failed_{0}, held_{0}, throttled_{0};
  DiskLimits limits_;
  unsigned nr_hw_queues_ = 0, depth_ = 0;
  std::unique_ptr<WriteCache> cache_;  // under lock_; cache_ptr_ publishes it
  std::atomic<WriteCache*> cache_ptr_{nullptr};
};

}  // namespace mqblk
