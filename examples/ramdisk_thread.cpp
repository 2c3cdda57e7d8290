// A complete mqblk driver: a RAM disk whose I/O is done by its own worker thread.
//
// It shows the whole contract: queue_rq receives ownership of each request and moves it
// to another thread; that thread copies the data and ends the request; the submitter
// gets its completion through IoQueue::wait(). The second half runs it as slow hardware
// under a short request timeout: requests time out while the worker still owns them, the
// worker still writes their buffers late, and each submitter frees its buffer the moment
// the (timeout) completion arrives. That is safe because a completion is delivered only
// once the owner lets go. Build and run: `build/examples/ramdisk_thread`.
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <mutex>
#include <thread>
#include <vector>

#include "mqblk/device.hpp"

using namespace mqblk;

class RamDisk {
 public:
  using Pdu = NoPdu;  // no per-request driver data needed

  // latency: how long the "hardware" takes per request (the worker sleeps that long).
  RamDisk(uint64_t bytes, std::chrono::milliseconds latency)
      : mem_(bytes), latency_(latency), worker_([this] { work(); }) {}
  ~RamDisk() { stop_worker(); }

  // Submitting thread: hand the owned request to the worker. Never blocks.
  QueueRqResult<RamDisk> queue_rq(Hctx<RamDisk>&, Owned<RamDisk> rq, bool /*last*/) {
    {
      std::lock_guard lk(m_);
      todo_.push_back(std::move(rq));
    }
    cv_.notify_one();
    return QueueRqResult<RamDisk>::accepted();
  }

  // Timeout thread: a request outlived its deadline. Answering done has the engine end
  // it with Status::timeout; the worker still owns it and finishes it (its end returns
  // lost), and only then does the submitter get the timeout. Hardware that can abort a
  // command would start the abort here.
  TimeoutAction timeout(Hctx<RamDisk>&, Borrowed<RamDisk> rq) {
    std::fprintf(stderr, "ramdisk: request %u (%s at %llu) timed out\n", rq.tag(),
                 to_string(rq.op()).data(), static_cast<unsigned long long>(rq.offset()));
    return TimeoutAction::done;
  }

  // Teardown thread, after every request in flight was cancelled: drop what is still
  // queued (dropping a cancelled request lets it go: its submitter gets the cancel). The
  // one the worker is executing, it ends itself; teardown waits for that.
  void exit_hctx(Hctx<RamDisk>&) {
    std::lock_guard lk(m_);
    todo_.clear();
  }

  // Stops the worker (after it finished what it holds) and returns how many requests it
  // ended after someone else had: its ends that returned lost.
  unsigned lost_after_stop() {
    stop_worker();
    return lost_.load();
  }

 private:
  void stop_worker() {
    {
      std::lock_guard lk(m_);
      stop_ = true;
    }
    cv_.notify_one();
    if (worker_.joinable()) worker_.join();
  }

  void work() {
    std::unique_lock lk(m_);
    for (;;) {
      cv_.wait(lk, [this] { return stop_ || !todo_.empty(); });
      if (stop_) return;
      Owned<RamDisk> rq = std::move(todo_.front());
      todo_.pop_front();
      lk.unlock();
      std::this_thread::sleep_for(latency_);  // the hardware at work
      const Status st = execute(rq);          // we own rq: its buffer is still alive
      // The worker ends it: the completion crosses threads. lost: a timeout or cancel
      // ended it first, and the submitter gets that status now.
      if (std::move(rq).end(st) == EndResult::lost) ++lost_;
      lk.lock();
    }
  }

  Status execute(const Owned<RamDisk>& rq) {
    switch (rq.op()) {
      case Op::read: std::memcpy(rq.data(), &mem_[rq.offset()], rq.bytes()); return Status::ok;
      case Op::write: std::memcpy(&mem_[rq.offset()], rq.data(), rq.bytes()); return Status::ok;
      case Op::flush: return Status::ok;
      default: return Status::notsupp;
    }
  }

  std::vector<std::byte> mem_;
  std::chrono::milliseconds latency_;
  std::atomic<unsigned> lost_{0};
  std::mutex m_;
  std::condition_variable cv_;
  std::deque<Owned<RamDisk>> todo_;
  bool stop_ = false;
  std::thread worker_;  // last: starts after everything it uses exists
};

int run_example() {
  constexpr uint64_t kSize = 16 << 20;
  DiskLimits limits;
  limits.capacity_bytes = kSize;
  limits.logical_block_size = limits.physical_block_size = 4096;
  TagSetConfig tags;
  tags.queue_depth = 32;
  Device<RamDisk> dev(tags, limits, "ramdisk", kSize, std::chrono::milliseconds(0));

  // Asynchronous: 32 writes in flight, then reap them.
  auto q = dev.open_queue();
  std::vector<std::byte> bufs(size_t{32} * 4096);
  for (unsigned i = 0; i < 32; ++i) {
    std::memset(&bufs[size_t{i} * 4096], 'a' + static_cast<int>(i % 26), 4096);
    Status s =
        q->submit(IoDesc{Op::write, 0, uint64_t{i} * 4096 * 7, 4096, &bufs[size_t{i} * 4096]}, i);
    if (s != Status::ok) return std::fprintf(stderr, "submit: %s\n", to_string(s).data()), 1;
  }
  IoCompletion done[32];
  unsigned n = 0;
  while (n < 32) n += q->wait(done + n, 32 - n, 32 - n, -1);
  for (auto& c : done)
    if (c.status != Status::ok)
      return std::fprintf(stderr, "write %llu failed\n", (unsigned long long)c.user_data), 1;

  // Synchronous helpers read them back.
  std::vector<std::byte> back(4096);
  for (unsigned i = 0; i < 32; ++i) {
    if (sync_read(dev, uint64_t{i} * 4096 * 7, back.data(), 4096) != Status::ok) return 1;
    if (std::memcmp(back.data(), &bufs[size_t{i} * 4096], 4096) != 0)
      return std::fprintf(stderr, "block %u: data differs\n", i), 1;
  }
  auto st = dev.stats()[0];
  std::printf("ramdisk: 32 async writes and 32 sync reads verified; %llu started, %llu ended\n",
              (unsigned long long)st.started, (unsigned long long)st.ended);
  return 0;
}

// Slow hardware: 50 ms per request against a 5 ms request timeout. Every read times out
// while the worker still owns it; each buffer is freed as soon as its completion arrives
// (run under ASan, a late write into a freed buffer would be reported).
int run_slow() {
  constexpr uint64_t kSize = 1 << 20;
  DiskLimits limits;
  limits.capacity_bytes = kSize;
  TagSetConfig tags;
  tags.queue_depth = 8;
  tags.timeout_ns = 5'000'000;
  Device<RamDisk> dev(tags, limits, "slow ramdisk", kSize, std::chrono::milliseconds(50));
  auto q = dev.open_queue();
  std::byte* bufs[8] = {};  // read i's buffer, freed when read i completes
  unsigned submitted = 0;
  for (; submitted < 8; ++submitted) {
    bufs[submitted] = static_cast<std::byte*>(std::malloc(4096));
    Status s = q->submit(IoDesc{Op::read, 0, uint64_t{submitted} * 4096, 4096, bufs[submitted]},
                         submitted);
    if (s != Status::ok) {
      std::fprintf(stderr, "submit: %s\n", to_string(s).data());
      std::free(bufs[submitted]);
      break;
    }
  }
  unsigned timeouts = 0;
  for (unsigned n = 0; n < submitted;) {
    IoCompletion c[8];
    unsigned got = q->wait(c, 8, 1, -1);
    for (unsigned i = 0; i < got; ++i) {
      timeouts += c[i].status == Status::timeout;
      std::free(bufs[c[i].user_data]);  // the buffer goes the moment its completion arrives
    }
    n += got;
  }
  // The worker learns it lost after its end returned, which is after the completion
  // reached us: its count is final once the device (and with it the worker) is gone.
  q.reset();
  dev.shutdown();
  const unsigned lost = dev.driver().lost_after_stop();
  std::printf(
      "slow ramdisk: 8 reads timed out (%u), worker ended %u late, buffers freed at "
      "completion\n",
      timeouts, lost);
  return submitted == 8 && timeouts == 8 && lost == 8 ? 0 : 1;
}

int main() {
  try {
    int rc = run_example();
    return rc != 0 ? rc : run_slow();
  } catch (const std::exception& e) {  // a ConfigError from a bad configuration
    std::fprintf(stderr, "ramdisk_thread: %s\n", e.what());
    return 1;
  }
}
