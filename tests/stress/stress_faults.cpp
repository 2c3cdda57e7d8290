// The test device's features racing I/O: two submitter threads (own IoQueues, two hardware
// queues) drive a device whose driver fills each read's buffer and completes it from a
// timer (as null's irqmode=2), while a chaos thread keeps arming and disarming every engine
// feature (bad blocks, timeout and requeue faults, error injection, mbps) and cutting the
// power. The device is instantiated here (not in the library) so that the negative
// control's broken engine is the one under test. Each I/O has a malloc'ed buffer freed the
// moment its completion arrives, so a late write is a use after free under ASan; TSan sees
// the threads.
// Checks: every submitted I/O completes exactly once (end_twice / lost), nothing stays in
// flight or taken after the run (leak), and the run really raced: power cuts ended requests
// in flight, timeout faults ended held requests through the timeout path, requests were
// requeued and failed by bad blocks and injected errors (else exit 2: it proved nothing).
//
// With --cache the device also has a 64 KiB write cache (cache_size, mqblk/write_cache.hpp)
// over 16 MiB of random 4 KiB writes: writes end in the cache, evictions and FLUSHes write
// back on the engine's own requests (which the features and power cuts hit too), reads are
// overlaid at completion; the run must also have evicted and flushed through the driver.
//
// With --flush-storm: the cache, queue depth 2 and every other request a FLUSH, no chaos:
// FLUSHes hold every tag while they wait for write-backs, which must take the engine's
// reserved tag (mqblk/tag_set.hpp); the run must end with every FLUSH done.
//
// Negative controls: built with MQBLK_BROKEN_OWNERSHIP=6 (HOLD_FORGOTTEN: a timeout fault
// parks a request and forgets that the engine holds it, so nobody ever ends it), the run
// must report lost I/O within MQBLK_STRESS_LIMIT_S (tests/stress/CMakeLists.txt); built
// with 7 (NO_RESERVED_TAG), --flush-storm must wedge and report lost I/O.
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "mqblk/detail/clock.hpp"
#include "mqblk/device.hpp"
#include "mqblk/faults.hpp"

using namespace mqblk;

namespace {

constexpr unsigned kThreads = 2;
unsigned g_depth = 32, g_flush_every = 32;  // --flush-storm: 2 and 2
std::atomic<uint64_t> g_twice{0}, g_unknown{0};

// Reads get their data written in queue_rq (the owner's last touch), then a timer ends
// them; writes and flushes only the timer.
struct StressDriver {
  using Pdu = NoPdu;
  QueueRqResult<StressDriver> queue_rq(Hctx<StressDriver>& h, Owned<StressDriver> rq, bool) {
    if (rq.op() == Op::read) std::memset(rq.data(), 0x5a, rq.bytes());
    h.complete_after(std::move(rq), Status::ok, 20'000);
    return QueueRqResult<StressDriver>::accepted();
  }
};

// The chaos thread's one change: fault items, or a power cut.
void apply(Device<StressDriver>& dev, const std::vector<std::string>& items) {
  FaultSettings s = dev.faults()->settings();
  apply_fault_items(s, items, true);
  dev.faults()->configure(s);
}

struct Stats {
  uint64_t ok = 0, timeout = 0, ioerr = 0, medium = 0, other = 0;
};

void submitter(Device<StressDriver>& dev, unsigned t, uint64_t ios,
               std::vector<std::atomic<uint8_t>>& done, Stats& st) {
  auto q = dev.open_queue(static_cast<int>(t));
  std::minstd_rand rng(t + 1);
  std::vector<std::byte*> bufs(ios, nullptr);
  uint64_t next = 0, reaped = 0;
  IoCompletion c[64];
  while (reaped < ios) {
    while (next < ios && q->outstanding() < g_depth) {
      const uint64_t id = t * ios + next;
      auto* b = static_cast<std::byte*>(std::malloc(4096));
      std::memset(b, static_cast<int>(id & 0xff), 4096);
      const bool write = rng() % 2;
      IoDesc io{write ? Op::write : Op::read, rng() % 16 == 0 ? uint32_t{kReqFua} : 0u,
                (rng() % 4096) * 4096, 4096, b};
      if (rng() % g_flush_every == 0) io = IoDesc{Op::flush, 0, 0, 0, nullptr};
      Status s = q->submit(io, id);
      if (s != Status::ok) {  // refused before it started: never completes
        std::free(b);
        done[id].store(2);
        ++next;
        ++reaped;
        ++st.other;
        continue;
      }
      bufs[next] = b;
      ++next;
    }
    unsigned n = q->wait(c, 64, 1, 100'000'000);
    for (unsigned i = 0; i < n; ++i) {
      const uint64_t id = c[i].user_data;
      if (id / ios != t) {
        g_unknown.fetch_add(1);
        continue;
      }
      if (done[id].exchange(1) != 0) {
        g_twice.fetch_add(1);
        std::fprintf(stderr, "stress_faults: I/O %llu completed twice\n", (unsigned long long)id);
        continue;
      }
      std::free(bufs[id % ios]);  // a late write now is a use after free
      bufs[id % ios] = nullptr;
      ++reaped;
      switch (c[i].status) {
        case Status::ok: ++st.ok; break;
        case Status::timeout: ++st.timeout; break;
        case Status::ioerr: ++st.ioerr; break;
        case Status::medium: ++st.medium; break;
        default: ++st.other; break;
      }
    }
  }
}

}  // namespace

int main(int argc, char** argv) {
  const bool storm = argc > 1 && std::strcmp(argv[1], "--flush-storm") == 0;
  const bool cache = storm || (argc > 1 && std::strcmp(argv[1], "--cache") == 0);
  if (storm) g_depth = g_flush_every = 2;
  uint64_t ios = storm ? 20000 : 60000;
  if (const char* e = std::getenv("MQBLK_STRESS_IOS"))  // NOLINT(concurrency-mt-unsafe)
    ios = std::strtoull(e, nullptr, 10);
  int limit_s = 240;
  if (const char* e = std::getenv("MQBLK_STRESS_LIMIT_S"))  // NOLINT(concurrency-mt-unsafe)
    limit_s = std::atoi(e);
  TagSetConfig ts;
  ts.nr_hw_queues = kThreads;
  ts.queue_depth = g_depth;
  // 20 ms: the timeout faults end soon. The flush storm arms none: its FLUSHes may wait
  // for write-backs longer than that, and a wedge shows as lost I/O anyway.
  ts.timeout_ns = storm ? 10'000'000'000 : 20'000'000;
  DiskLimits l;
  l.capacity_bytes = 16 << 20;
  auto dev = std::make_unique<Device<StressDriver>>(ts, l, "stress");
  if (cache) {
    FaultSettings s = dev->faults()->settings();
    s.cache_size = 64 << 10;
    dev->faults()->configure(s);
  }
  std::vector<std::atomic<uint8_t>> done(kThreads * ios);
  std::atomic<bool> stop{false};
  uint64_t cuts = 0, configs = 0;
  std::thread chaos([&] {
    std::minstd_rand rng(99);
    // The first changes: a timeout fault armed for 40 ms (twice the request timeout),
    // then requeues, a power cut and bad blocks, so that even a run over in a fraction of
    // a second (a release build) races every path the checks below ask for.
    constexpr unsigned kFirst[] = {3, 4, 0, 1};
    for (unsigned n = 0; !storm && !stop.load(); ++n) {
      const unsigned k = n < 4 ? kFirst[n] : rng() % 8;
      if (n == 1) std::this_thread::sleep_for(std::chrono::milliseconds(40));
      try {
        if (k == 0) {
          dev->set_power(false);
          std::this_thread::sleep_for(std::chrono::microseconds(200 + rng() % 800));
          dev->set_power(true);
          ++cuts;
        } else if (k == 1) {
          const uint64_t s = (rng() % 4096) * 8;
          apply(*dev, {"badblocks=+" + std::to_string(s) + "-" + std::to_string(s + 63)});
        } else if (k == 2) {
          apply(*dev, {"badblocks=-0-40000", "badblocks_once=" + std::to_string(rng() % 2)});
        } else if (k == 3) {
          apply(*dev, {"timeout=1,20,0," + std::to_string(1 + rng() % 5)});
        } else if (k == 4) {
          apply(*dev, {"requeue=1,20,0,-1"});
        } else if (k == 5) {
          apply(*dev, {"error_rate=0.05", "error_seed=" + std::to_string(rng())});
        } else if (k == 6) {
          apply(*dev,
                {"mbps=" + std::to_string(rng() % 2 ? 0 : 400), "requeue=1,0,0,0", "error_rate=0"});
        } else {
          apply(*dev, {"timeout=1,0,0,0"});
        }
        ++configs;
      } catch (const std::exception& e) {
        std::fprintf(stderr, "stress_faults: a fault setting failed: %s\n", e.what());
        std::_Exit(1);
      }
      std::this_thread::sleep_for(std::chrono::microseconds(500 + rng() % 2000));
    }
  });
  // A wedge (a held request nobody ends) must not pass silently.
  std::thread([limit_s] {
    std::this_thread::sleep_for(std::chrono::seconds(limit_s));
    std::fprintf(stderr, "stress_faults: not done within %d s: hung (lost I/O)\n", limit_s);
    std::printf("stress_faults: lost\n");
    std::fflush(stdout);
    std::_Exit(1);
  }).detach();

  std::vector<Stats> st(kThreads);
  std::vector<std::thread> subs;
  for (unsigned t = 0; t < kThreads; ++t)
    subs.emplace_back([&, t] { submitter(*dev, t, ios, done, st[t]); });
  for (auto& s : subs) s.join();
  stop.store(true);
  chaos.join();

  Stats all;
  for (const auto& s : st) {
    all.ok += s.ok;
    all.timeout += s.timeout;
    all.ioerr += s.ioerr;
    all.medium += s.medium;
    all.other += s.other;
  }
  uint64_t lost = 0;
  for (auto& d : done) lost += d.load() == 0;
  uint64_t started = 0, ended = 0, in_flight = 0, timeouts = 0, requeued = 0;
  // A completion reaches its submitter before the ending thread puts the tag back (the
  // slot is free, its tag not yet): the last tags may still be on their way for a moment.
  for (int tries = 0; tries < 200; ++tries) {
    started = ended = in_flight = timeouts = requeued = 0;
    for (const auto& q : dev->stats()) {
      started += q.started;
      ended += q.ended;
      in_flight += q.in_flight;
      timeouts += q.timeouts;
      requeued += q.requeued;
    }
    if (in_flight == 0) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  std::printf(
      "stress_faults: %llu I/Os: ok %llu, timeout %llu, ioerr %llu, medium %llu, other %llu; "
      "%llu power cuts, %llu configurations, %llu engine timeouts, %llu requeued; twice %llu, "
      "lost %llu, unknown %llu, started %llu ended %llu in flight %llu\n",
      (unsigned long long)(kThreads * ios), (unsigned long long)all.ok,
      (unsigned long long)all.timeout, (unsigned long long)all.ioerr,
      (unsigned long long)all.medium, (unsigned long long)all.other, (unsigned long long)cuts,
      (unsigned long long)configs, (unsigned long long)timeouts, (unsigned long long)requeued,
      (unsigned long long)g_twice.load(), (unsigned long long)lost,
      (unsigned long long)g_unknown.load(), (unsigned long long)started, (unsigned long long)ended,
      (unsigned long long)in_flight);
  if (g_twice.load() || lost || g_unknown.load()) {
    std::printf("stress_faults: %s\n", g_twice.load() ? "end_twice" : "lost");
    return 1;
  }
  if (started != ended || in_flight != 0) {
    std::printf("stress_faults: leak\n");
    return 1;
  }
  WriteCache* wc = dev->faults()->cache();
  const uint64_t evicted = wc ? wc->evicted_pages() : 0;
  if (cache) std::printf("stress_faults: cache: %llu pages evicted\n", (unsigned long long)evicted);
  dev->shutdown();
  if (cache && !storm && evicted == 0) {
    std::printf("stress_faults: the cache never evicted: the test proved nothing\n");
    return 2;
  }
  if (storm) {  // no chaos: every request must have ended ok
    const bool clean = all.ok == kThreads * ios;
    std::printf("stress_faults: flush storm: %llu of %llu ok%s\n", (unsigned long long)all.ok,
                (unsigned long long)(kThreads * ios), clean ? "" : ": FAILED");
    return clean ? 0 : 1;
  }
  if (cuts == 0 || all.timeout == 0 || timeouts == 0 || requeued == 0 || all.ioerr == 0) {
    std::printf("stress_faults: the races did not happen: the test proved nothing\n");
    return 2;
  }
  std::printf("stress_faults: ok\n");
  return 0;
}
