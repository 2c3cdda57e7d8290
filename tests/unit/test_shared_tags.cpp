// A tag set shared by two devices (blk-mq's shared tags): one pool of requests, each
// device seeing only its own, a fair share each, and one device's freeze, timeouts and
// teardown leaving the other's requests alone.
#include <gtest/gtest.h>

#include <chrono>
#include <thread>

#include "test_drivers.hpp"

using namespace mqblk;
using mqblk::test::HoldDriver;

namespace {

struct SharedFixture : ::testing::Test {
  std::shared_ptr<TagSet<HoldDriver>> set = TagSet<HoldDriver>::create(test::tag_set(1, 8));
  std::unique_ptr<Device<HoldDriver>> a =
      std::make_unique<Device<HoldDriver>>(set, test::small_disk(), "a");
  std::unique_ptr<Device<HoldDriver>> b =
      std::make_unique<Device<HoldDriver>>(set, test::small_disk(), "b");

  // A read that is refused (busy) rather than waited on when no tag is free.
  static Status submit(IoQueue& q, uint64_t ud) {
    static std::byte buf[512];
    return q.submit(IoDesc{Op::read, kReqNoWait, 0, 512, buf}, ud);
  }
  static void end_all(Device<HoldDriver>& d) {
    while (d.driver().count()) (void)d.driver().take().end(Status::ok);
  }
};

TEST_F(SharedFixture, InitRequestRanOnceForTheSet) {
  EXPECT_EQ(set->devices(), 2u);
  for (unsigned t = 0; t < 8; ++t) {
    EXPECT_EQ(a->hctx(0).pdu(t).init_count, 1);
    EXPECT_EQ(&a->hctx(0).pdu(t), &b->hctx(0).pdu(t));  // one request per tag, shared
  }
}

TEST_F(SharedFixture, EachQueueGetsAFairShareAndTheTagsArePooled) {
  EXPECT_EQ(set->share().load(), 4u);  // ceil(8 / 2 devices)
  auto qa1 = a->open_queue(0), qa2 = a->open_queue(0), qb = b->open_queue(0);
  for (uint64_t i = 0; i < 4; ++i) ASSERT_EQ(submit(*qa1, i), Status::ok);
  EXPECT_EQ(submit(*qa1, 4), Status::busy);  // its share is used up
  for (uint64_t i = 0; i < 4; ++i) ASSERT_EQ(submit(*qa2, i), Status::ok);
  // a holds all 8 tags of the shared pool: b finds none.
  EXPECT_EQ(submit(*qb, 0), Status::busy);
  EXPECT_EQ(a->stats()[0].in_flight, 8u);
  EXPECT_EQ(b->stats()[0].in_flight, 0u);
  (void)a->driver().take().end(Status::ok);
  ASSERT_EQ(submit(*qb, 9), Status::ok);  // the tag a freed serves b
  EXPECT_EQ(b->stats()[0].in_flight, 1u);
  EXPECT_EQ(b->driver().take().end(Status::ok), EndResult::ended);
  end_all(*a);
  EXPECT_EQ(test::reap_n(*qb, 1).size(), 1u);
  EXPECT_EQ(test::reap_n(*qa1, 4).size() + test::reap_n(*qa2, 4).size(), 8u);
}

TEST_F(SharedFixture, ALookupNeverYieldsTheOtherDevicesRequest) {
  auto qa = a->open_queue(0);
  ASSERT_EQ(submit(*qa, 1), Status::ok);
  Owned<HoldDriver> rq = a->driver().take();
  const RequestId id = rq.id();
  EXPECT_FALSE(b->lookup(id));  // the same slot and generation, but a's request
  EXPECT_FALSE(b->claim(id));
  Ref<HoldDriver> r = a->lookup(id);
  ASSERT_TRUE(r);
  EXPECT_EQ(&r.hctx(), &a->hctx(0));
  r = Ref<HoldDriver>();
  EXPECT_EQ(std::move(rq).end(Status::ok), EndResult::ended);
  EXPECT_EQ(test::reap_n(*qa, 1).size(), 1u);
}

TEST_F(SharedFixture, FreezeAndTeardownOfOneDeviceLeaveTheOthersRequests) {
  auto qa = a->open_queue(0), qb = b->open_queue(0);
  for (uint64_t i = 0; i < 3; ++i) ASSERT_EQ(submit(*qb, i), Status::ok);
  ASSERT_EQ(submit(*qa, 100), Status::ok);
  // a's freeze waits for a's request only.
  EXPECT_FALSE(a->freeze(20'000'000));
  (void)a->driver().take().end(Status::ok);
  EXPECT_TRUE(a->freeze(1'000'000'000));
  a->unfreeze();
  ASSERT_EQ(test::reap_n(*qa, 1).size(), 1u);
  ASSERT_EQ(submit(*qa, 101), Status::ok);
  // a's teardown cancels a's request, not b's three.
  a->shutdown();
  auto ca = test::reap_n(*qa, 1);
  ASSERT_EQ(ca.size(), 1u);
  EXPECT_EQ(ca[0].status, Status::cancelled);
  EXPECT_EQ(a->stats()[0].in_flight, 0u);
  EXPECT_EQ(b->stats()[0].in_flight, 3u);
  qa.reset();
  a.reset();
  EXPECT_EQ(set->devices(), 1u);
  EXPECT_EQ(set->share().load(), 8u);  // alone again: the whole depth
  for (uint64_t i = 0; i < 3; ++i)
    EXPECT_EQ(b->driver().take().end(Status::ok), EndResult::ended);  // nobody ended them
  auto c = test::reap_n(*qb, 3);
  ASSERT_EQ(c.size(), 3u);
  for (auto& e : c) EXPECT_EQ(e.status, Status::ok);
}

TEST(SharedTags, OneDevicesTimeoutsDoNotTouchTheOthersRequests) {
  auto set = TagSet<HoldDriver>::create(test::tag_set(1, 8, 10'000'000));  // 10 ms
  Device<HoldDriver> a(set, test::small_disk(), "a"), b(set, test::small_disk(), "b");
  b.driver().on_timeout = TimeoutAction::reset_timer;  // b keeps its requests
  auto qa = a.open_queue(0), qb = b.open_queue(0);
  ASSERT_EQ(SharedFixture::submit(*qa, 1), Status::ok);
  ASSERT_EQ(SharedFixture::submit(*qb, 2), Status::ok);
  for (int i = 0; i < 5000 && a.stats()[0].timeouts == 0; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  EXPECT_EQ(a.stats()[0].timeouts, 1u);
  EXPECT_EQ(b.stats()[0].timeouts, 0u);
  // b's own scan asks b's driver, which keeps the request.
  for (int i = 0; i < 1000 && b.driver().timeouts_seen.load() == 0; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  EXPECT_GE(b.driver().timeouts_seen.load(), 1);
  EXPECT_EQ(b.stats()[0].in_flight, 1u);
  EXPECT_EQ(a.driver().take().end(Status::ok), EndResult::lost);
  auto c = test::reap_n(*qa, 1);  // delivered once a's driver let go
  ASSERT_EQ(c.size(), 1u);
  EXPECT_EQ(c[0].status, Status::timeout);
  EXPECT_EQ(b.driver().take().end(Status::ok), EndResult::ended);
  EXPECT_EQ(test::reap_n(*qb, 1).size(), 1u);
}

// A device that joins while another has requests in flight takes none of them over.
TEST(SharedTags, JoiningDeviceLeavesInFlightRequestsToTheirOwner) {
  auto set = TagSet<HoldDriver>::create(test::tag_set(1, 8));
  auto a = std::make_unique<Device<HoldDriver>>(set, test::small_disk(), "a");
  auto qa = a->open_queue(0);
  ASSERT_EQ(SharedFixture::submit(*qa, 1), Status::ok);
  const RequestId id = a->driver().held.front().id();
  Device<HoldDriver> b(set, test::small_disk(), "b");
  EXPECT_EQ(a->stats()[0].in_flight, 1u);
  EXPECT_EQ(b.stats()[0].in_flight, 0u);
  EXPECT_TRUE(a->lookup(id));
  EXPECT_FALSE(b.lookup(id));
  EXPECT_EQ(&a->driver().held.front().hctx(), &a->hctx(0));
  EXPECT_EQ(a->driver().take().end(Status::ok), EndResult::ended);
  EXPECT_EQ(test::reap_n(*qa, 1).size(), 1u);
}

TEST(SharedTags, ExternalTagsServeOneDevice) {
  TagSetConfig cfg = test::tag_set(1, 8);
  cfg.tag_source = TagSource::external;
  auto set = TagSet<HoldDriver>::create(cfg);
  Device<HoldDriver> a(set, test::small_disk(), "a");
  EXPECT_THROW((Device<HoldDriver>{set, test::small_disk(), "b"}), ConfigError);
  EXPECT_EQ(set->devices(), 1u);
}

TEST(SharedTags, BadConfigIsRefusedBeforeASetExists) {
  EXPECT_THROW(TagSet<HoldDriver>::create(test::tag_set(0, 8)), ConfigError);
  EXPECT_THROW((Device<HoldDriver>{std::shared_ptr<TagSet<HoldDriver>>(), test::small_disk(), "x"}),
               ConfigError);
}

}  // namespace
