// The delivery rule: a submitter receives a completion only when no party that can reach
// the request's data remains. For each path that ends a request behind its owner's back
// (timeout, cancel by lookup, IoQueue teardown, device teardown), a slow driver thread
// writes the buffer late while the submitter poisons and frees it at completion: under
// ASan a late write into freed memory is a heap-use-after-free, and in every build the
// driver checks that the buffer still carries its I/O's pattern (not the poison) before
// writing. Also: parking and claiming by id, results, shutdown_within, the hung-request
// report, and the checks on empty handles and on queues that outlive their device.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <mutex>
#include <thread>

#include "test_drivers.hpp"

using namespace mqblk;

namespace {

constexpr uint32_t kLen = 512;
constexpr std::byte kPoison{0xDE};

// Holds every request on a worker thread for hold_ms, like slow hardware, then writes the
// whole buffer (a read's data) and ends it. Parks the request as an id instead of keeping
// the Owned when park is set, and claims it back on the worker.
struct SlowDriver {
  using Pdu = NoPdu;
  struct Item {
    Owned<SlowDriver> rq;
    RequestId parked;  // instead of rq, when the driver parks
    Hctx<SlowDriver>* h;
  };
  std::mutex m;
  std::condition_variable cv;
  std::deque<Item> todo;
  bool stop = false;
  bool park = false;
  int hold_ms = 100;
  RequestId last_id;  // of the last request queue_rq saw (guarded by m)
  std::atomic<int> poisoned_seen{0}, late_writes{0}, lost{0}, ended{0}, claims_failed{0};
  std::thread worker{[this] { work(); }};

  ~SlowDriver() {
    {
      std::lock_guard lk(m);
      stop = true;
    }
    cv.notify_all();
    worker.join();
  }

  QueueRqResult<SlowDriver> queue_rq(Hctx<SlowDriver>& h, Owned<SlowDriver> rq, bool) {
    {
      std::lock_guard lk(m);
      last_id = rq.id();
      if (park) {
        RequestId id = std::move(rq).park();
        todo.push_back(Item{Owned<SlowDriver>(), id, &h});
      } else {
        todo.push_back(Item{std::move(rq), RequestId(), &h});
      }
    }
    cv.notify_one();
    return QueueRqResult<SlowDriver>::accepted();
  }

  void work() {
    std::unique_lock lk(m);
    for (;;) {
      cv.wait(lk, [this] { return stop || !todo.empty(); });
      if (todo.empty()) return;  // stop, and nothing left to let go
      Item it = std::move(todo.front());
      todo.pop_front();
      lk.unlock();
      std::this_thread::sleep_for(std::chrono::milliseconds(hold_ms));
      Owned<SlowDriver> rq = it.parked ? it.h->claim(it.parked) : std::move(it.rq);
      if (it.parked && !rq) {
        ++claims_failed;
      } else {
        // The owner may touch the data until it lets go, whatever ended the request.
        if (std::to_integer<int>(rq.data()[0]) == std::to_integer<int>(kPoison)) ++poisoned_seen;
        std::memset(rq.data(), 0x5A, rq.bytes());
        ++late_writes;
        (std::move(rq).end(Status::ok) == EndResult::lost ? lost : ended)++;
      }
      lk.lock();
    }
  }
};

// A submitter whose buffers live exactly as long as their I/O: filled at submit,
// poisoned and freed when the completion arrives.
struct FreeingSubmitter {
  IoQueue& q;
  std::atomic<int> completions{0};
  std::vector<Status> statuses;

  void submit(uint64_t i) {
    auto* buf = static_cast<std::byte*>(std::malloc(kLen));
    std::memset(buf, 0x11, kLen);
    ASSERT_EQ(q.submit(IoDesc{Op::read, 0, 0, kLen, buf}, reinterpret_cast<uintptr_t>(buf)),
              Status::ok)
        << i;
  }
  void on(const IoCompletion& c) {
    auto* buf = reinterpret_cast<std::byte*>(c.user_data);
    std::memset(buf, std::to_integer<int>(kPoison), kLen);
    std::free(buf);
    statuses.push_back(c.status);
    ++completions;
  }
  void reap_all(unsigned n) {
    IoCompletion c[16];
    int64_t deadline = detail::now_ns() + 10'000'000'000;
    while (completions.load() < static_cast<int>(n) && detail::now_ns() < deadline) {
      unsigned got = q.wait(c, 16, 1, 10'000'000);
      for (unsigned i = 0; i < got; ++i) on(c[i]);
    }
  }
};

TagSetConfig short_timeout(unsigned depth = 8) {
  return test::tag_set(1, depth, 10'000'000);  // 10 ms: the driver holds for 100 ms
}

// The worker counts a request as lost or ended after its end returned, which is after the
// submitter got the completion: wait for the count before reading it.
void wait_for_worker(SlowDriver& d, int n) {
  for (int i = 0; i < 5000 && d.lost.load() + d.ended.load() + d.claims_failed.load() < n; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
}

void expect_clean(SlowDriver& d, int n) {
  wait_for_worker(d, n);
  EXPECT_EQ(d.poisoned_seen.load(), 0) << "a completion reached the submitter while the "
                                          "driver still owned the request";
  EXPECT_EQ(d.late_writes.load(), n);
  EXPECT_EQ(d.claims_failed.load(), 0);
}

class Delivery : public ::testing::TestWithParam<bool> {};  // param: the driver parks

TEST_P(Delivery, TimeoutWaitsForTheOwnerBeforeTheSubmitterHearsOfIt) {
  Device<SlowDriver> dev{short_timeout(), test::small_disk(), "slow"};
  dev.driver().park = GetParam();
  auto q = dev.open_queue(0);
  FreeingSubmitter sub{*q};
  for (int i = 0; i < 4; ++i) sub.submit(i);
  sub.reap_all(4);
  ASSERT_EQ(sub.completions.load(), 4);
  for (Status s : sub.statuses) EXPECT_EQ(s, Status::timeout);
  EXPECT_EQ(dev.stats()[0].timeouts, 4u);
  wait_for_worker(dev.driver(), 4);
  EXPECT_EQ(dev.driver().lost.load(), 4);
  expect_clean(dev.driver(), 4);
}

TEST_P(Delivery, CancelByLookupWaitsForTheOwner) {
  Device<SlowDriver> dev{test::tag_set(1, 8), test::small_disk(), "slow"};
  dev.driver().park = GetParam();
  auto q = dev.open_queue(0);
  FreeingSubmitter sub{*q};
  sub.submit(0);
  // Find the request by id from another party (the id a frontend would keep).
  RequestId id;
  {
    std::lock_guard lk(dev.driver().m);
    id = dev.driver().last_id;
  }
  ASSERT_TRUE(id);
  Ref<SlowDriver> r = dev.lookup(id);
  ASSERT_TRUE(r);
  EXPECT_EQ(r.try_end(Status::cancelled), EndResult::ended);
  r.reset();
  IoCompletion early;
  EXPECT_EQ(q->reap(&early, 1), 0u);  // the driver still owns it
  EXPECT_EQ(dev.stats()[0].hung, 1u);
  sub.reap_all(1);
  ASSERT_EQ(sub.completions.load(), 1);
  EXPECT_EQ(sub.statuses[0], Status::cancelled);
  expect_clean(dev.driver(), 1);
}

TEST_P(Delivery, QueueTeardownWaitsForTheOwner) {
  Device<SlowDriver> dev{test::tag_set(1, 8), test::small_disk(), "slow"};
  dev.driver().park = GetParam();
  std::vector<std::byte*> bufs;
  {
    auto q = dev.open_queue(0);
    for (int i = 0; i < 3; ++i) {
      auto* buf = static_cast<std::byte*>(std::malloc(kLen));
      bufs.push_back(buf);
      ASSERT_EQ(q->submit(IoDesc{Op::read, 0, 0, kLen, buf}, i), Status::ok);
    }
  }  // returns only once the driver let go of all three
  EXPECT_EQ(dev.driver().late_writes.load(), 3);
  for (auto* b : bufs) {
    std::memset(b, std::to_integer<int>(kPoison), kLen);
    std::free(b);
  }
  wait_for_worker(dev.driver(), 3);
  EXPECT_EQ(dev.driver().lost.load(), 3);
  expect_clean(dev.driver(), 3);
}

TEST_P(Delivery, DeviceTeardownWaitsForTheOwner) {
  auto dev = std::make_unique<Device<SlowDriver>>(test::tag_set(1, 8), test::small_disk(), "slow");
  dev->driver().park = GetParam();
  auto q = dev->open_queue(0);
  FreeingSubmitter sub{*q};
  for (int i = 0; i < 4; ++i) sub.submit(i);
  std::thread reaper([&] { sub.reap_all(4); });
  dev->shutdown();  // cancels all four, then waits for the driver
  EXPECT_EQ(dev->driver().late_writes.load(), 4);
  reaper.join();
  ASSERT_EQ(sub.completions.load(), 4);
  for (Status s : sub.statuses) EXPECT_EQ(s, Status::cancelled);
  expect_clean(dev->driver(), 4);
  q.reset();
  dev.reset();
}

INSTANTIATE_TEST_SUITE_P(KeepOrPark, Delivery, ::testing::Bool(),
                         [](const auto& info) { return info.param ? "Parked" : "Owned"; });

struct HeldFixture : ::testing::Test {
  Device<test::HoldDriver> dev{test::tag_set(1, 4), test::small_disk(), "hold"};
  std::unique_ptr<IoQueue> q = dev.open_queue(0);
  std::byte buf[512]{};
  void submit(uint64_t ud) {
    ASSERT_EQ(q->submit(IoDesc{Op::read, 0, 0, 512, buf}, ud), Status::ok);
  }
};

TEST_F(HeldFixture, AParkedRequestIsClaimedExactlyOnce) {
  submit(1);
  Owned<test::HoldDriver> rq = dev.driver().take();
  Hctx<test::HoldDriver>& h = rq.hctx();
  const RequestId id = std::move(rq).park();
  ASSERT_TRUE(id);
  EXPECT_FALSE(h.claim(RequestId::make(0, id.tag(), id.generation() + 1)));  // stale or forged
  EXPECT_TRUE(dev.lookup(id));  // still in flight: a Ref may look at it
  Owned<test::HoldDriver> back = h.claim(id);
  ASSERT_TRUE(back);
  EXPECT_FALSE(h.claim(id));  // claimed already
  EXPECT_EQ(back.id(), id);
  EXPECT_EQ(std::move(back).end(Status::ok, 42), EndResult::ended);
  auto c = test::reap_n(*q, 1);
  ASSERT_EQ(c.size(), 1u);
  EXPECT_EQ(c[0].result, 42u);
  EXPECT_FALSE(h.claim(id));  // ended: the id names nothing now
}

TEST_F(HeldFixture, ResultsTravelThroughEndAndCompleteButNotALostEnd) {
  submit(1);
  submit(2);
  submit(3);
  EXPECT_EQ(dev.driver().take().end(Status::ok, 7), EndResult::ended);
  dev.driver().take().complete(Status::ok, 8);
  Owned<test::HoldDriver> third = dev.driver().take();
  EXPECT_EQ(dev.lookup(third.id()).try_end(Status::cancelled), EndResult::ended);
  EXPECT_EQ(std::move(third).end(Status::ok, 9), EndResult::lost);
  auto c = test::reap_n(*q, 3);
  ASSERT_EQ(c.size(), 3u);
  for (auto& x : c) {
    const uint64_t want = x.user_data == 1 ? 7 : x.user_data == 2 ? 8 : 0;
    EXPECT_EQ(x.result, want) << x.user_data;
    EXPECT_EQ(x.status, x.user_data == 3 ? Status::cancelled : Status::ok) << x.user_data;
  }
}

TEST_F(HeldFixture, SharingAnEndedRequestDeliversIt) {
  submit(1);
  Owned<test::HoldDriver> rq = dev.driver().take();
  EXPECT_EQ(dev.lookup(rq.id()).try_end(Status::timeout), EndResult::ended);
  IoCompletion c;
  EXPECT_EQ(q->reap(&c, 1), 0u);
  Ref<test::HoldDriver> r = std::move(rq).share();  // gives up the data: delivered now
  auto got = test::reap_n(*q, 1);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].status, Status::timeout);
  EXPECT_EQ(r.try_end(Status::ok), EndResult::lost);
}

TEST_F(HeldFixture, ARequeuedRequestCancelledWhileWaitingIsDeliveredNotDispatched) {
  dev.driver().answer_busy = true;
  submit(1);  // queue_rq answers busy: the requeue list owns it now
  ASSERT_EQ(dev.driver().count(), 0u);
  Ref<test::HoldDriver> r = dev.lookup(dev.driver().last_id);
  ASSERT_TRUE(r);
  EXPECT_EQ(r.try_end(Status::cancelled), EndResult::ended);
  r.reset();
  dev.driver().answer_busy = false;
  auto c = test::reap_n(*q, 1);  // the retry finds it ended and delivers it
  ASSERT_EQ(c.size(), 1u);
  EXPECT_EQ(c[0].status, Status::cancelled);
  EXPECT_EQ(dev.driver().count(), 0u);  // never reached queue_rq again
}

TEST(Shutdown, WithinGivesUpWhileTheDriverHoldsAndSucceedsAfter) {
  Device<test::HoldDriver> dev{test::tag_set(1, 4), test::small_disk(), "hold"};
  auto q = dev.open_queue(0);
  std::byte buf[512]{};
  ASSERT_EQ(q->submit(IoDesc{Op::read, 0, 0, 512, buf}, 1), Status::ok);
  Owned<test::HoldDriver> rq = dev.driver().take();  // exit_hctx cannot drop this one
  EXPECT_FALSE(dev.shutdown_within(20'000'000));
  EXPECT_EQ(dev.stats()[0].hung, 1u);
  EXPECT_EQ(std::move(rq).end(), EndResult::lost);
  EXPECT_TRUE(dev.shutdown_within(1'000'000'000));
  auto c = test::reap_n(*q, 1);
  ASSERT_EQ(c.size(), 1u);
  EXPECT_EQ(c[0].status, Status::cancelled);
}

TEST(Shutdown, ReportsEachHeldRequestAndRepeats) {
  TagSetConfig cfg = test::tag_set(1, 4);
  cfg.hung_report_ns = 30'000'000;  // 30 ms, then every 30 ms
  cfg.hung_repeat_ns = 30'000'000;
  Device<test::HoldDriver> dev{cfg, test::small_disk(), "held disk"};
  auto q = dev.open_queue(0);
  std::byte buf[512]{};
  ASSERT_EQ(q->submit(IoDesc{Op::read, 0, 0, 512, buf}, 1), Status::ok);
  Owned<test::HoldDriver> rq = dev.driver().take();
  const unsigned tag = rq.tag();
  std::thread late([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    (void)std::move(rq).end();
  });
  ::testing::internal::CaptureStderr();
  dev.shutdown();
  std::string err = ::testing::internal::GetCapturedStderr();
  late.join();
  std::string line = "device 'held disk' queue 0 tag " + std::to_string(tag) +
                     ": ended (cancelled or timed out), still held by its driver";
  size_t first = err.find(line);
  ASSERT_NE(first, std::string::npos) << err;
  EXPECT_NE(err.find(line, first + 1), std::string::npos) << "reported only once: " << err;
  EXPECT_NE(err.find("teardown has waited"), std::string::npos) << err;
  EXPECT_EQ(test::reap_n(*q, 1).size(), 1u);
}

void let_a_queue_outlive_its_device() {
  std::unique_ptr<IoQueue> q;
  {
    Device<test::HoldDriver> dev{test::tag_set(1, 4), test::small_disk(), "short-lived"};
    q = dev.open_queue(0);
  }
}

TEST(Lifetimes, AQueueOutlivingItsDeviceAbortsNamingIt) {
  EXPECT_DEATH(
      let_a_queue_outlive_its_device(),
      "device 'short-lived' destroyed while 1 I/O queue\\(s\\) opened from it still exist");
}

#if MQBLK_DEBUG_CHECKS_ON
TEST(Lifetimes, ReadingThroughAnEmptyHandleIsAnOwnershipViolation) {
  Owned<test::HoldDriver> empty;
  EXPECT_DEATH((void)empty.op(), "empty handle");
  Ref<test::HoldDriver> none;
  EXPECT_DEATH((void)none.sector(), "empty handle");
  Device<test::HoldDriver> dev{test::tag_set(1, 4), test::small_disk(), "hold"};
  auto q = dev.open_queue(0);
  std::byte buf[512]{};
  ASSERT_EQ(q->submit(IoDesc{Op::read, 0, 0, 512, buf}, 1), Status::ok);
  Owned<test::HoldDriver> rq = dev.driver().take();
  Owned<test::HoldDriver> moved = std::move(rq);
  EXPECT_DEATH((void)rq.data(), "empty handle");  // NOLINT(bugprone-use-after-move)
  (void)std::move(moved).end();
  EXPECT_EQ(test::reap_n(*q, 1).size(), 1u);
}
#endif

}  // namespace
