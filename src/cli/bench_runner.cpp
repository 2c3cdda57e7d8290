// The bench loop. Per I/O it does: pick an offset (xorshift + multiply-shift, no
// division), submit, and on completion resubmit; latency is timed for one I/O in
// lat_sample so that clock reads do not dominate the cost being measured.
//
// An iodepth above what the queue may hold (its depth, or its share of a shared tag set):
// an I/O the queue answers busy for waits in the job's FIFO (allocated up front) and is
// submitted, in order, as soon as a completion makes room. Its latency runs from when the
// job issued it, so the wait counts, as a wait for a tag does under fio on a real device.
#include "cli/bench_runner.hpp"

#include <sys/resource.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <memory>
#include <stdexcept>
#include <thread>
#include <vector>

#include "mqblk/detail/clock.hpp"

namespace mqblk::cli {
namespace {

uint64_t splitmix(uint64_t x) noexcept {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

// The content of block b in a verify run: a function of (seed, block, word).
void fill_pattern(std::byte* buf, uint32_t len, uint64_t seed, uint64_t block) noexcept {
  uint64_t h = splitmix(seed ^ block);
  for (uint32_t i = 0; i + 8 <= len; i += 8) {
    uint64_t v = h + i;
    std::memcpy(buf + i, &v, 8);
  }
}
bool check_pattern(const std::byte* buf, uint32_t len, uint64_t seed, uint64_t block) noexcept {
  uint64_t h = splitmix(seed ^ block);
  for (uint32_t i = 0; i + 8 <= len; i += 8) {
    uint64_t v;
    std::memcpy(&v, buf + i, 8);
    if (v != h + i) return false;
  }
  return true;
}

struct JobResult {
  uint64_t verify_errors = 0, verified = 0, zone_resets = 0, tag_waits = 0;
  double user = 0, sys = 0;
  DirStats dir[kNrDirs];
};

struct Shared {
  std::atomic<bool> stop{false};
};

constexpr Dir kDirOf[] = {Dir::read, Dir::write, Dir::trim, Dir::flush};
constexpr Op kOpOf[] = {Op::read, Op::write, Op::discard, Op::flush};

// The direction of every I/O of a mode that is not mixed.
Dir fixed_dir(RwMode m) noexcept {
  switch (m) {
    case RwMode::randread:
    case RwMode::read: return Dir::read;
    case RwMode::trim:
    case RwMode::randtrim: return Dir::trim;
    case RwMode::flush: return Dir::flush;
    default: return Dir::write;
  }
}

class Job {
 public:
  // Job `index` of the bench: the local-th of the jobs_on_dev jobs that drive dev.
  Job(BlockDevice& dev, const BenchOptions& o, unsigned index, unsigned local, unsigned jobs_on_dev,
      Shared& sh)
      : dev_(dev), o_(o), sh_(sh), rng_(splitmix(o.seed + index) | 1) {
    uint64_t region = o.size ? o.size : dev.limits().capacity_bytes;
    uint64_t blocks = region / o.bs;
    zoned_ = o.rw == RwMode::zoned;
    if (zoned_) {
      pick_zones(region, local, jobs_on_dev);  // disjoint zones: verification is exact
    } else if (o.verify) {  // a device's jobs write disjoint slices so that verification is exact
      blocks /= jobs_on_dev;
      first_block_ = blocks * local;
    }
    nblocks_ = blocks;
    if (nblocks_ == 0)
      throw std::runtime_error("bench: the region is smaller than one block per job");
    q_ = dev.open_queue(static_cast<int>(local % dev.nr_hw_queues()));
    const size_t total = size_t{o.bs} * o.iodepth;
    buf_.reset(static_cast<std::byte*>(std::aligned_alloc(4096, (total + 4095) & ~size_t{4095})));
    if (!buf_)
      throw std::runtime_error("bench: no memory for --iodepth x --bs = " + std::to_string(total) +
                               " bytes of buffers (lower one of them)");
    std::memset(buf_.get(), 0, total);
    slots_.resize(o.iodepth);
    waiting_.resize(o.iodepth);
    if (o.verify) written_.assign((nblocks_ + 63) / 64, 0);
    random_ = o.rw == RwMode::randread || o.rw == RwMode::randwrite || o.rw == RwMode::randrw ||
              o.rw == RwMode::randtrim;
    mixed_ = o.rw == RwMode::randrw;
    dir_ = fixed_dir(o.rw);
    if (zoned_) reset_zones();  // a known start, whatever the device held
    for (unsigned d = 0; d < kNrDirs; ++d) {
      const bool flush = kDirOf[d] == Dir::flush;
      io_template_[d] = IoDesc{kOpOf[d], 0, 0, flush ? 0 : o.bs, nullptr};
    }
  }

  // The loop is compiled twice, so that the zoned mode's tests cost the others nothing
  // (bench/callgrind_per_io.sh counts the loop's instructions too).
  JobResult run() { return zoned_ ? run_loop<true>() : run_loop<false>(); }

  template <bool kZoned>
  JobResult run_loop() {
    rusage ru0{};
    getrusage(RUSAGE_THREAD, &ru0);
    const int64_t t0 = detail::now_ns();
    const int64_t end_ns = o_.ios ? INT64_MAX : t0 + static_cast<int64_t>(o_.runtime_s * 1e9);
    uint64_t submitted = 0;
    uint64_t limit = o_.ios ? o_.ios : UINT64_MAX;  // lowered to `submitted` to stop
    for (unsigned i = 0; i < o_.iodepth; ++i) idle_.push_back(i);
    std::vector<IoCompletion> cqes(o_.iodepth);
    uint64_t since_check = 0;
    for (;;) {
      // Fill the idle slots; a zoned job stops at the end of a cycle (its zones full).
      while (!idle_.empty() && submitted < limit && submit<kZoned>(idle_.back())) {
        idle_.pop_back();
        ++submitted;
      }
      if (!q_->outstanding()) {
        if (nr_waiting_) {  // (the FIFO is drained after each reap: not seen so far)
          start_waiting();
          if (!q_->outstanding())  // nothing in flight, yet the queue takes nothing
            throw std::runtime_error("bench: the queue accepts no I/O (its capacity is 0)");
          continue;
        }
        if (!kZoned || submitted >= limit) break;
        reset_zones();  // every write of the cycle is done: start the next one
        continue;
      }
      unsigned n = q_->wait(cqes.data(), o_.iodepth, 1, -1);
      if (__builtin_expect(nr_waiting_ != 0, 0)) {
        // Requests ended: the I/Os waiting for room go first, in the order they came.
        for (unsigned i = 0; i < n; ++i)
          complete(static_cast<unsigned>(cqes[i].user_data), cqes[i].status);
        start_waiting();
        for (unsigned i = 0; i < n; ++i) {
          unsigned slot = static_cast<unsigned>(cqes[i].user_data);
          if (submitted < limit && submit<kZoned>(slot))
            ++submitted;
          else
            idle_.push_back(slot);
        }
      } else {
        for (unsigned i = 0; i < n; ++i) {
          unsigned slot = static_cast<unsigned>(cqes[i].user_data);
          complete(slot, cqes[i].status);
          if (submitted < limit && submit<kZoned>(slot))
            ++submitted;
          else
            idle_.push_back(slot);
        }
      }
      done_.store(done_.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
      since_check += n;
      if (since_check >= 1024) {
        since_check = 0;
        if (detail::now_ns() >= end_ns || sh_.stop.load(std::memory_order_relaxed))
          limit = submitted;
      } else if (!o_.ios && n == 0 && detail::now_ns() >= end_ns) {
        limit = submitted;
      }
    }
    const int64_t t1 = detail::now_ns();
    if (o_.verify) verify_all();
    rusage ru1{};
    getrusage(RUSAGE_THREAD, &ru1);
    r_.user = tv_s(ru1.ru_utime) - tv_s(ru0.ru_utime);
    r_.sys = tv_s(ru1.ru_stime) - tv_s(ru0.ru_stime);
    // Every I/O of a direction moves bs bytes (a flush none): counted here, not per I/O.
    for (unsigned d = 0; d < kNrDirs; ++d) {
      r_.dir[d].ios = ios_[d];
      r_.dir[d].bytes = kDirOf[d] == Dir::flush ? 0 : ios_[d] * o_.bs;
    }
    seconds_ = static_cast<double>(t1 - t0) / 1e9;
    return r_;
  }
  double seconds() const noexcept { return seconds_; }
  // I/Os this job completed so far (any thread: the IOPS log's sampler reads it).
  uint64_t done() const noexcept { return done_.load(std::memory_order_relaxed); }

 private:
  struct Slot {
    uint64_t block = 0;
    int64_t start_ns = 0;  // 0: not sampled
    Dir dir = Dir::read;
  };
  // An I/O issued while its queue was full, as it will be submitted.
  struct Waiting {
    unsigned slot = 0;
    IoDesc io;
  };

  static double tv_s(const timeval& t) { return static_cast<double>(t.tv_sec) + t.tv_usec / 1e6; }

  uint64_t next_rand() noexcept {
    rng_ ^= rng_ << 13;
    rng_ ^= rng_ >> 7;
    rng_ ^= rng_ << 17;
    return rng_;
  }

  // False when a zoned job's cycle has no block left (nothing submitted).
  template <bool kZoned>
  [[gnu::always_inline]] inline bool submit(unsigned slot) {
    Slot& s = slots_[slot];
    uint64_t r = next_rand();
    if constexpr (kZoned) {
      if (!next_zoned_block(s.block)) return false;
    } else if (random_) {
      s.block = static_cast<uint64_t>((static_cast<unsigned __int128>(r) * nblocks_) >> 64);
    } else {
      s.block = seq_next_;
      if (++seq_next_ == nblocks_) seq_next_ = 0;
    }
    s.dir =
        mixed_ ? ((r >> 57) * 100 < uint64_t{o_.rwmix_read} * 128 ? Dir::read : Dir::write) : dir_;
    const auto d = static_cast<unsigned>(s.dir);
    std::byte* buf = buf_.get() + size_t{slot} * o_.bs;
    uint64_t block = first_block_ + s.block;
    if (o_.verify && s.dir == Dir::write) fill_pattern(buf, o_.bs, o_.seed, block);
    s.start_ns = 0;
    if (__builtin_expect(--sample_countdown_ == 0, 0)) {
      sample_countdown_ = o_.lat_sample;
      s.start_ns = detail::now_ns();
    }
    IoDesc io = io_template_[d];
    if (__builtin_expect(s.dir <= Dir::write, 1)) {
      io.offset = block * o_.bs;
      io.buf = buf;
    } else if (s.dir == Dir::trim) {
      io.offset = block * o_.bs;
    }
    // Order: once the queue answered busy it stays full until the next reap (its capacity
    // changes only there), so every submit until then goes to the FIFO behind the first:
    // the I/Os wait in the order they were issued. A zoned job's writes must reach the
    // device in that order; it checks anyway.
    if constexpr (kZoned) {
      if (__builtin_expect(nr_waiting_ != 0, 0)) {
        wait_for_room(slot, io);
        return true;
      }
    }
    Status st = q_->submit(io, slot);
    if (__builtin_expect(st != Status::ok, 0)) {
      if (st != Status::busy) submit_failed(st);
      wait_for_room(slot, io);
    }
    return true;
  }

  // The queue holds all it may: the I/O waits in the FIFO (never more than iodepth).
  [[gnu::noinline, gnu::cold]] void wait_for_room(unsigned slot, const IoDesc& io) noexcept {
    waiting_[(wait_head_ + nr_waiting_) % o_.iodepth] = Waiting{slot, io};
    ++nr_waiting_;
    ++r_.tag_waits;
  }

  // Submits the waiting I/Os, oldest first, until the queue is full again.
  [[gnu::noinline]] void start_waiting() {
    while (nr_waiting_) {
      const Waiting& w = waiting_[wait_head_];
      Status st = q_->submit(w.io, w.slot);
      if (st == Status::busy) return;
      if (st != Status::ok) submit_failed(st);
      wait_head_ = (wait_head_ + 1) % o_.iodepth;
      --nr_waiting_;
    }
  }

  [[noreturn, gnu::noinline, gnu::cold]] void submit_failed(Status st) {
    ++r_.dir[static_cast<unsigned>(dir_)].errors;
    throw std::runtime_error(std::string("bench: submit failed: ") + std::string(to_string(st)));
  }

  // --rw zoned: this job's sequential zones (every jobs_on_dev-th, from the local-th) within
  // the first region bytes, and how many blocks of bs each one's capacity holds.
  void pick_zones(uint64_t region, unsigned local, unsigned jobs_on_dev) {
    unsigned seq = 0;
    for (const ZoneInfo& z : report_all_zones(dev_)) {
      if (z.type == ZoneType::conventional) continue;
      if ((z.start + z.len) << kSectorShift > region) break;
      if (seq++ % jobs_on_dev != local) continue;
      if (z.cond == ZoneCond::read_only || z.cond == ZoneCond::offline) continue;
      zones_.push_back(z.start << kSectorShift);
      zone_blocks_ = (z.capacity << kSectorShift) / o_.bs;
    }
    if (zones_.empty() || zone_blocks_ == 0)
      throw std::runtime_error(
          "bench: --rw zoned: no writable sequential zone of at least --bs for this job (use "
          "fewer --jobs, a larger --size, or a smaller --bs)");
    zone_bytes_ = dev_.limits().zone_size_sectors << kSectorShift;
    first_block_ = 0;  // blocks are numbered from the start of the device
  }

  // The next block of the cycle, in zone order; false once every zone is full.
  bool next_zoned_block(uint64_t& block) noexcept {
    if (zone_pos_ == zone_blocks_) {
      if (zone_i_ + 1 >= zones_.size()) return false;
      ++zone_i_;
      zone_pos_ = 0;
    }
    block = zones_[zone_i_] / o_.bs + zone_pos_++;
    return true;
  }

  // Resets this job's zones (nothing in flight) and forgets what they held.
  void reset_zones() {
    for (uint64_t off : zones_) {
      Status st = zone_mgmt(*q_, Op::zone_reset, off);
      if (st != Status::ok)
        throw std::runtime_error(std::string("bench: zone reset at byte ") + std::to_string(off) +
                                 " failed: " + std::string(to_string(st)));
      ++r_.zone_resets;
      if (o_.verify)
        for (uint64_t b = off / o_.bs, e = b + zone_bytes_ / o_.bs; b < e; ++b)
          written_[b / 64] &= ~(uint64_t{1} << (b % 64));
    }
    zone_i_ = 0;
    zone_pos_ = 0;
  }

  [[gnu::always_inline]] inline void complete(unsigned slot, Status st) {
    Slot& s = slots_[slot];
    const auto d = static_cast<unsigned>(s.dir);
    if (s.start_ns) r_.dir[d].lat.record(static_cast<uint64_t>(detail::now_ns() - s.start_ns));
    ++ios_[d];
    if (st != Status::ok) {
      ++r_.dir[d].errors;
      return;
    }
    if (!o_.verify) return;
    uint64_t w = s.block / 64, bit = uint64_t{1} << (s.block % 64);
    if (s.dir == Dir::write) {
      written_[w] |= bit;
    } else if (written_[w] & bit) {
      ++r_.verified;
      if (!check_pattern(buf_.get() + size_t{slot} * o_.bs, o_.bs, o_.seed, first_block_ + s.block))
        ++r_.verify_errors;
    }
  }

  // After the run: read back every block this job wrote and check it.
  void verify_all() {
    std::byte* buf = buf_.get();
    for (uint64_t b = 0; b < nblocks_; ++b) {
      if (!(written_[b / 64] & (uint64_t{1} << (b % 64)))) continue;
      IoDesc io{Op::read, 0, (first_block_ + b) * o_.bs, o_.bs, buf};
      Status st = sync_io(*q_, io);
      ++r_.verified;
      if (st != Status::ok || !check_pattern(buf, o_.bs, o_.seed, first_block_ + b))
        ++r_.verify_errors;
    }
  }

  struct Free {
    void operator()(std::byte* p) const noexcept { std::free(p); }
  };
  BlockDevice& dev_;
  const BenchOptions& o_;
  Shared& sh_;
  std::unique_ptr<IoQueue> q_;
  std::unique_ptr<std::byte, Free> buf_;
  std::vector<Slot> slots_;
  std::vector<uint64_t> written_;
  uint64_t rng_;
  uint64_t nblocks_ = 0, first_block_ = 0, seq_next_ = 0, sample_countdown_ = 1;
  bool random_ = true, mixed_ = false, zoned_ = false;
  Dir dir_ = Dir::read;           // every I/O's, unless mixed_
  std::vector<unsigned> idle_;    // slots with nothing in flight
  std::vector<Waiting> waiting_;  // ring of iodepth: I/Os issued, waiting for room
  unsigned wait_head_ = 0, nr_waiting_ = 0;
  uint64_t ios_[kNrDirs] = {};  // I/Os completed, per direction (into r_.dir at the end)
  alignas(64) std::atomic<uint64_t> done_{0};  // I/Os completed, published after each batch
  std::vector<uint64_t> zones_;                // --rw zoned: byte offsets of this job's zones
  uint64_t zone_blocks_ = 0, zone_bytes_ = 0;
  size_t zone_i_ = 0;
  uint64_t zone_pos_ = 0;
  IoDesc io_template_[kNrDirs];
  JobResult r_;
  double seconds_ = 0;
};

}  // namespace

const char* rw_name(RwMode m) noexcept {
  switch (m) {
    case RwMode::randread: return "randread";
    case RwMode::randwrite: return "randwrite";
    case RwMode::read: return "read";
    case RwMode::write: return "write";
    case RwMode::randrw: return "randrw";
    case RwMode::zoned: return "zoned";
    case RwMode::trim: return "trim";
    case RwMode::randtrim: return "randtrim";
    case RwMode::flush: return "flush";
  }
  return "?";
}

const char* dir_name(Dir d) noexcept {
  switch (d) {
    case Dir::read: return "read";
    case Dir::write: return "write";
    case Dir::trim: return "trim";
    case Dir::flush: return "flush";
  }
  return "?";
}

bool rw_writes_data(RwMode m) noexcept {
  return m == RwMode::write || m == RwMode::randwrite || m == RwMode::randrw || m == RwMode::zoned;
}

void check_bench_options(const BenchOptions& o, const DiskLimits& l, unsigned nr_devices) {
  const std::string rw = std::string("bench: --rw ") + rw_name(o.rw);
  const bool trims = o.rw == RwMode::trim || o.rw == RwMode::randtrim;
  const bool data = !trims && o.rw != RwMode::flush;
  if (o.jobs < nr_devices)
    throw std::runtime_error("bench: --jobs " + std::to_string(o.jobs) +
                             " would leave some of the " + std::to_string(nr_devices) +
                             " devices idle (give --jobs " + std::to_string(nr_devices) +
                             " or more, or fewer nr_devices)");
  if (o.bs == 0 || o.bs % l.logical_block_size)
    throw std::runtime_error("bench: --bs " + std::to_string(o.bs) +
                             " is not a multiple of the device's block size " +
                             std::to_string(l.logical_block_size));
  if (data && o.bs > l.max_request_bytes())
    throw std::runtime_error("bench: --bs " + std::to_string(o.bs) +
                             " exceeds the device's max request " +
                             std::to_string(l.max_request_bytes()));
  // Past a queue's depth the extra I/Os wait in the job (see the top of this file); the
  // bound only keeps the slot table and buffers sane.
  if (o.iodepth == 0 || o.iodepth > kMaxIodepth)
    throw std::runtime_error("bench: --iodepth " + std::to_string(o.iodepth) +
                             " must be between 1 and " + std::to_string(kMaxIodepth));
  if (o.size > l.capacity_bytes)
    throw std::runtime_error("bench: --size is larger than the device");
  if (o.lat_sample == 0 || (o.lat_sample & (o.lat_sample - 1)))
    throw std::runtime_error("bench: --lat-sample must be a power of two");
  if (!(o.log_interval_s >= 0.001 && o.log_interval_s <= 3600))
    throw std::runtime_error("bench: --log-interval must be between 1ms and 1h");
  if (o.verify && !rw_writes_data(o.rw))
    throw std::runtime_error(rw + " writes no data, so --verify would check nothing (drop " +
                             "--verify, or use --rw write, randwrite, randrw or zoned)");
  if (trims && !l.supports_discard())
    throw std::runtime_error(rw +
                             ": the device does not support discard (null: add discard=1 "
                             "memory_backed=1; file: one whose file system can punch holes)");
  if (trims && o.bs > uint64_t{l.max_discard_sectors} << kSectorShift)
    throw std::runtime_error("bench: --bs " + std::to_string(o.bs) +
                             " exceeds the device's largest discard " +
                             std::to_string(uint64_t{l.max_discard_sectors} << kSectorShift));
  if (o.rw == RwMode::flush && !l.volatile_write_cache)
    throw std::runtime_error(
        rw +
        ": the device has no volatile write cache, so a flush has nothing to do (null: "
        "add memory_backed=1)");
  if (l.read_only && o.rw != RwMode::read && o.rw != RwMode::randread)
    throw std::runtime_error(rw + " on a read-only device (use --rw read or randread)");
  if (o.rw == RwMode::zoned && l.zoned == ZonedModel::none)
    throw std::runtime_error("bench: --rw zoned needs a zoned device (e.g. null zoned=1)");
  if (l.zoned != ZonedModel::none && o.rw != RwMode::zoned && o.rw != RwMode::read &&
      o.rw != RwMode::randread && o.rw != RwMode::flush)
    throw std::runtime_error(rw +
                             " on a zoned device would write off the write pointers (use --rw "
                             "zoned, a read mode or flush)");
}

BenchResult run_bench(const std::vector<BlockDevice*>& devs, const BenchOptions& o) {
  const auto n = static_cast<unsigned>(devs.size());
  check_bench_options(o, devs.front()->limits(), n);

  Shared sh;
  std::vector<std::unique_ptr<Job>> jobs;
  for (unsigned j = 0; j < o.jobs; ++j) {
    unsigned d = j % n;
    unsigned jobs_on_dev = (o.jobs - d + n - 1) / n;
    jobs.push_back(std::make_unique<Job>(*devs[d], o, j, j / n, jobs_on_dev, sh));
  }
  BenchResult r;
  r.queue_cap = devs.front()->queue_cap();
  std::vector<JobResult> results(o.jobs);
  std::vector<std::string> errors(o.jobs);
  std::vector<std::thread> threads;
  const int64_t t0 = detail::now_ns();
  auto done_ios = [&] {
    uint64_t sum = 0;
    for (auto& j : jobs) sum += j->done();
    return sum;
  };
  for (unsigned j = 0; j < o.jobs; ++j)
    threads.emplace_back([&, j] {
      try {
        results[j] = jobs[j]->run();
      } catch (const std::exception& e) {
        errors[j] = e.what();
        sh.stop = true;
      }
    });
  // The IOPS log (and the live line): one sample per interval, taken by this thread.
  std::atomic<bool> finished{false};
  int64_t last_t = t0;
  uint64_t last_ios = 0;
  auto sample = [&](int64_t now) {
    const uint64_t ios = done_ios();
    const double len = static_cast<double>(now - last_t) / 1e9;
    if (len <= 0) return;
    r.iops_log.push_back(
        {static_cast<double>(now - t0) / 1e9, len, static_cast<double>(ios - last_ios) / len});
    last_t = now;
    last_ios = ios;
  };
  std::thread sampler([&] {
    const auto step = static_cast<int64_t>(o.log_interval_s * 1e9);
    int64_t next = t0 + step, next_progress = t0 + 500'000'000;
    uint64_t progress_ios = 0;
    while (!finished.load()) {
      const int64_t now = detail::now_ns();
      if (now < next) {
        std::this_thread::sleep_for(
            std::chrono::nanoseconds(std::min<int64_t>(next - now, 50'000'000)));
        continue;
      }
      sample(now);
      next += step;
      if (next <= now) next = now + step;  // a late wake-up: no burst of empty samples
      if (o.progress && now >= next_progress) {
        std::fprintf(stderr, "\r[%5.1fs] %.2fM IOPS   ", (now - t0) / 1e9,
                     static_cast<double>(last_ios - progress_ios) * 2 / 1e6);
        progress_ios = last_ios;
        next_progress += 500'000'000;
      }
    }
    if (o.progress) std::fprintf(stderr, "\r%40s\r", "");
  });
  for (auto& t : threads) t.join();
  finished = true;
  sampler.join();
  sample(detail::now_ns());  // the last, partial interval: the log adds up to every I/O
  for (auto& e : errors)
    if (!e.empty()) throw std::runtime_error(e);

  for (unsigned j = 0; j < o.jobs; ++j) {
    for (unsigned d = 0; d < kNrDirs; ++d) {
      DirStats& to = r.dir[d];
      const DirStats& from = results[j].dir[d];
      to.ios += from.ios;
      to.bytes += from.bytes;
      to.errors += from.errors;
      to.lat.merge(from.lat);
    }
    r.verify_errors += results[j].verify_errors;
    r.verified_blocks += results[j].verified;
    r.zone_resets += results[j].zone_resets;
    r.tag_waits += results[j].tag_waits;
    r.cpu_user_s += results[j].user;
    r.cpu_sys_s += results[j].sys;
    if (jobs[j]->seconds() > r.seconds) r.seconds = jobs[j]->seconds();
  }
  for (const DirStats& d : r.dir) {
    r.ios += d.ios;
    r.bytes += d.bytes;
    r.errors += d.errors;
    r.lat.merge(d.lat);
  }
  return r;
}

}  // namespace mqblk::cli
