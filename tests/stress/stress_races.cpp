// The seed's races, at volume: completion timers, worker-thread completions, timeouts,
// cancellation through tag lookups with stale and random tags, and teardown, all at once
// over several threads; with --shared, on two devices sharing one tag set, the first torn
// down while the second works. Checks:
//   1. every submitted I/O completes exactly once (a second completion is a failure);
//   2. no slot is reused while referenced: a holder of a Ref sees the slot's generation
//      unchanged for as long as it holds it, and queue_rq never starts a request on a
//      slot that a Ref holder has registered as held;
//   3. no tag is leaked: after teardown every queue reports in_flight 0, started == ended.
// Built twice: normally (must pass) and with MQBLK_BROKEN_OWNERSHIP (the negative
// control: must fail, proving the checks can catch a broken ownership rule).
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <mutex>
#include <random>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "mqblk/device.hpp"

using namespace mqblk;

namespace {

#if defined(__SANITIZE_THREAD__) || defined(__SANITIZE_ADDRESS__)
constexpr uint64_t kDefaultIos = 300'000;
#else
constexpr uint64_t kDefaultIos = 3'000'000;
#endif
constexpr unsigned kQueues = 2, kDepth = 64, kSubmitters = 3;
constexpr int64_t kTimeoutNs = 1'000'000;  // 1 ms: slow completions race the timeout scan

std::atomic<uint64_t> g_violations{0};
void violation(const char* what, uint64_t a = 0, uint64_t b = 0) {
  if (g_violations.fetch_add(1) < 10)
    std::fprintf(stderr, "VIOLATION: %s (%llu, %llu)\n", what, (unsigned long long)a,
                 (unsigned long long)b);
}

struct RaceDriver {
  struct Pdu {
    // The generation a Ref holder (the lookup thread) holds, times two, plus one; 0 when
    // none. A new request starting while an older generation is held is a reuse.
    std::atomic<uint64_t> held{0};
    // The id of the latest request queue_rq saw on this slot (raw), for the lookup thread.
    std::atomic<uint64_t> last_id{0};
  };
  struct Deferred {
    int64_t due;
    Owned<RaceDriver> rq;
  };
  std::mutex m;
  std::deque<Deferred> worker_queue;
  std::atomic<bool> stop{false};

  QueueRqResult<RaceDriver> queue_rq(Hctx<RaceDriver>& h, Owned<RaceDriver> rq, bool) {
    rq.pdu().last_id.store(rq.id().raw(), std::memory_order_relaxed);
    uint64_t held = rq.pdu().held.load(std::memory_order_acquire);
    if (held && (held >> 1) != rq.generation())
      violation("slot restarted while a reference holder holds it", rq.tag(), held >> 1);
    thread_local std::minstd_rand rng{std::random_device{}()};
    unsigned pick = rng() % 100;
    int64_t delay = static_cast<int64_t>(rng() % 2'000'000);  // up to 2x the timeout
    if (pick < 30) {
      std::move(rq).end(Status::ok);
    } else if (pick < 50) {
      std::move(rq).complete(Status::ok);
    } else if (pick < 70) {
      h.complete_after(std::move(rq), Status::ok, delay);
    } else {
      std::lock_guard lk(m);
      worker_queue.push_back(Deferred{detail::now_ns() + delay, std::move(rq)});
    }
    return QueueRqResult<RaceDriver>::accepted();
  }

  // A driver thread that ends what it owns when due; half the time through a shared Ref.
  void worker() {
    std::minstd_rand rng{42};
    while (!stop.load()) {
      Deferred d;
      {
        std::lock_guard lk(m);
        if (!worker_queue.empty() && worker_queue.front().due <= detail::now_ns()) {
          d = std::move(worker_queue.front());
          worker_queue.pop_front();
        }
      }
      if (!d.rq) {
        std::this_thread::sleep_for(std::chrono::microseconds(50));
        continue;
      }
      if (rng() & 1) {
        (void)std::move(d.rq).end(Status::ok);
      } else {
        Ref<RaceDriver> r = std::move(d.rq).share();
        (void)r.try_end(Status::ok);
      }
    }
  }
  void exit_hctx(Hctx<RaceDriver>&) {}
};

struct Submitter {
  std::unique_ptr<IoQueue> q;
  std::vector<uint8_t> done;  // per I/O id: completions seen
  uint64_t submitted = 0;
  std::atomic<uint64_t> completed{0};  // read by main to decide when to tear down
  std::atomic<bool>* stop_submitting;  // its device's: set once teardown began
  uint64_t target;

  void run() {
    std::byte buf[512];
    IoCompletion c[kDepth];
    done.assign(target, 0);
    while (true) {
      while (submitted < target && !stop_submitting->load(std::memory_order_relaxed) &&
             q->outstanding() < kDepth) {
        Status s = q->submit(IoDesc{Op::read, 0, (submitted % 1024) * 512, 512, buf}, submitted);
        if (s == Status::cancelled) break;  // teardown began
        if (s == Status::busy) break;       // a shared set's fair share is used up: reap
        if (s != Status::ok) violation("submit refused", static_cast<uint64_t>(s));
        ++submitted;
      }
      if (q->outstanding() == 0 && (submitted == target || stop_submitting->load())) return;
      unsigned n = q->wait(c, kDepth, 1, 100'000'000);
      for (unsigned i = 0; i < n; ++i) {
        uint64_t id = c[i].user_data;
        if (id >= submitted)
          violation("completion for an I/O never submitted", id);
        else if (done[id]++)
          violation("I/O completed twice", id, done[id]);
        // Only this device's teardown cancels (the lookup thread ends with ioerr): a
        // cancel before it is another device's teardown reaching into this one.
        if (c[i].status == Status::cancelled && !stop_submitting->load())
          violation("cancelled while its device was not being torn down", id);
        completed.fetch_add(1, std::memory_order_relaxed);
      }
    }
  }
};

// One run: ndev devices (two share one tag set when shared), kSubmitters submitting
// threads over them, one lookup thread, teardown while the last I/Os are in flight (with
// two devices: the first one's teardown while the second keeps working). Returns the
// (timeouts, cancels won) seen, to tell whether the races happened.
std::pair<uint64_t, uint64_t> run(uint64_t ios, bool shared) {
  TagSetConfig ts;
  ts.nr_hw_queues = kQueues;
  ts.queue_depth = kDepth;
  ts.timeout_ns = kTimeoutNs;
  DiskLimits l;
  l.capacity_bytes = 1 << 20;
  std::vector<std::unique_ptr<Device<RaceDriver>>> devs;
  if (shared) {
    auto set = TagSet<RaceDriver>::create(ts);
    devs.push_back(std::make_unique<Device<RaceDriver>>(set, l, "race a"));
    devs.push_back(std::make_unique<Device<RaceDriver>>(set, l, "race b"));
  } else {
    devs.push_back(std::make_unique<Device<RaceDriver>>(ts, l, "race"));
  }
  const unsigned ndev = static_cast<unsigned>(devs.size());

  std::vector<std::thread> workers;
  for (auto& d : devs) workers.emplace_back([&d] { d->driver().worker(); });
  std::atomic<bool> stop_lookups{false};
  std::vector<std::atomic<bool>> stop_submitting(ndev);
  std::atomic<uint64_t> lookups_hit{0}, cancels_won{0};
  // Lookups of random, stale and out-of-range tags, on either device; some cancel what
  // they find. A lookup must never yield another device's request.
  std::thread looker([&] {
    std::minstd_rand rng{7};
    while (!stop_lookups.load()) {
      Device<RaceDriver>& dev = *devs[rng() % ndev];
      unsigned q = rng() % (kQueues + 1);   // queue kQueues does not exist
      uint32_t tag = rng() % (kDepth + 8);  // some out of range
      // The latest id on that slot (current or already ended), or a random generation.
      uint64_t gen = tag < kDepth && q < kQueues
                         ? RequestId::from_raw(dev.hctx(q).pdu(tag).last_id.load()).generation()
                         : 1;
      if ((rng() & 3) == 0) gen = rng();
      Ref<RaceDriver> r = dev.lookup(RequestId::make(q, tag, gen));
      if (!r) continue;
      ++lookups_hit;
      if (&r.hctx() != &dev.hctx(q)) violation("a lookup yielded another device's request", tag);
      if (r.generation() != gen) violation("a lookup yielded another generation than asked", tag);
      r.pdu().held.store((gen << 1) | 1, std::memory_order_release);
      if (rng() % 8 == 0 && r.try_end(Status::ioerr) == EndResult::ended) ++cancels_won;
      for (int i = 0; i < 50; ++i) std::atomic_signal_fence(std::memory_order_seq_cst);
      if (r.generation() != gen) violation("slot reused while referenced", tag, gen);
      r.pdu().held.store(0, std::memory_order_release);
    }
  });

  std::vector<Submitter> subs(kSubmitters);
  std::vector<std::thread> threads;
  for (unsigned i = 0; i < kSubmitters; ++i) {
    subs[i].q = devs[i % ndev]->open_queue(static_cast<int>((i / ndev) % kQueues));
    subs[i].stop_submitting = &stop_submitting[i % ndev];
    subs[i].target = ios / kSubmitters;
    threads.emplace_back([&, i] { subs[i].run(); });
  }
  auto completed_of = [&](unsigned dev) {
    uint64_t n = 0;
    for (unsigned i = dev; i < kSubmitters; i += ndev) n += subs[i].completed.load();
    return n;
  };
  // Tear down while the last I/Os are in flight: wait for 90% of the work first.
  for (;;) {
    uint64_t n = 0;
    for (unsigned d = 0; d < ndev; ++d) n += completed_of(d);
    if (n >= ios * 9 / 10) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  stop_lookups = true;
  looker.join();
  for (unsigned d = 0; d < ndev; ++d) {
    if (d > 0) {
      // The other device keeps going after the first one's teardown: more I/Os end.
      uint64_t before = completed_of(d);
      for (int i = 0; i < 400 && completed_of(d) == before; ++i)
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
      if (completed_of(d) == before && completed_of(d) < ios / kSubmitters)
        violation("a device stalled after another device on its tag set was torn down");
    }
    stop_submitting[d] = true;
    devs[d]->shutdown();
  }
  for (auto& t : threads) t.join();
  for (unsigned d = 0; d < ndev; ++d) {
    devs[d]->driver().stop = true;
    workers[d].join();
  }

  uint64_t submitted = 0, completed = 0, missing = 0;
  for (auto& s : subs) {
    submitted += s.submitted;
    completed += s.completed;
    for (uint64_t id = 0; id < s.submitted; ++id) missing += s.done[id] == 0;
  }
  if (missing) violation("I/Os never completed", missing);
  uint64_t timeouts = 0;
  for (auto& d : devs) {
    for (auto& st : d->stats()) {
      if (st.in_flight) violation("tags leaked after teardown", st.in_flight);
      if (st.started != st.ended) violation("started != ended", st.started, st.ended);
      timeouts += st.timeouts;
    }
  }
  std::printf(
      "stress (%s): %llu submitted, %llu completed, %llu timeouts, %llu lookups hit, "
      "%llu cancels won, %llu violations\n",
      shared ? "two devices, one shared tag set" : "one device", (unsigned long long)submitted,
      (unsigned long long)completed, (unsigned long long)timeouts,
      (unsigned long long)lookups_hit.load(), (unsigned long long)cancels_won.load(),
      (unsigned long long)g_violations.load());
  return {timeouts, cancels_won.load()};
}

}  // namespace

// Usage: stress_races [--shared]   (environment: MQBLK_STRESS_IOS, MQBLK_STRESS_LIMIT_S)
int main(int argc, char** argv) {
  uint64_t ios = kDefaultIos;
  if (const char* e = std::getenv("MQBLK_STRESS_IOS")) ios = std::strtoull(e, nullptr, 10);
  bool shared = argc > 1 && std::string_view(argv[1]) == "--shared";

  // A broken engine may also wedge (a tag freed twice, a request never ended): once a
  // violation is seen, or when the run takes far too long, report and stop.
  std::thread([] {
    int64_t start = detail::now_ns();
    int64_t limit = 240'000'000'000;
    if (const char* e = std::getenv("MQBLK_STRESS_LIMIT_S")) limit = std::atoll(e) * 1'000'000'000;
    for (;;) {
      std::this_thread::sleep_for(std::chrono::milliseconds(500));
      if (g_violations.load()) {
        std::this_thread::sleep_for(std::chrono::seconds(2));
        std::fprintf(stderr, "stress: %llu violations; stopping\n",
                     (unsigned long long)g_violations.load());
        std::_Exit(1);
      }
      if (detail::now_ns() - start > limit) {
        std::fprintf(stderr, "stress: no progress within the time limit: hung\n");
        std::_Exit(3);
      }
    }
  }).detach();

  auto [timeouts, cancels_won] = run(ios, shared);
  if (timeouts == 0 || cancels_won == 0) {
    std::printf(
        "stress: the races did not happen (no timeouts or cancels): the test proved nothing\n");
    return 2;
  }
  return g_violations.load() ? 1 : 0;
}
