// cli/bench_runner.hpp - `mqblk bench`: fio-like jobs against a BlockDevice, in process.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "cli/latency_histogram.hpp"
#include "mqblk/block_device.hpp"
#include "mqblk/zoned.hpp"

namespace mqblk::cli {

// zoned: on a zoned device, each job writes its sequential zones (every jobs-th one)
// sequentially at their write pointers, and when all of them are full it waits for its
// writes, resets them and starts over (BenchResult::zone_resets).
// trim / randtrim: DISCARDs of bs bytes, sequential or at random offsets (fio's trim).
// flush: FLUSH requests (no data, no offset), as many in flight as iodepth.
enum class RwMode { randread, randwrite, read, write, randrw, zoned, trim, randtrim, flush };

// What each I/O of a run was, for the per-direction figures (fio's read/write/trim, and
// flush, which fio counts as "sync").
enum class Dir : uint8_t { read, write, trim, flush };
inline constexpr unsigned kNrDirs = 4;
const char* dir_name(Dir d) noexcept;

struct DirStats {
  uint64_t ios = 0, bytes = 0, errors = 0;
  LatencyHistogram lat;  // nanoseconds, sampled; from the job's issue (a wait for a tag
                         // included) to the completion: fio's lat (slat + clat)
};

struct BenchOptions {
  RwMode rw = RwMode::randread;
  uint32_t bs = 4096;
  unsigned iodepth = 32;
  unsigned jobs = 1;
  double runtime_s = 5;  // used when ios == 0
  uint64_t ios = 0;      // I/Os per job; 0: run for runtime_s
  uint64_t size = 0;     // bytes of the device the jobs touch; 0: all of it
  unsigned rwmix_read = 50;
  unsigned lat_sample = 64;  // record latency of one I/O in lat_sample (power of two)
  bool verify = false;
  bool progress = false;        // live line on stderr
  double log_interval_s = 0.1;  // IOPS over time: one sample per interval (iops_log)
  uint64_t seed = 0x6d71626c6b;
};

// One point of the IOPS-over-time log: the I/Os completed in (t_s - len_s, t_s], per second.
struct IopsSample {
  double t_s = 0, len_s = 0, iops = 0;
};

// Invariants: ios, bytes, errors and lat are the sums of dir[]'s; the iops_log's samples
// cover [0, the last job's end] and their ios (iops * len_s) add up to ios.
struct BenchResult {
  uint64_t ios = 0, bytes = 0, errors = 0, verify_errors = 0, verified_blocks = 0;
  uint64_t zone_resets = 0;  // --rw zoned
  // I/Os that found their queue full (iodepth above what one queue may have in flight)
  // and waited in the job for a request to end, as fio's I/Os wait for a tag.
  uint64_t tag_waits = 0;
  unsigned queue_cap = 0;  // the most I/Os one job had in flight at once (its queue's cap)
  double seconds = 0, cpu_user_s = 0, cpu_sys_s = 0;
  LatencyHistogram lat;  // nanoseconds, sampled, every direction
  DirStats dir[kNrDirs];
  std::vector<IopsSample> iops_log;
};

// The largest --iodepth (beyond a queue's depth the extra I/Os wait in the job for room).
inline constexpr unsigned kMaxIodepth = 65536;

// Checks the options against a device of this shape; throws std::runtime_error with one
// line on an unusable combination. run_bench checks again.
void check_bench_options(const BenchOptions& o, const DiskLimits& l, unsigned nr_devices = 1);

// Runs the jobs over devs (all of one shape): job j drives devs[j % devs.size()], on its
// hardware queue (j / devs.size()) % nr_hw_queues. Throws std::runtime_error with one line
// on an unusable combination.
BenchResult run_bench(const std::vector<BlockDevice*>& devs, const BenchOptions& o);

const char* rw_name(RwMode m) noexcept;
// The modes in the order --help lists them.
inline constexpr RwMode kAllRwModes[] = {RwMode::randread, RwMode::randwrite, RwMode::read,
                                         RwMode::write,    RwMode::randrw,    RwMode::zoned,
                                         RwMode::trim,     RwMode::randtrim,  RwMode::flush};
// True for the modes that write data (--verify needs one).
bool rw_writes_data(RwMode m) noexcept;

}  // namespace mqblk::cli
