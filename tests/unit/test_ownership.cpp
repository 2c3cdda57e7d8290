// The ownership rules, one test each: who ends a request, who loses, when a slot returns.
#include <gtest/gtest.h>

#include <chrono>
#include <thread>

#include "test_drivers.hpp"

using namespace mqblk;
using mqblk::test::HoldDriver;

namespace {

struct Fixture : ::testing::Test {
  Device<HoldDriver> dev{test::tag_set(1, 4), test::small_disk(), "hold"};
  std::unique_ptr<IoQueue> q = dev.open_queue(0);
  std::byte buf[512]{};

  void submit(uint64_t ud) {
    ASSERT_EQ(q->submit(IoDesc{Op::read, 0, 0, 512, buf}, ud), Status::ok);
  }
  unsigned in_flight() { return dev.stats()[0].in_flight; }
};

TEST_F(Fixture, InitRequestRunsOncePerTag) {
  for (unsigned t = 0; t < 4; ++t) {
    EXPECT_EQ(dev.hctx(0).pdu(t).init_count, 1);
    EXPECT_EQ(dev.hctx(0).pdu(t).tag, t);
  }
}

TEST_F(Fixture, OwnerEndDeliversOnceAndFreesTheTag) {
  submit(7);
  auto rq = dev.driver().take();
  EXPECT_EQ(in_flight(), 1u);
  EXPECT_EQ(std::move(rq).end(Status::ok), EndResult::ended);
  EXPECT_EQ(in_flight(), 0u);
  auto c = test::reap_n(*q, 1);
  ASSERT_EQ(c.size(), 1u);
  EXPECT_EQ(c[0].user_data, 7u);
  EXPECT_EQ(c[0].status, Status::ok);
}

TEST_F(Fixture, LookupOfFreeEndedOutOfRangeOrWrongQueueIsEmpty) {
  EXPECT_FALSE(dev.lookup(RequestId()));                // names nothing
  EXPECT_FALSE(dev.lookup(RequestId::make(0, 0, 1)));   // free
  EXPECT_FALSE(dev.lookup(RequestId::make(0, 99, 1)));  // out of range
  EXPECT_FALSE(dev.lookup(RequestId::make(5, 0, 1)));   // no such queue
  submit(1);
  auto rq = dev.driver().take();
  const RequestId id = rq.id();
  EXPECT_EQ(id.tag(), rq.tag());
  EXPECT_EQ(id.generation(), rq.generation());
  {
    Ref<HoldDriver> r = dev.lookup(id);
    ASSERT_TRUE(r);
    EXPECT_EQ(r.id(), id);
    EXPECT_FALSE(dev.lookup(RequestId::make(0, id.tag(), id.generation() + 1)));  // wrong gen
    EXPECT_FALSE(dev.lookup(RequestId::make(1, id.tag(), id.generation())));      // wrong queue
  }
  EXPECT_EQ(std::move(rq).end(), EndResult::ended);
  EXPECT_FALSE(dev.lookup(id));  // ended and freed
  // The tag's next request is not found by the old id: ids name requests, not slots.
  submit(2);
  auto next = dev.driver().take();
  ASSERT_EQ(next.tag(), id.tag());
  EXPECT_FALSE(dev.lookup(id));
  EXPECT_TRUE(dev.lookup(next.id()));
  EXPECT_EQ(std::move(next).end(), EndResult::ended);
  EXPECT_EQ(test::reap_n(*q, 2).size(), 2u);
}

TEST_F(Fixture, SlotIsNotReusedWhileAReferenceLives) {
  submit(1);
  auto rq = dev.driver().take();
  Ref<HoldDriver> r = dev.lookup(rq.id());
  ASSERT_TRUE(r);
  EXPECT_EQ(std::move(rq).end(), EndResult::ended);  // ended, but r still holds the slot
  EXPECT_EQ(in_flight(), 1u);
  EXPECT_FALSE(r.in_flight());
  EXPECT_EQ(r.try_end(Status::ioerr), EndResult::lost);
  // All other tags can be used; this one cannot until r goes.
  for (int i = 0; i < 3; ++i) submit(10 + i);
  EXPECT_EQ(q->submit(IoDesc{Op::read, kReqNoWait, 0, 512, buf}, 99), Status::busy);
  r.reset();
  EXPECT_EQ(in_flight(), 3u);
  while (dev.driver().count()) (void)dev.driver().take().end();
  EXPECT_EQ(test::reap_n(*q, 4).size(), 4u);
}

TEST_F(Fixture, SharedRequestIsEndedByExactlyOneRacer) {
  submit(3);
  Ref<HoldDriver> a = dev.driver().take().share();
  Ref<HoldDriver> b = a;  // a copy counts
  EXPECT_EQ(b.try_end(Status::timeout), EndResult::ended);
  EXPECT_EQ(a.try_end(Status::ok), EndResult::lost);
  EXPECT_EQ(in_flight(), 1u);
  a.reset();
  EXPECT_EQ(in_flight(), 1u);
  b.reset();
  EXPECT_EQ(in_flight(), 0u);
  auto c = test::reap_n(*q, 1);
  ASSERT_EQ(c.size(), 1u);
  EXPECT_EQ(c[0].status, Status::timeout);
}

TEST_F(Fixture, OwnerLearnsItLostWhenCancelledFirst) {
  submit(4);
  auto rq = dev.driver().take();
  {
    Ref<HoldDriver> r = dev.lookup(rq.id());
    EXPECT_EQ(r.try_end(Status::cancelled), EndResult::ended);
  }
  EXPECT_EQ(in_flight(), 1u);  // the owner still holds it
  IoCompletion early;
  EXPECT_EQ(q->reap(&early, 1), 0u);  // and so the submitter has nothing yet
  EXPECT_EQ(dev.stats()[0].hung, 1u);
  EXPECT_EQ(std::move(rq).end(Status::ok), EndResult::lost);
  EXPECT_EQ(dev.stats()[0].hung, 0u);
  EXPECT_EQ(in_flight(), 0u);
  auto c = test::reap_n(*q, 1);
  ASSERT_EQ(c.size(), 1u);
  EXPECT_EQ(c[0].status, Status::cancelled);
}

TEST_F(Fixture, LastRefDroppedWithoutEndingEndsWithIoError) {
  submit(5);
  { Ref<HoldDriver> r = dev.driver().take().share(); }
  auto c = test::reap_n(*q, 1);
  ASSERT_EQ(c.size(), 1u);
  EXPECT_EQ(c[0].status, Status::ioerr);
  EXPECT_EQ(in_flight(), 0u);
}

TEST_F(Fixture, BusyRequestsAreRequeuedAndRetried) {
  dev.driver().answer_busy = true;
  submit(6);
  EXPECT_EQ(dev.driver().count(), 0u);
  dev.driver().answer_busy = false;
  IoCompletion c;
  EXPECT_EQ(q->reap(&c, 1), 0u);  // too early: retried 1 ms after it was requeued
  EXPECT_EQ(dev.driver().count(), 0u);
  EXPECT_GE(q->next_timer_ns(), 0);  // an event loop knows when to come back
  std::this_thread::sleep_for(std::chrono::milliseconds(2));
  EXPECT_EQ(q->reap(&c, 1), 0u);  // the reap reran the requeue list
  EXPECT_EQ(dev.driver().count(), 1u);
  EXPECT_EQ(dev.stats()[0].requeued, 1u);
  (void)dev.driver().take().end();
  EXPECT_EQ(test::reap_n(*q, 1).size(), 1u);
}

TEST_F(Fixture, QuiesceHoldsNewRequestsUntilUnquiesce) {
  dev.quiesce();
  submit(8);
  IoCompletion c;
  q->reap(&c, 1);
  EXPECT_EQ(dev.driver().count(), 0u);
  dev.unquiesce();
  q->reap(&c, 1);
  EXPECT_EQ(dev.driver().count(), 1u);
  (void)dev.driver().take().end();
  EXPECT_EQ(test::reap_n(*q, 1).size(), 1u);
}

TEST_F(Fixture, TeardownEndsEveryOutstandingRequest) {
  for (int i = 0; i < 4; ++i) submit(100 + i);
  // The driver ends this one from its own thread while teardown runs: teardown cancels it
  // first and waits for the owner to let go; the owner learns it lost.
  auto kept = dev.driver().take();
  std::atomic<int> kept_result{-1};
  std::thread owner([&] {
    while (dev.lookup(kept.id())) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    kept_result = static_cast<int>(std::move(kept).end());
  });
  dev.shutdown();
  owner.join();
  EXPECT_EQ(kept_result.load(), static_cast<int>(EndResult::lost));
  auto c = test::reap_n(*q, 4);
  ASSERT_EQ(c.size(), 4u);
  for (auto& x : c) EXPECT_EQ(x.status, Status::cancelled);
  EXPECT_EQ(in_flight(), 0u);
  EXPECT_EQ(dev.driver().exit_hctx_calls, 1);
  EXPECT_EQ(q->submit(IoDesc{Op::read, 0, 0, 512, buf}, 1), Status::cancelled);
}

TEST_F(Fixture, FreezeRefusesNewWorkAndWaitsForDrain) {
  submit(1);
  EXPECT_FALSE(dev.freeze(1'000'000));  // one request still with the driver
  EXPECT_EQ(q->submit(IoDesc{Op::read, 0, 0, 512, buf}, 2), Status::cancelled);
  (void)dev.driver().take().end();
  EXPECT_TRUE(dev.freeze(1'000'000'000));
  dev.unfreeze();
  submit(3);
  (void)dev.driver().take().end();
  EXPECT_EQ(test::reap_n(*q, 2).size(), 2u);
}

TEST_F(Fixture, EndingTwiceThroughOneHandleIsCaught) {
  submit(9);
  auto rq = dev.driver().take();
  Owned<HoldDriver> same = std::move(rq);
  EXPECT_EQ(std::move(same).end(), EndResult::ended);
#if MQBLK_DEBUG_CHECKS_ON
  // Debug and sanitizer builds abort with a message naming the violation.
  EXPECT_DEATH((void)std::move(same).end(), "ended twice or moved from");
  EXPECT_DEATH((void)std::move(rq).end(), "ended twice or moved from");
#else
  // Release builds refuse without touching the (possibly reused) slot.
  EXPECT_EQ(std::move(same).end(), EndResult::not_owner);  // NOLINT(bugprone-use-after-move)
  EXPECT_EQ(std::move(rq).end(), EndResult::not_owner);    // NOLINT(bugprone-use-after-move)
#endif
  EXPECT_EQ(test::reap_n(*q, 1).size(), 1u);
}

TEST(Submit, RefusesBadRangesBeforeStartingAnything) {
  Device<HoldDriver> dev{test::tag_set(1, 4), test::small_disk(1 << 20), "hold"};
  auto q = dev.open_queue();
  std::byte buf[4096]{};
  EXPECT_EQ(q->submit(IoDesc{Op::read, 0, 1 << 20, 512, buf}, 0), Status::inval);
  EXPECT_EQ(q->submit(IoDesc{Op::write, 0, (1 << 20) - 512, 1024, buf}, 0), Status::nospc);
  EXPECT_EQ(q->submit(IoDesc{Op::read, 0, 100, 512, buf}, 0), Status::inval);
  EXPECT_EQ(q->submit(IoDesc{Op::read, 0, 0, 0, buf}, 0), Status::inval);
  EXPECT_EQ(q->submit(IoDesc{Op::discard, 0, 0, 512, nullptr}, 0), Status::notsupp);
  EXPECT_EQ(q->submit(IoDesc{Op::zone_open, 0, 0, 0, nullptr}, 0), Status::notsupp);
  EXPECT_EQ(dev.driver().count(), 0u);
  EXPECT_EQ(dev.stats()[0].started, 0u);
}

TEST(Config, ImpossibleShapesAreRefusedBeforeCreation) {
  EXPECT_THROW((Device<HoldDriver>{test::tag_set(0, 4), test::small_disk(), "x"}), ConfigError);
  EXPECT_THROW((Device<HoldDriver>{test::tag_set(1, 5000), test::small_disk(), "x"}), ConfigError);
  DiskLimits l = test::small_disk();
  l.logical_block_size = 1000;
  EXPECT_THROW((Device<HoldDriver>{test::tag_set(1, 4), l, "x"}), ConfigError);
  l = test::small_disk(1000);
  EXPECT_THROW((Device<HoldDriver>{test::tag_set(1, 4), l, "x"}), ConfigError);
}

}  // namespace

// Destroying a queue with requests in flight cancels them: the driver that still owns one
// learns it lost, the tags come back, and nothing is delivered into the dead queue (ASan
// and TSan runs of this test would catch that). The destruction waits for the driver.
TEST(QueueTeardown, DestroyingAQueueWithIoInFlightCancelsIt) {
  Device<HoldDriver> dev{test::tag_set(1, 8), test::small_disk(), "hold"};
  auto q = dev.open_queue(0);
  std::byte buf[512]{};
  for (uint64_t i = 0; i < 3; ++i)
    ASSERT_EQ(q->submit(IoDesc{Op::read, 0, 0, 512, buf}, i), Status::ok);
  ASSERT_EQ(dev.driver().count(), 3u);
  std::atomic<int> lost{0};
  std::thread late([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    for (int i = 0; i < 3; ++i) lost += dev.driver().take().end(Status::ok) == EndResult::lost;
  });
  q.reset();  // returns once the driver let go of all three
  late.join();
  EXPECT_EQ(lost.load(), 3);
  EXPECT_EQ(dev.stats()[0].in_flight, 0u);
  EXPECT_EQ(dev.stats()[0].started, 3u);
  EXPECT_EQ(dev.stats()[0].ended, 3u);
  // The device goes on serving a new queue.
  auto q2 = dev.open_queue(0);
  ASSERT_EQ(q2->submit(IoDesc{Op::read, 0, 0, 512, buf}, 9), Status::ok);
  EXPECT_EQ(dev.driver().take().end(Status::ok), EndResult::ended);
  EXPECT_EQ(test::reap_n(*q2, 1).size(), 1u);
}
