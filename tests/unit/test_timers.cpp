// Completion timers (irqmode=2) and the timeout scan.
#include <gtest/gtest.h>

#include "test_drivers.hpp"

using namespace mqblk;
using mqblk::test::HoldDriver;

namespace {

struct TimerDriver {
  using Pdu = NoPdu;
  int64_t delay_ns = 0;
  QueueRqResult<TimerDriver> queue_rq(Hctx<TimerDriver>& h, Owned<TimerDriver> rq, bool) {
    h.complete_after(std::move(rq), Status::ok, delay_ns);
    return QueueRqResult<TimerDriver>::accepted();
  }
};

TEST(Timers, CompleteNoEarlierThanTheirDelayInSubmissionOrder) {
  Device<TimerDriver> dev{test::tag_set(1, 16), test::small_disk(), "timer"};
  dev.driver().delay_ns = 2'000'000;
  auto q = dev.open_queue();
  std::byte buf[512];
  int64_t t0 = detail::now_ns();
  for (uint64_t i = 0; i < 8; ++i)
    ASSERT_EQ(q->submit(IoDesc{Op::read, 0, 0, 512, buf}, i), Status::ok);
  EXPECT_GE(q->next_timer_ns(), t0 + 2'000'000);
  auto c = test::reap_n(*q, 8);
  EXPECT_GE(detail::now_ns() - t0, 2'000'000);
  ASSERT_EQ(c.size(), 8u);
  for (uint64_t i = 0; i < 8; ++i) EXPECT_EQ(c[i].user_data, i);
  EXPECT_EQ(q->next_timer_ns(), -1);
}

TEST(Timers, TimerFindingItsRequestEndedByTimeoutOnlyDropsItsReference) {
  // Timeout 10 ms, completion timer 300 ms: the timeout wins, the timer loses quietly.
  Device<TimerDriver> dev{test::tag_set(1, 4, 10'000'000), test::small_disk(), "timer"};
  dev.driver().delay_ns = 300'000'000;
  auto q = dev.open_queue();
  std::byte buf[512];
  ASSERT_EQ(q->submit(IoDesc{Op::read, 0, 0, 512, buf}, 1), Status::ok);
  auto c = test::reap_n(*q, 1);
  ASSERT_EQ(c.size(), 1u);
  EXPECT_EQ(c[0].status, Status::timeout);
  EXPECT_EQ(dev.stats()[0].in_flight, 1u);  // the timer still references it
  while (q->next_timer_ns() >= 0) {
    IoCompletion x;
    EXPECT_EQ(q->wait(&x, 1, 1, 10'000'000), 0u);  // no second completion, ever
  }
  EXPECT_EQ(dev.stats()[0].in_flight, 0u);
  EXPECT_EQ(dev.stats()[0].timeouts, 1u);
}

TEST(Timeouts, DriverCanResetTheTimerThenLetItTimeOut) {
  Device<HoldDriver> dev{test::tag_set(1, 4, 5'000'000), test::small_disk(), "hold"};
  dev.driver().on_timeout = TimeoutAction::reset_timer;
  auto q = dev.open_queue();
  std::byte buf[512];
  ASSERT_EQ(q->submit(IoDesc{Op::read, 0, 0, 512, buf}, 1), Status::ok);
  while (dev.driver().timeouts_seen < 2) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  IoCompletion c;
  EXPECT_EQ(q->reap(&c, 1), 0u);  // reset: still in flight
  dev.driver().on_timeout = TimeoutAction::done;
  for (int i = 0; i < 5000 && dev.stats()[0].timeouts == 0; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  ASSERT_EQ(dev.stats()[0].timeouts, 1u);
  // Timed out, but the driver still owns it (and may still write its buffer): the
  // submitter hears of it only when the owner lets go, and the owner learns it lost.
  EXPECT_EQ(q->reap(&c, 1), 0u);
  EXPECT_EQ(dev.stats()[0].hung, 1u);
  EXPECT_EQ(std::move(dev.driver().take()).end(), EndResult::lost);
  auto got = test::reap_n(*q, 1);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].status, Status::timeout);
}

}  // namespace
