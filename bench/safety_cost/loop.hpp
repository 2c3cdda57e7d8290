// bench/safety_cost/loop.hpp - the body shared by the checked and the raw TU.
//
// Included by exactly two translation units: checked.cpp (compiled normally: the ownership
// machinery lives in mqblk::checked_ownership) and raw.cpp (compiled with
// -DMQBLK_RAW_OWNERSHIP=1: mqblk::raw_ownership, where an owner's end is a plain store,
// no CAS, no state transition). Everything here is in an unnamed namespace, so each TU
// has its own driver, Device<D> and loop; SAFETY_VARIANT ("checked" or "raw") names the
// benchmarks and the exported fixed-count entry point.
//
// The raw TU uses only header code plus mqblk::detail non-template functions that live
// outside the ownership namespace (check_device_config, check_io, wait_fd_until,
// CompletionQueue); bench/safety_cost.sh checks its object file for undefined symbols in
// an ownership namespace.
#pragma once

#include <benchmark/benchmark.h>

#include <cstdint>
#include <ctime>
#include <memory>
#include <type_traits>
#include <vector>

#include "mqblk/device.hpp"

#ifndef SAFETY_VARIANT
#error "define SAFETY_VARIANT"
#endif

namespace {

// A driver that ends every request inline in queue_rq, as null irqmode=0 without a store.
struct InlineDriver {
  using Pdu = mqblk::NoPdu;
  mqblk::QueueRqResult<InlineDriver> queue_rq(mqblk::Hctx<InlineDriver>&,
                                              mqblk::Owned<InlineDriver> rq, bool) {
    std::move(rq).end(mqblk::Status::ok);
    return mqblk::QueueRqResult<InlineDriver>::accepted();
  }
};

using Dev = mqblk::Device<InlineDriver>;
using Queue = mqblk::DeviceQueue<InlineDriver>;

constexpr uint32_t kBs = 4096;
constexpr uint64_t kBlocks = 1 << 16;  // 256 MiB of capacity

std::unique_ptr<Dev> make_dev() {
  mqblk::TagSetConfig cfg;
  cfg.nr_hw_queues = 1;
  cfg.queue_depth = 128;
  mqblk::DiskLimits lim;
  lim.capacity_bytes = kBlocks * kBs;
  lim.logical_block_size = 512;
  return std::make_unique<Dev>(cfg, lim, "safety_cost " SAFETY_VARIANT);
}

// One submission context driven as the bench does: qd in flight, reap what completed,
// resubmit each. Q is the typed DeviceQueue (calls devirtualized and inlined: the
// ownership code is most visible) or the IoQueue interface (one virtual call per submit
// and per reap, as `mqblk bench`, NBD and ublk use it).
template <class Q>
struct Loop {
  Q& q;
  unsigned qd;
  std::vector<mqblk::IoCompletion> cqes;
  std::unique_ptr<std::byte[]> buf;
  uint64_t next = 0;

  Loop(Q& q_, unsigned qd_) : q(q_), qd(qd_), cqes(qd_), buf(new std::byte[size_t{kBs} * qd_]) {}

  void submit(unsigned slot) {
    uint64_t block = (next++ * 0x9e3779b97f4a7c15ull) >> 48;  // spread, < kBlocks
    mqblk::IoDesc io{mqblk::Op::read, 0, block * kBs, kBs, buf.get() + size_t{slot} * kBs};
    if (q.submit(io, slot) != mqblk::Status::ok) __builtin_trap();
  }
  void prime() {
    for (unsigned i = 0; i < qd; ++i) submit(i);
  }
  // Reaps and resubmits; returns how many I/Os completed.
  unsigned step() {
    unsigned n = q.reap(cqes.data(), qd);
    for (unsigned i = 0; i < n; ++i) submit(static_cast<unsigned>(cqes[i].user_data));
    return n;
  }
  void drain() {
    while (q.outstanding()) q.reap(cqes.data(), qd);
  }
};

template <class Q>
Q& as(mqblk::IoQueue& q) {
  if constexpr (std::is_same_v<Q, Queue>)
    return static_cast<Queue&>(q);
  else
    return q;
}

template <class Q>
void bm(benchmark::State& state) {
  auto dev = make_dev();
  auto iq = dev->open_queue(0);
  Loop<Q> loop(as<Q>(*iq), static_cast<unsigned>(state.range(0)));
  loop.prime();
  uint64_t ios = 0;
  for (auto _ : state) {
    // One iteration = qd I/Os reaped and resubmitted (all complete inline).
    unsigned done = 0;
    while (done < loop.qd) done += loop.step();
    ios += done;
  }
  loop.drain();
  state.SetItemsProcessed(static_cast<int64_t>(ios));
  state.counters["ns_per_io"] = benchmark::Counter(
      static_cast<double>(ios), benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
}

BENCHMARK_TEMPLATE(bm, Queue)->Name("BM_" SAFETY_VARIANT "_typed")->Arg(1)->Arg(32)->Arg(128);
BENCHMARK_TEMPLATE(bm, mqblk::IoQueue)
    ->Name("BM_" SAFETY_VARIANT "_iface")
    ->Arg(1)
    ->Arg(32)
    ->Arg(128);

}  // namespace

// A fixed number of I/Os without Google Benchmark: for instruction counts under callgrind
// and for the paired timing (main.cpp --paired). Typed queue, depth qd; returns the
// thread CPU time of the loop in ns.
#define SAFETY_CONCAT2(a, b) a##b
#define SAFETY_CONCAT(a, b) SAFETY_CONCAT2(a, b)
double SAFETY_CONCAT(safety_fixed_, SAFETY_VARIANT_ID)(unsigned qd, uint64_t ios) {
  auto dev = make_dev();
  auto iq = dev->open_queue(0);
  Loop<Queue> loop(as<Queue>(*iq), qd);
  loop.prime();
  timespec t0, t1;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t0);
  uint64_t done = 0;
  while (done < ios) done += loop.step();
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t1);
  loop.drain();
  return static_cast<double>(t1.tv_sec - t0.tv_sec) * 1e9 + static_cast<double>(t1.tv_nsec - t0.tv_nsec);
}
