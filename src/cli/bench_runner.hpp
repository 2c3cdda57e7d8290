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
enum class RwMode { randread, randwrite, read, write, randrw, zoned };

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
  bool progress = false;  // live line on stderr
  uint64_t seed = 0x6d71626c6b;
};

struct BenchResult {
  uint64_t ios = 0, bytes = 0, errors = 0, verify_errors = 0, verified_blocks = 0;
  uint64_t zone_resets = 0;  // --rw zoned
  double seconds = 0, cpu_user_s = 0, cpu_sys_s = 0;
  LatencyHistogram lat;  // nanoseconds, sampled
};

// Checks the options against a device of this shape; throws std::runtime_error with one
// line on an unusable combination. run_bench checks again.
void check_bench_options(const BenchOptions& o, const DiskLimits& l, unsigned queue_depth,
                         unsigned nr_devices = 1);

// Runs the jobs over devs (all of one shape): job j drives devs[j % devs.size()], on its
// hardware queue (j / devs.size()) % nr_hw_queues. Throws std::runtime_error with one line
// on an unusable combination.
BenchResult run_bench(const std::vector<BlockDevice*>& devs, const BenchOptions& o);

const char* rw_name(RwMode m) noexcept;

}  // namespace mqblk::cli
