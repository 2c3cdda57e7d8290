// The seed's races, at volume: completion timers, worker-thread completions, requests the
// driver parks as ids and claims back, timeouts (and timeout handlers resetting the timer),
// cancellation through lookups of current, stale, random, out-of-range and (with
// --shared) other devices' ids, and teardown, all at once over several threads; with
// --shared, on two devices sharing one tag set, the first torn down while the second works.
//
// Each I/O has a buffer of its own (from a pool its submitter recycles; in ASan builds a
// malloc per I/O, freed at completion, so that ASan sees any late write). The submitter
// writes the I/O's id at its start before submitting, and a poison pattern over it at
// completion. The driver's owners (queue_rq, the softirq list's complete(), its worker
// thread's deferred requests, the parked requests it claims back) first check that the
// buffer still carries their I/O's id, then write a read's data, many of them late: after
// the 1 ms timeout, so after a timeout or cancel ended the request. Before each let-go
// (end, share, complete_after) the owner also checks that a request someone else ended is
// held for it: not in flight any more, and counted in its queue's QueueStats::hung.
// Checks, each a violation of one category:
//   end_twice       an I/O completed twice;
//   early_delivery  a completion delivered while the driver owned the request (the owner
//                   found poison, another I/O's id or a freed buffer, or its ended request
//                   not held for it; or a read completed before its owner wrote the data);
//   generation      a lookup yielded another generation than its id names;
//   reuse           a slot reused while referenced (a Ref holder saw its generation
//                   change, or queue_rq started a request on a slot a Ref holder holds);
//   wrong_queue     a lookup or a claim yielded another device's request, or a device's
//                   requests were cancelled by the other device's teardown;
//   claim           a parked request not claimed back exactly once;
//   lost / leak     an I/O never completed / a tag still taken after teardown, started !=
//                   ended, or the driver still holding requests after teardown;
//   other           anything else (a refused submit, a completion never submitted).
// Violations are reported as they happen; the run stops 2 s after the first. The counts
// are printed as `violations: end_twice=N early_delivery=N ...` at the end (and on an early
// stop or an abort). A run where the races did not happen (no timeouts, cancels, late
// writes after an end, or parked requests claimed back) proved nothing: exit 2.
//
// Negative controls (tests/stress/CMakeLists.txt): the same program built with one
// ownership rule compiled out (MQBLK_BROKEN_OWNERSHIP, see slot_word.hpp) and run with
// --expect=CATEGORY: it exits 0 as soon as a violation of that category is counted, and 1
// if the run ends (or stops on other violations) without one. An abort (a debug assertion
// of the broken build) is not a pass. --expect=early_delivery also turns on the guarded
// mode (see g_guarded), so that the early delivery is seen before the broken engine's
// own checks abort.
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "mqblk/device.hpp"

#if defined(__SANITIZE_ADDRESS__)
#define STRESS_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define STRESS_ASAN 1
#endif
#endif
#ifndef STRESS_ASAN
#define STRESS_ASAN 0
#endif
#if defined(__SANITIZE_THREAD__)
#define STRESS_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define STRESS_TSAN 1
#endif
#endif
#ifndef STRESS_TSAN
#define STRESS_TSAN 0
#endif
#if STRESS_ASAN
#include <sanitizer/asan_interface.h>
#endif

using namespace mqblk;

namespace {

#if STRESS_TSAN
constexpr uint64_t kDefaultIos = 500'000;
#elif STRESS_ASAN
constexpr uint64_t kDefaultIos = 1'000'000;
#else
constexpr uint64_t kDefaultIos = 2'000'000;
#endif
constexpr unsigned kQueues = 2, kDepth = 64, kSubmitters = 3;
constexpr int64_t kTimeoutNs = 1'000'000;  // 1 ms: slow completions race the timeout scan
constexpr uint32_t kIoBytes = 512;

// ---- violations, by category ----

enum Cat : unsigned {
  kEndTwice,
  kEarlyDelivery,
  kGeneration,
  kReuse,
  kWrongQueue,
  kClaim,
  kLost,
  kLeak,
  kOther,
  kNumCats
};
constexpr const char* kCatName[kNumCats] = {"end_twice", "early_delivery", "generation",
                                            "reuse",     "wrong_queue",    "claim",
                                            "lost",      "leak",           "other"};

std::atomic<uint64_t> g_count[kNumCats];
std::atomic<uint64_t> g_violations{0};
int g_expect = -1;  // --expect: the category whose first violation ends the run with 0

// Formats the per-category counts without stdio, so that the abort handler can use it.
void put_str(char*& p, char* end, const char* s) {
  while (*s && p < end) *p++ = *s++;
}
void put_num(char*& p, char* end, uint64_t v) {
  char tmp[24];
  int n = 0;
  do {
    tmp[n++] = static_cast<char>('0' + v % 10);
    v /= 10;
  } while (v);
  while (n && p < end) *p++ = tmp[--n];
}
size_t format_counts(char* buf, size_t cap) {
  char* p = buf;
  char* end = buf + cap - 1;
  put_str(p, end, "violations:");
  for (unsigned c = 0; c < kNumCats; ++c) {
    put_str(p, end, " ");
    put_str(p, end, kCatName[c]);
    put_str(p, end, "=");
    put_num(p, end, g_count[c].load(std::memory_order_relaxed));
  }
  put_str(p, end, "\n");
  return static_cast<size_t>(p - buf);
}
void print_counts() {
  char b[512];
  size_t n = format_counts(b, sizeof b);
  std::fwrite(b, 1, n, stdout);
  std::fflush(stdout);
}

// Counts a violation and reports it at once (the first of each category, and the first
// ten overall). The expected one of a negative control ends the run here, before the
// broken engine can abort on one of its own debug assertions.
[[gnu::noinline]] void violation(Cat c, const char* what, uint64_t a = 0, uint64_t b = 0) {
  uint64_t n = g_count[c].fetch_add(1, std::memory_order_relaxed);
  uint64_t total = g_violations.fetch_add(1, std::memory_order_relaxed);
  if (total < 10 || n == 0)
    std::fprintf(stderr, "VIOLATION [%s]: %s (%llu, %llu)\n", kCatName[c], what,
                 (unsigned long long)a, (unsigned long long)b);
  if (static_cast<int>(c) == g_expect) {
    std::fflush(stderr);
    print_counts();
    std::printf("stress: caught the expected violation (%s): %s\n", kCatName[c], what);
    std::fflush(stdout);
    std::_Exit(0);
  }
}

extern "C" void on_abort(int) {
  static const char m[] = "stress: aborted (not a caught violation); counts so far:\n";
  char b[512];
  size_t n = format_counts(b, sizeof b);
  if (write(2, m, sizeof m - 1) < 0 || write(2, b, n) < 0) {
  }
  signal(SIGABRT, SIG_DFL);
  raise(SIGABRT);
}

// ---- the I/O buffers ----

// The word at the start of an I/O's buffer while it is in flight: a mark, its submitter,
// its id. At completion the submitter overwrites the whole buffer with kPoisonByte.
constexpr uint64_t io_word(unsigned sub, uint64_t id) {
  return 0x1D00'0000'0000'0000ull | (uint64_t{sub} << 40) | id;
}
constexpr bool is_io_word(uint64_t w) { return (w >> 48) == 0x1D00; }
constexpr unsigned char kPoisonByte = 0xA5;
constexpr uint64_t kPoison = 0xA5A5'A5A5'A5A5'A5A5ull;
// What the driver writes into a read after the id word: never 0 (the submitter clears it
// before submitting) nor the poison.
constexpr unsigned char fill_byte(uint64_t word) {
  return static_cast<unsigned char>(0x50 | (word & 0x0F));
}
constexpr uint64_t fill_word(uint64_t word) { return fill_byte(word) * 0x0101'0101'0101'0101ull; }
// Every fourth I/O is a write (the driver only checks its buffer), the others reads.
constexpr Op op_of(uint64_t id) { return id % 4 == 3 ? Op::write : Op::read; }

// A submitter's buffers: recycled through a free list, or in ASan builds one malloc per I/O
// and a free at completion. Only the submitter's thread uses it.
class Buffers {
 public:
  std::byte* get() {
#if STRESS_ASAN
    return static_cast<std::byte*>(std::malloc(kIoBytes));
#else
    if (free_.empty()) {
      storage_.push_back(std::make_unique<std::byte[]>(kIoBytes));
      return storage_.back().get();
    }
    std::byte* b = free_.back();  // the most recently poisoned first: reused at once
    free_.pop_back();
    return b;
#endif
  }
  void put(std::byte* b) {
    std::memset(b, kPoisonByte, kIoBytes);
#if STRESS_ASAN
    std::free(b);
#else
    free_.push_back(b);
#endif
  }

 private:
  std::vector<std::unique_ptr<std::byte[]>> storage_;
  std::vector<std::byte*> free_;
};

// ---- the driver ----

// With --expect=early_delivery ("guarded"): that control's broken engine delivers a Ref's
// end at once, and then aborts on its own checks when the owner lets go (an end or share
// of a request already delivered). For the stress test to see the early delivery first,
// each check must not be separable from the end it checks: the lookup thread's cancel and
// its check, and each owner's check and its let-go, hold the slot's lock; and the driver's
// timeout handler spares the requests that it is completing itself (in queue_rq, on the
// softirq list, being let go), which no check could stand between.
bool g_guarded = false;

// What the driver is doing with a request, per slot: (generation << 2) | phase.
enum Phase : uint64_t { kReleased = 0, kInline = 1, kWorker = 2, kReleasing = 3 };
constexpr uint64_t phase_word(uint64_t gen, Phase ph) { return (gen << 2) | ph; }

struct RaceDriver {
  struct Pdu {
    // The generation a Ref holder (the lookup thread) holds, times two, plus one; 0 when
    // none. A new request starting while an older generation is held is a reuse.
    std::atomic<uint64_t> held{0};
    std::atomic<uint64_t> phase{0};
    std::atomic<bool> lock{false};  // guarded mode: see g_guarded
  };
  // The slot lock, taken only in guarded mode.
  class SlotLock {
   public:
    explicit SlotLock(Pdu& p) : p_(g_guarded ? &p : nullptr) {
      if (p_)
        while (p_->lock.exchange(true, std::memory_order_acquire)) std::this_thread::yield();
    }
    ~SlotLock() {
      if (p_) p_->lock.store(false, std::memory_order_release);
    }
    SlotLock(const SlotLock&) = delete;
    SlotLock& operator=(const SlotLock&) = delete;

   private:
    Pdu* p_;
  };

  // The latest id this device's queue_rq saw on each slot (raw), for the lookup thread.
  // Per device: with a shared tag set, the other device's ids are the cross lookups.
  std::atomic<uint64_t> last_id[kQueues][kDepth] = {};

  struct Deferred {
    bool late = false;    // due after the timeout: the owner writes late
    uint64_t expect = 0;  // the I/O's word, read from its buffer in queue_rq
    Owned<RaceDriver> rq;
  };
  struct Parked {
    bool late = false;
    uint64_t expect = 0;
    RequestId id;
    Hctx<RaceDriver>* h = nullptr;
  };
  std::mutex m;
  std::multimap<int64_t, Deferred> deferred;  // by due time
  std::multimap<int64_t, Parked> parked;
  std::atomic<bool> stop{false};
  Device<RaceDriver>* self = nullptr;  // set before any I/O
  Device<RaceDriver>* peer = nullptr;  // with --shared: the other device on the tag set

  std::atomic<uint64_t> late_writes{0};       // owners' writes after the timeout
  std::atomic<uint64_t> late_writes_lost{0};  // ... whose end then learnt it had lost
  std::atomic<uint64_t> parks{0}, claims{0}, held_checked{0};

  QueueRqResult<RaceDriver> queue_rq(Hctx<RaceDriver>& h, Owned<RaceDriver> rq, bool) {
    rq.pdu().phase.store(phase_word(rq.generation(), kInline), std::memory_order_release);
    last_id[h.index()][rq.tag()].store(rq.id().raw(), std::memory_order_relaxed);
    uint64_t held = rq.pdu().held.load(std::memory_order_acquire);
    if (held && (held >> 1) != rq.generation())
      violation(kReuse, "slot restarted while a reference holder holds it", rq.tag(), held >> 1);
    uint64_t expect = 0;
    std::memcpy(&expect, rq.data(), sizeof expect);
    if (!is_io_word(expect)) violation(kOther, "queue_rq found no I/O id in the buffer", expect);
    thread_local std::minstd_rand rng{std::random_device{}()};
    unsigned pick = rng() % 100;
    if (pick < 25) {
      owner_write(rq, expect);
      Releasing g(*this, h, rq);
      (void)std::move(rq).end(Status::ok);
    } else if (pick < 38) {
      owner_write(rq, expect);
      std::move(rq).complete(Status::ok);  // the softirq list owns it; complete() below
    } else if (pick < 55) {
      owner_write(rq, expect);
      Releasing g(*this, h, rq);
      h.complete_after(std::move(rq), Status::ok, static_cast<int64_t>(rng() % 2'000'000));
    } else {
      int64_t delay = static_cast<int64_t>(rng() % 3'000'000);  // up to 3x the timeout
      int64_t due = detail::now_ns() + delay;
      bool late = delay > kTimeoutNs;
      rq.pdu().phase.store(phase_word(rq.generation(), kWorker), std::memory_order_release);
      if (pick < 78) {
        std::lock_guard lk(m);
        deferred.emplace(due, Deferred{late, expect, std::move(rq)});
      } else {
        RequestId id = std::move(rq).park();
        parks.fetch_add(1, std::memory_order_relaxed);
        std::lock_guard lk(m);
        parked.emplace(due, Parked{late, expect, id, &h});
      }
    }
    return QueueRqResult<RaceDriver>::accepted();
  }

  // Requests handed to the softirq list come back here, owned again.
  void complete(Hctx<RaceDriver>& h, Owned<RaceDriver> rq) {
    Releasing g(*this, h, rq);
    (void)std::move(rq).end(Status::ok);
  }

  // The driver's timeout handler: sometimes it resets the timer (in guarded mode, for
  // every request it is completing itself; see g_guarded).
  TimeoutAction timeout(Hctx<RaceDriver>&, const Borrowed<RaceDriver>& rq) {
    if (g_guarded) {
      uint64_t ph = rq.pdu().phase.load(std::memory_order_acquire);
      bool spare = (ph >> 2) != rq.generation() || (ph & 3) == kInline || (ph & 3) == kReleasing;
      return spare ? TimeoutAction::reset_timer : TimeoutAction::done;
    }
    thread_local std::minstd_rand rng{11};
    return rng() % 16 == 0 ? TimeoutAction::reset_timer : TimeoutAction::done;
  }

  // Each owner's let-go (end, complete_after, share) happens while one of these lives:
  // the owner's own check that a request someone else ended is held for it, not
  // delivered. Owned by the driver, the request cannot change state under it except
  // from in flight to ended-and-held (a timeout, a cancel): so a lookup of its id finding
  // nothing (not in flight any more) means ended, and its queue must then count a
  // request ended and held (QueueStats::hung).
  class Releasing {
   public:
    Releasing(RaceDriver& d, Hctx<RaceDriver>& h, const Owned<RaceDriver>& rq)
        : lock_(rq.pdu()), pdu_(rq.pdu()), gen_(rq.generation()) {
      pdu_.phase.store(phase_word(gen_, kReleasing), std::memory_order_release);
      if (!h.lookup(rq.id())) {
        d.held_checked.fetch_add(1, std::memory_order_relaxed);
        if (d.self->stats()[h.index()].hung == 0)
          violation(kEarlyDelivery,
                    "delivered while the driver owned the request: ended by a timeout or "
                    "cancel, and not held for its owner",
                    rq.tag(), gen_);
      }
    }
    ~Releasing() {  // only if the slot has not started another request meanwhile
      uint64_t expected = phase_word(gen_, kReleasing);
      pdu_.phase.compare_exchange_strong(expected, phase_word(gen_, kReleased),
                                         std::memory_order_release, std::memory_order_relaxed);
    }
    Releasing(const Releasing&) = delete;
    Releasing& operator=(const Releasing&) = delete;

   private:
    SlotLock lock_;
    Pdu& pdu_;
    uint64_t gen_;
  };

  // The owner's access to the data: first that the buffer still carries this I/O (a
  // completion delivered while the driver owns the request lets its submitter poison,
  // free or reuse it), then, for a read, the data. False (and nothing written) when the
  // buffer is not the I/O's any more.
  static bool owner_write(const Owned<RaceDriver>& rq, uint64_t expect) {
    std::byte* b = rq.data();
#if STRESS_ASAN
    if (__asan_region_is_poisoned(b, kIoBytes)) {
      violation(kEarlyDelivery,
                "delivered while the driver owned the request: the owner found its buffer freed",
                rq.tag(), expect & 0xFF'FFFF'FFFF);
      return false;
    }
#endif
    uint64_t w = 0;
    std::memcpy(&w, b, sizeof w);
    if (w != expect) {
      violation(kEarlyDelivery,
                w == kPoison ? "delivered while the driver owned the request: the owner found "
                               "its buffer poisoned"
                             : "delivered while the driver owned the request: the owner found "
                               "another I/O in its buffer",
                rq.tag(), expect & 0xFF'FFFF'FFFF);
      return false;
    }
    if (rq.op() == Op::read) std::memset(b + sizeof w, fill_byte(expect), kIoBytes - sizeof w);
    return true;
  }

  void finish_deferred(Deferred d, std::minstd_rand& rng);
  void finish_parked(const Parked& p);
  void worker();
  void exit_hctx(Hctx<RaceDriver>&) {}
};

// A deferred request, due: late ones write their data now (past the timeout) and end;
// early ones end directly or through a shared Ref.
void RaceDriver::finish_deferred(Deferred d, std::minstd_rand& rng) {
  bool wrote = owner_write(d.rq, d.expect);
  Hctx<RaceDriver>& h = d.rq.hctx();
  if (d.late) {
    if (wrote) late_writes.fetch_add(1, std::memory_order_relaxed);
    EndResult r;
    {
      Releasing g(*this, h, d.rq);
      r = std::move(d.rq).end(Status::ok);
    }
    if (r == EndResult::lost && wrote) late_writes_lost.fetch_add(1, std::memory_order_relaxed);
  } else if (rng() & 1) {
    Releasing g(*this, h, d.rq);
    (void)std::move(d.rq).end(Status::ok);
  } else {
    Ref<RaceDriver> r;
    {
      Releasing g(*this, h, d.rq);
      r = std::move(d.rq).share();
    }
    (void)r.try_end(Status::ok);
  }
}

// A parked request, due: the other device (if any) and a stale id must not claim it; its
// own id claims it exactly once; then the owner writes (late, for most) and ends.
void RaceDriver::finish_parked(const Parked& p) {
  Owned<RaceDriver> rq;
  if (peer && (rq = peer->claim(p.id)))
    violation(kWrongQueue, "another device claimed a parked request", p.id.tag(),
              p.id.generation());
  if (!rq && p.id.generation() > 1 &&
      (rq = p.h->claim(RequestId::make(p.id.hw_queue(), p.id.tag(), p.id.generation() - 1))))
    violation(kClaim, "a stale id claimed a parked request", p.id.tag(), p.id.generation());
  if (!rq) rq = p.h->claim(p.id);
  if (!rq) {
    violation(kClaim, "a parked request could not be claimed back", p.id.tag(), p.id.generation());
    return;
  }
  claims.fetch_add(1, std::memory_order_relaxed);
  if (!(rq.id() == p.id))
    violation(kClaim, "a claim yielded another request than its id names", p.id.tag(),
              rq.generation());
  if (Owned<RaceDriver> again = p.h->claim(p.id)) {
    violation(kClaim, "a parked request was claimed twice", p.id.tag(), p.id.generation());
    (void)std::move(again).park();
  }
  bool wrote = owner_write(rq, p.expect);
  if (p.late && wrote) late_writes.fetch_add(1, std::memory_order_relaxed);
  EndResult r;
  {
    Releasing g(*this, *p.h, rq);
    r = std::move(rq).end(Status::ok);
  }
  if (p.late && wrote && r == EndResult::lost)
    late_writes_lost.fetch_add(1, std::memory_order_relaxed);
}

// The driver's thread: finishes deferred and parked requests when due, sleeping between.
void RaceDriver::worker() {
  std::minstd_rand rng{42};
  while (!stop.load()) {
    Deferred d;
    Parked p;
    bool have_d = false, have_p = false;
    {
      std::lock_guard lk(m);
      const int64_t now = detail::now_ns();
      if (!deferred.empty() && deferred.begin()->first <= now) {
        d = std::move(deferred.begin()->second);
        deferred.erase(deferred.begin());
        have_d = true;
      }
      if (!parked.empty() && parked.begin()->first <= now) {
        p = parked.begin()->second;
        parked.erase(parked.begin());
        have_p = true;
      }
    }
    if (have_d) finish_deferred(std::move(d), rng);
    if (have_p) finish_parked(p);
    if (!have_d && !have_p) std::this_thread::sleep_for(std::chrono::microseconds(50));
  }
}

// ---- the submitters ----

struct Submitter {
  unsigned index = 0;
  std::unique_ptr<IoQueue> q;
  std::vector<uint8_t> done;       // per I/O id: completions seen
  std::vector<std::byte*> buf_of;  // per I/O id: its buffer until its completion
  Buffers bufs;
  uint64_t submitted = 0;
  std::atomic<uint64_t> completed{0};  // read by main to decide when to tear down
  std::atomic<bool>* stop_submitting;  // its device's: set once teardown began
  uint64_t target;

  void run() {
    IoCompletion c[kDepth];
    done.assign(target, 0);
    buf_of.assign(target, nullptr);
    while (true) {
      while (submitted < target && !stop_submitting->load(std::memory_order_relaxed) &&
             q->outstanding() < kDepth) {
        const uint64_t id = submitted;
        std::byte* b = bufs.get();
        const uint64_t w = io_word(index, id), zero = 0;
        std::memcpy(b, &w, sizeof w);
        std::memcpy(b + sizeof w, &zero, sizeof zero);
        buf_of[id] = b;
        Status s = q->submit(IoDesc{op_of(id), 0, (id % 1024) * kIoBytes, kIoBytes, b}, id);
        if (s != Status::ok) {
          buf_of[id] = nullptr;
          bufs.put(b);
          // cancelled: teardown began; busy: a shared set's fair share is used up: reap
          if (s != Status::cancelled && s != Status::busy)
            violation(kOther, "submit refused", static_cast<uint64_t>(s));
          break;
        }
        ++submitted;
      }
      if (q->outstanding() == 0 && (submitted == target || stop_submitting->load())) return;
      unsigned n = q->wait(c, kDepth, 1, 100'000'000);
      for (unsigned i = 0; i < n; ++i) complete(c[i]);
    }
  }

  void complete(const IoCompletion& c) {
    const uint64_t id = c.user_data;
    if (id >= submitted) {
      violation(kOther, "completion for an I/O never submitted", id);
      return;
    }
    if (done[id]++) {  // its buffer was given back at the first one: leave it
      violation(kEndTwice, "I/O completed twice", id, done[id]);
      return;
    }
    std::byte* b = buf_of[id];
    buf_of[id] = nullptr;
    // Every read reaches an owner that writes its data before letting go; a read without
    // it was delivered before its owner was done.
    if (op_of(id) == Op::read) {
      uint64_t data = 0;
      std::memcpy(&data, b + sizeof(uint64_t), sizeof data);
      if (data != fill_word(io_word(index, id)))
        violation(kEarlyDelivery,
                  "delivered while the driver owned the request: a read "
                  "completed before its owner wrote the data",
                  id, static_cast<uint64_t>(c.status));
    }
    bufs.put(b);  // poison (and in ASan builds free) at once: late writes are caught
    // Only this device's teardown cancels (the lookup thread ends with ioerr): a cancel
    // before it is another device's teardown reaching into this one.
    if (c.status == Status::cancelled && !stop_submitting->load())
      violation(kWrongQueue, "cancelled while its device was not being torn down", id);
    completed.fetch_add(1, std::memory_order_relaxed);
  }
};

// ---- one run ----

struct RunStats {
  uint64_t timeouts = 0, cancels_won = 0, late_writes = 0, late_writes_lost = 0, parks = 0,
           claims = 0, held_checked = 0;
};

// ndev devices (two share one tag set when shared), kSubmitters submitting threads over
// them, one lookup thread, teardown while the last I/Os are in flight (with two devices:
// the first one's teardown while the second keeps working).
RunStats run(uint64_t ios, bool shared) {
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
    devs[0]->driver().peer = devs[1].get();
    devs[1]->driver().peer = devs[0].get();
  } else {
    devs.push_back(std::make_unique<Device<RaceDriver>>(ts, l, "race"));
  }
  for (auto& d : devs) d->driver().self = d.get();
  const unsigned ndev = static_cast<unsigned>(devs.size());

  std::vector<std::thread> workers;
  workers.reserve(ndev);
  for (auto& d : devs) workers.emplace_back([&d] { d->driver().worker(); });
  std::atomic<bool> stop_lookups{false};
  std::vector<std::atomic<bool>> stop_submitting(ndev);
  uint64_t lookups_hit = 0, cancels_won = 0, stale_refused = 0, cross_refused = 0;
  // Lookups on either device of: the latest id its queue_rq saw on a slot (in flight, or
  // ended already), a stale one (1-3 generations older: must never be found, as the slot
  // has started a newer request since), a random generation, out-of-range queues and tags,
  // and with a shared set the latest id the OTHER device saw on that slot (must never be
  // found on this one). Some cancel what they find; some hold it a while.
  std::thread looker([&] {
    std::minstd_rand rng{7};
    while (!stop_lookups.load()) {
      const unsigned di = rng() % ndev;
      Device<RaceDriver>& dev = *devs[di];
      const unsigned q = rng() % (kQueues + 1);   // queue kQueues does not exist
      const uint32_t tag = rng() % (kDepth + 8);  // some out of range
      const unsigned kind = rng() % 8;
      bool stale = false, cross = false;
      uint64_t gen = 1;
      if (tag < kDepth && q < kQueues) {
        unsigned src = di;
        if (kind >= 6 && ndev > 1) {
          src = 1 - di;
          cross = true;
        }
        gen = RequestId::from_raw(devs[src]->driver().last_id[q][tag].load()).generation();
        if (kind == 3 || kind == 4) {
          const uint64_t back = 1 + rng() % 3;
          stale = gen > back;
          gen = stale ? gen - back : 0;
        } else if (kind == 5) {
          gen = rng();
        }
      }
      Ref<RaceDriver> r = dev.lookup(RequestId::make(q, tag, gen));
      if (!r) {
        stale_refused += stale;
        cross_refused += cross;
        continue;
      }
      ++lookups_hit;
      if (&r.hctx() != &dev.hctx(q))
        violation(kWrongQueue, "a lookup yielded another device's request", tag, gen);
      const uint64_t g0 = r.generation();
      if (g0 != gen)
        violation(kGeneration, "a lookup yielded another generation than asked", g0, gen);
      r.pdu().held.store((g0 << 1) | 1, std::memory_order_release);
      if (rng() % 8 == 0) {
        RaceDriver::SlotLock lk(r.pdu());
        if (r.try_end(Status::ioerr) == EndResult::ended) {
          ++cancels_won;
          // Guarded mode: the owner cannot let go meanwhile (it takes the slot lock), so
          // a request its driver still owns must now be ended and held for it.
          const uint64_t ph = r.pdu().phase.load(std::memory_order_acquire);
          if (g_guarded && (ph >> 2) == g0 && ((ph & 3) == kInline || (ph & 3) == kWorker) &&
              dev.stats()[q].hung == 0)
            violation(kEarlyDelivery,
                      "delivered while the driver owned the request: a cancel of an owned "
                      "request was not held for its owner",
                      tag, g0);
        }
      }
      if (rng() % 32 == 0)
        std::this_thread::sleep_for(std::chrono::microseconds(rng() % 100));
      else
        for (int i = 0; i < 50; ++i) std::atomic_signal_fence(std::memory_order_seq_cst);
      if (r.generation() != g0) violation(kReuse, "slot reused while referenced", tag, g0);
      r.pdu().held.store(0, std::memory_order_release);
    }
  });

  std::vector<Submitter> subs(kSubmitters);
  std::vector<std::thread> threads;
  for (unsigned i = 0; i < kSubmitters; ++i) {
    subs[i].index = i;
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
        violation(kOther, "a device stalled after another device on its tag set was torn down");
    }
    stop_submitting[d] = true;
    devs[d]->shutdown();
  }
  for (auto& t : threads) t.join();
  RunStats rs;
  rs.cancels_won = cancels_won;
  for (unsigned d = 0; d < ndev; ++d) {
    RaceDriver& drv = devs[d]->driver();
    drv.stop = true;
    workers[d].join();
    {
      std::lock_guard lk(drv.m);
      if (!drv.deferred.empty() || !drv.parked.empty())
        violation(kLeak, "the driver still held requests after teardown", drv.deferred.size(),
                  drv.parked.size());
    }
    rs.late_writes += drv.late_writes;
    rs.late_writes_lost += drv.late_writes_lost;
    rs.parks += drv.parks;
    rs.claims += drv.claims;
    rs.held_checked += drv.held_checked;
  }

  uint64_t submitted = 0, completed = 0, missing = 0;
  for (auto& s : subs) {
    submitted += s.submitted;
    completed += s.completed;
    for (uint64_t id = 0; id < s.submitted; ++id) missing += s.done[id] == 0;
  }
  if (missing) violation(kLost, "I/Os never completed", missing);
  for (auto& d : devs) {
    for (auto& st : d->stats()) {
      if (st.in_flight) violation(kLeak, "tags leaked after teardown", st.in_flight);
      if (st.started != st.ended) violation(kLeak, "started != ended", st.started, st.ended);
      rs.timeouts += st.timeouts;
    }
  }
  std::printf(
      "stress (%s): %llu submitted, %llu completed, %llu timeouts, %llu lookups hit "
      "(%llu stale and %llu cross-device ids refused), %llu cancels won, %llu parked "
      "(%llu claimed), %llu late writes by owners (%llu after a timeout or cancel), %llu "
      "owners' ends checked held, %llu violations\n",
      shared ? "two devices, one shared tag set" : "one device", (unsigned long long)submitted,
      (unsigned long long)completed, (unsigned long long)rs.timeouts,
      (unsigned long long)lookups_hit, (unsigned long long)stale_refused,
      (unsigned long long)cross_refused, (unsigned long long)rs.cancels_won,
      (unsigned long long)rs.parks, (unsigned long long)rs.claims,
      (unsigned long long)rs.late_writes, (unsigned long long)rs.late_writes_lost,
      (unsigned long long)rs.held_checked, (unsigned long long)g_violations.load());
  return rs;
}

int usage() {
  std::fprintf(stderr, "usage: stress_races [--shared] [--expect=CATEGORY]\n  categories:");
  for (const char* n : kCatName) std::fprintf(stderr, " %s", n);
  std::fprintf(stderr, "\n");
  return 64;
}

}  // namespace

// Usage: stress_races [--shared] [--expect=CATEGORY]
// Environment: MQBLK_STRESS_IOS (volume), MQBLK_STRESS_LIMIT_S (hang limit, default 240),
// MQBLK_STRESS_EXPECT (as --expect).
int main(int argc, char** argv) {
  // The environment is read here, before any thread starts.
  uint64_t ios = kDefaultIos;
  if (const char* e = std::getenv("MQBLK_STRESS_IOS"))  // NOLINT(concurrency-mt-unsafe)
    ios = std::strtoull(e, nullptr, 10);
  int64_t limit = 240'000'000'000;
  if (const char* e = std::getenv("MQBLK_STRESS_LIMIT_S"))  // NOLINT(concurrency-mt-unsafe)
    limit = std::atoll(e) * 1'000'000'000;
  bool shared = false;
  std::string expect;
  if (const char* e = std::getenv("MQBLK_STRESS_EXPECT"))  // NOLINT(concurrency-mt-unsafe)
    expect = e;
  for (int i = 1; i < argc; ++i) {
    std::string_view a(argv[i]);
    if (a == "--shared")
      shared = true;
    else if (a.substr(0, 9) == "--expect=")
      expect = a.substr(9);
    else
      return usage();
  }
  if (!expect.empty()) {
    for (unsigned c = 0; c < kNumCats; ++c)
      if (expect == kCatName[c]) g_expect = static_cast<int>(c);
    if (g_expect < 0) return usage();
  }
  g_guarded = g_expect == kEarlyDelivery;
  signal(SIGABRT, on_abort);

  // A broken engine may also wedge (a tag freed twice, a request never ended): once a
  // violation is seen (2 s after it; with --expect, 10 s after one of another category),
  // or when the run takes far too long, report and stop.
  std::thread([limit] {
    const int64_t start = detail::now_ns();
    const int64_t grace = g_expect < 0 ? 2'000'000'000 : 10'000'000'000;
    int64_t first_seen = 0;
    for (;;) {
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
      const int64_t now = detail::now_ns();
      if (g_violations.load() && !first_seen) first_seen = now;
      if (first_seen && now - first_seen > grace) {
        std::fflush(stdout);
        if (g_expect < 0)
          std::fprintf(stderr, "stress: %llu violations; stopping\n",
                       (unsigned long long)g_violations.load());
        else
          std::fprintf(stderr, "stress: violations, but not the expected one (%s); stopping\n",
                       kCatName[g_expect]);
        print_counts();
        std::_Exit(1);
      }
      if (now - start > limit) {
        std::fflush(stdout);
        std::fprintf(stderr, "stress: no progress within the time limit: hung\n");
        print_counts();
        std::_Exit(3);
      }
    }
  }).detach();

  RunStats rs = run(ios, shared);
  print_counts();
  if (g_expect >= 0) {  // its first violation would have ended the run already
    std::printf("stress: the expected violation (%s) did not happen\n", kCatName[g_expect]);
    return 1;
  }
  if (rs.timeouts == 0 || rs.cancels_won == 0 || rs.late_writes_lost == 0 || rs.parks == 0 ||
      rs.claims == 0) {
    std::printf(
        "stress: the races did not happen (no timeouts, cancels, late writes after an end, or "
        "parked requests claimed back): the test proved nothing\n");
    return 2;
  }
  return g_violations.load() ? 1 : 0;
}
