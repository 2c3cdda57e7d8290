// A complete mqblk driver: a RAM disk whose I/O is done by its own worker thread.
//
// It shows the whole contract: queue_rq receives ownership of each request and moves it
// to another thread; that thread copies the data and ends the request; the submitter
// gets its completion through IoQueue::wait(). Build and run: `build/examples/ramdisk_thread`.
#include <condition_variable>
#include <cstdio>
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

  explicit RamDisk(uint64_t bytes) : mem_(bytes), worker_([this] { work(); }) {}
  ~RamDisk() {
    {
      std::lock_guard lk(m_);
      stop_ = true;
    }
    cv_.notify_one();
    worker_.join();
  }

  // Submitting thread: hand the owned request to the worker. Never blocks.
  QueueRqResult<RamDisk> queue_rq(Hctx<RamDisk>&, Owned<RamDisk> rq, bool /*last*/) {
    {
      std::lock_guard lk(m_);
      todo_.push_back(std::move(rq));
    }
    cv_.notify_one();
    return QueueRqResult<RamDisk>::accepted();
  }

  // Teardown thread, after every request was ended: drop what is still queued (those
  // requests were cancelled; dropping an ended request only releases it).
  void exit_hctx(Hctx<RamDisk>&) {
    std::lock_guard lk(m_);
    todo_.clear();
  }

 private:
  void work() {
    std::unique_lock lk(m_);
    for (;;) {
      cv_.wait(lk, [this] { return stop_ || !todo_.empty(); });
      if (stop_) return;
      Owned<RamDisk> rq = std::move(todo_.front());
      todo_.pop_front();
      lk.unlock();
      const Status st = execute(rq);
      std::move(rq).end(st);  // the worker ends it: completion crosses threads
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
  Device<RamDisk> dev(tags, limits, "ramdisk", kSize);

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

int main() {
  try {
    return run_example();
  } catch (const std::exception& e) {  // a ConfigError from a bad configuration
    std::fprintf(stderr, "ramdisk_thread: %s\n", e.what());
    return 1;
  }
}
