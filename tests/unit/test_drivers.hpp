// Drivers used by the unit tests: they keep what queue_rq hands them so that a test can
// end, share or drop requests in any order.
#pragma once

#include <atomic>
#include <deque>
#include <mutex>

#include "mqblk/device.hpp"

namespace mqblk::test {

struct HoldDriver {
  struct Pdu {
    int init_count = 0;
    unsigned hw_queue = 0, tag = 0;
  };
  std::mutex m;
  std::deque<Owned<HoldDriver>> held;
  std::atomic<bool> answer_busy{false};
  std::atomic<TimeoutAction> on_timeout{TimeoutAction::done};
  std::atomic<int> timeouts_seen{0};
  std::atomic<int> exit_hctx_calls{0};
  RequestId last_id;  // of the last request queue_rq saw (guarded by m)

  QueueRqResult<HoldDriver> queue_rq(Hctx<HoldDriver>&, Owned<HoldDriver> rq, bool) {
    std::lock_guard lk(m);
    last_id = rq.id();
    if (answer_busy) return QueueRqResult<HoldDriver>::busy(std::move(rq));
    held.push_back(std::move(rq));
    return QueueRqResult<HoldDriver>::accepted();
  }
  TimeoutAction timeout(Hctx<HoldDriver>&, Borrowed<HoldDriver>) {
    std::lock_guard lk(m);
    ++timeouts_seen;
    return on_timeout;
  }
  void init_request(Pdu& p, unsigned q, unsigned t) {
    ++p.init_count;
    p.hw_queue = q;
    p.tag = t;
  }
  void exit_hctx(Hctx<HoldDriver>&) {
    std::lock_guard lk(m);
    ++exit_hctx_calls;
    held.clear();  // drops (and so ends, losing) whatever it still owns
  }
  Owned<HoldDriver> take() {
    std::lock_guard lk(m);
    Owned<HoldDriver> rq = std::move(held.front());
    held.pop_front();
    return rq;
  }
  size_t count() {
    std::lock_guard lk(m);
    return held.size();
  }
};

inline DiskLimits small_disk(uint64_t bytes = 1 << 20) {
  DiskLimits l;
  l.capacity_bytes = bytes;
  return l;
}

inline TagSetConfig tag_set(unsigned queues, unsigned depth,
                            uint64_t timeout_ns = 5'000'000'000ull) {
  TagSetConfig c;
  c.nr_hw_queues = queues;
  c.queue_depth = depth;
  c.timeout_ns = timeout_ns;
  return c;
}

// Reaps until n completions arrived or 5 s passed.
inline std::vector<IoCompletion> reap_n(IoQueue& q, size_t n) {
  std::vector<IoCompletion> out;
  IoCompletion c[64];
  int64_t deadline = detail::now_ns() + 5'000'000'000;
  while (out.size() < n && detail::now_ns() < deadline) {
    unsigned got = q.wait(c, 64, 1, 10'000'000);
    out.insert(out.end(), c, c + got);
  }
  return out;
}

}  // namespace mqblk::test
