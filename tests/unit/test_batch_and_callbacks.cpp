// Batched submission (last / commit_rqs) and the completion-callback style.
#include <gtest/gtest.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <atomic>
#include <thread>
#include <vector>

#include "test_drivers.hpp"

using namespace mqblk;

namespace {

// Holds requests until its doorbell (commit_rqs, or a queue_rq with last=true) rings.
struct DoorbellDriver {
  using Pdu = NoPdu;
  std::vector<Owned<DoorbellDriver>> pending;
  std::vector<bool> lasts;
  int commits = 0;
  QueueRqResult<DoorbellDriver> queue_rq(Hctx<DoorbellDriver>&, Owned<DoorbellDriver> rq,
                                         bool last) {
    lasts.push_back(last);
    pending.push_back(std::move(rq));
    if (last) ring();
    return QueueRqResult<DoorbellDriver>::accepted();
  }
  void commit_rqs(Hctx<DoorbellDriver>&) {
    ++commits;
    ring();
  }
  void ring() {
    for (auto& rq : pending) (void)std::move(rq).end(Status::ok);
    pending.clear();
  }
};

TEST(Batch, MoreFlagDefersTheDoorbellToCommit) {
  Device<DoorbellDriver> dev{test::tag_set(1, 8), test::small_disk(), "doorbell"};
  auto q = dev.open_queue();
  std::byte buf[512];
  for (uint64_t i = 0; i < 3; ++i)
    ASSERT_EQ(q->submit(IoDesc{Op::read, kReqMore, 0, 512, buf}, i), Status::ok);
  EXPECT_EQ(dev.driver().pending.size(), 3u);
  EXPECT_EQ(dev.driver().lasts, (std::vector<bool>{false, false, false}));
  q->commit();
  EXPECT_EQ(dev.driver().commits, 1);
  EXPECT_TRUE(dev.driver().pending.empty());
  q->commit();  // nothing pending: no second doorbell
  EXPECT_EQ(dev.driver().commits, 1);
  EXPECT_EQ(test::reap_n(*q, 3).size(), 3u);
}

TEST(Batch, ReapCommitsAForgottenBatch) {
  Device<DoorbellDriver> dev{test::tag_set(1, 8), test::small_disk(), "doorbell"};
  auto q = dev.open_queue();
  std::byte buf[512];
  ASSERT_EQ(q->submit(IoDesc{Op::read, kReqMore, 0, 512, buf}, 1), Status::ok);
  EXPECT_EQ(test::reap_n(*q, 1).size(), 1u);
  EXPECT_EQ(dev.driver().commits, 1);
}

struct Counter : IoCallback {
  int calls = 0;
  Status last = Status::inval;
};

TEST(Callbacks, EachCallbackRunsOnceWithItsStatus) {
  Device<test::HoldDriver> dev{test::tag_set(1, 8), test::small_disk(), "hold"};
  auto q = dev.open_queue();
  std::byte buf[512];
  Counter a, b;
  a.fn = b.fn = [](IoCallback* self, Status s) {
    auto* c = static_cast<Counter*>(self);
    ++c->calls;
    c->last = s;
  };
  ASSERT_EQ(submit(*q, IoDesc{Op::read, 0, 0, 512, buf}, &a), Status::ok);
  ASSERT_EQ(submit(*q, IoDesc{Op::read, 0, 512, 512, buf}, &b), Status::ok);
  (void)dev.driver().take().end(Status::ok);
  (void)dev.driver().take().end(Status::medium);
  EXPECT_EQ(run_callbacks(*q, 2, 1'000'000'000), 2u);
  EXPECT_EQ(a.calls, 1);
  EXPECT_EQ(a.last, Status::ok);
  EXPECT_EQ(b.calls, 1);
  EXPECT_EQ(b.last, Status::medium);
  EXPECT_EQ(run_callbacks(*q, 0, 0), 0u);
}

}  // namespace

#include <poll.h>
#include <unistd.h>

#include <thread>

namespace {

bool readable_within(int fd, int ms) {
  pollfd p{fd, POLLIN, 0};
  return poll(&p, 1, ms) == 1;
}

TEST(EventFd, EveryRemoteCompletionWakesAnEventLoopThatReadsTheFdItself) {
  Device<test::HoldDriver> dev{test::tag_set(1, 8), test::small_disk(), "hold"};
  auto q = dev.open_queue();
  std::byte buf[512];
  for (int round = 0; round < 3; ++round) {
    ASSERT_EQ(q->submit(IoDesc{Op::read, 0, 0, 512, buf}, round), Status::ok);
    std::thread([&] { (void)dev.driver().take().end(); }).join();  // ended on another thread
    ASSERT_TRUE(readable_within(q->event_fd(), 1000)) << "round " << round;
    uint64_t v;
    ASSERT_EQ(read(q->event_fd(), &v, sizeof v), static_cast<ssize_t>(sizeof v));
    IoCompletion c;
    ASSERT_EQ(q->reap(&c, 1), 1u);
    EXPECT_EQ(c.user_data, static_cast<uint64_t>(round));
  }
}

}  // namespace

namespace {

TEST(Requeue, WaitRetriesABusyDriverWithoutAnyOtherWakeUp) {
  Device<test::HoldDriver> dev{test::tag_set(1, 8), test::small_disk(), "hold"};
  dev.driver().answer_busy = true;
  auto q = dev.open_queue();
  std::byte buf[512];
  ASSERT_EQ(q->submit(IoDesc{Op::read, 0, 0, 512, buf}, 42), Status::ok);
  EXPECT_GE(q->next_timer_ns(), 0);  // an event loop would come back to retry
  std::thread ender([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    dev.driver().answer_busy = false;  // the resource frees up; nobody signals the queue
    while (dev.driver().count() == 0) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    (void)dev.driver().take().end();
  });
  IoCompletion c;
  unsigned n = q->wait(&c, 1, 1, 5'000'000'000);
  ender.join();
  ASSERT_EQ(n, 1u);
  EXPECT_EQ(c.user_data, 42u);
}

}  // namespace

namespace {

// Completes like hardware that raises a line: a parked request ends only in poll(), once
// the driver's wait fd (an eventfd the test writes, as io_uring's ring fd becomes readable)
// says so. Nothing else wakes the submitter: no complete(), no remote end.
struct WaitFdDriver {
  using Pdu = NoPdu;
  int efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  std::atomic<int> watchers{0};
  std::vector<RequestId> parked;  // the submitting thread's only
  std::thread::id ended_on;
  ~WaitFdDriver() { close(efd); }
  QueueRqResult<WaitFdDriver> queue_rq(Hctx<WaitFdDriver>&, Owned<WaitFdDriver> rq, bool) {
    parked.push_back(std::move(rq).park());
    return QueueRqResult<WaitFdDriver>::accepted();
  }
  unsigned poll(Hctx<WaitFdDriver>& h) {
    uint64_t v;
    if (read(efd, &v, sizeof v) != static_cast<ssize_t>(sizeof v)) return 0;
    unsigned n = 0;
    for (RequestId id : parked) {
      ended_on = std::this_thread::get_id();
      n += std::move(h.claim(id)).end(Status::ok) == EndResult::ended;
    }
    parked.clear();
    return n;
  }
  int wait_fd(Hctx<WaitFdDriver>&) noexcept { return efd; }
  void watch(Hctx<WaitFdDriver>&, int delta) noexcept { watchers += delta; }
};

TEST(WaitFd, ASleepingSubmitterIsWokenByTheDriversFdAndReapsItself) {
  Device<WaitFdDriver> dev{test::tag_set(1, 8), test::small_disk(), "waitfd"};
  {
    auto q = dev.open_queue();
    EXPECT_EQ(dev.driver().watchers.load(), 0);  // nobody has said it polls the fd yet
    std::byte buf[512];
    for (int round = 0; round < 3; ++round) {
      ASSERT_EQ(q->submit(IoDesc{Op::read, 0, 0, 512, buf}, round), Status::ok);
      std::thread irq([&] {
        std::this_thread::sleep_for(std::chrono::milliseconds(20));  // the submitter sleeps
        uint64_t one = 1;
        ASSERT_EQ(write(dev.driver().efd, &one, sizeof one), static_cast<ssize_t>(sizeof one));
      });
      IoCompletion c;
      const unsigned n = q->wait(&c, 1, 1, 5'000'000'000);
      irq.join();
      ASSERT_EQ(n, 1u) << "round " << round << ": wait() did not wake on the driver's fd";
      EXPECT_EQ(c.user_data, static_cast<uint64_t>(round));
      EXPECT_EQ(dev.driver().ended_on, std::this_thread::get_id());  // reaped here, no hand-over
      EXPECT_EQ(dev.driver().watchers.load(), 1);
    }
    EXPECT_EQ(q->driver_fd(), dev.driver().efd);
    EXPECT_EQ(dev.driver().watchers.load(), 1);  // counted once per queue
  }
  EXPECT_EQ(dev.driver().watchers.load(), 0);  // the queue went: it watches no more
}

TEST(WaitFd, AQueueThatNeverWaitsNorAsksIsNoWatcher) {
  Device<WaitFdDriver> dev{test::tag_set(1, 8), test::small_disk(), "waitfd"};
  auto q = dev.open_queue();
  std::byte buf[512];
  ASSERT_EQ(q->submit(IoDesc{Op::read, 0, 0, 512, buf}, 7), Status::ok);
  uint64_t one = 1;
  ASSERT_EQ(write(dev.driver().efd, &one, sizeof one), static_cast<ssize_t>(sizeof one));
  IoCompletion c;
  ASSERT_EQ(q->reap(&c, 1), 1u);
  EXPECT_EQ(dev.driver().watchers.load(), 0);
}

}  // namespace
