// The test device's engine half (mqblk/faults.hpp) and the null write cache, one rule per
// test, driven through make_device and IoQueue as a frontend drives them.
#include <gtest/gtest.h>

#include <cstring>
#include <string>
#include <vector>

#include "mqblk/faults.hpp"
#include "mqblk/registry.hpp"
#include "test_drivers.hpp"

using namespace mqblk;

namespace {

using Items = std::vector<std::string>;

std::string value_of(BlockDevice& dev, const std::string& key) {
  for (const auto& [k, v] : control_get(dev))
    if (k == key) return v;
  return "<absent>";
}

std::vector<std::byte> fill(size_t n, int v) { return std::vector<std::byte>(n, std::byte(v)); }

IoCompletion one(IoQueue& q, const IoDesc& io) {
  EXPECT_EQ(q.submit(io, 1), Status::ok);
  auto c = test::reap_n(q, 1);
  EXPECT_EQ(c.size(), 1u);
  return c.empty() ? IoCompletion{0, Status::cancelled, 0} : c[0];
}

TEST(FaultAttr, FollowsLinuxFaultInject) {
  FaultAttr a = FaultAttr::parse("timeout", "3,100,0,2");
  EXPECT_EQ(a.to_string(), "3,100,0,2");
  int fails = 0;
  std::string pattern;
  for (int i = 0; i < 12; ++i) {
    bool f = a.should_fail(1, 50);
    pattern += f ? 'x' : '.';
    fails += f;
  }
  EXPECT_EQ(pattern, "..x..x......");  // every 3rd call, twice (times=2)
  FaultAttr space = FaultAttr::parse("timeout", "1,100,2,-1");
  EXPECT_FALSE(space.should_fail(1, 0));  // space 2 > size 1: consumed, 1 left
  EXPECT_TRUE(space.should_fail(1, 0));   // space 1 is not > 1: a candidate, and it fails
  FaultAttr never = FaultAttr::parse("requeue", "1,0,0,-1");
  EXPECT_FALSE(never.armed());
  EXPECT_THROW(FaultAttr::parse("timeout", "1,100,0"), ConfigError);
  EXPECT_THROW(FaultAttr::parse("timeout", "1,101,0,1"), ConfigError);
  EXPECT_THROW(FaultAttr::parse("timeout", "0,100,0,1"), ConfigError);
  EXPECT_THROW(FaultAttr::parse("timeout", "1,100,0,-2"), ConfigError);
  EXPECT_THROW(FaultAttr::parse("timeout", "1,100,0,1,5"), ConfigError);
}

TEST(BadBlocks, AddsMergesAndClears) {
  BadBlocks b;
  b.apply("badblocks", "+10-19,+20-29,+100-107");
  EXPECT_EQ(b.to_string(), "+10-29,+100-107");
  b.apply("badblocks", "-15-16");
  EXPECT_EQ(b.to_string(), "+10-14,+17-29,+100-107");
  auto hit = b.first_bad(0, 12);
  ASSERT_TRUE(hit);
  EXPECT_EQ(hit->first, 10u);
  EXPECT_EQ(hit->second, 2u);
  EXPECT_FALSE(b.first_bad(30, 70));
  EXPECT_TRUE(b.first_bad(107, 1));
  BadBlocks before = b;
  EXPECT_THROW(b.apply("badblocks", "+1-2,7"), ConfigError);
  EXPECT_EQ(b.to_string(), before.to_string());  // nothing changed
  EXPECT_THROW(b.apply("badblocks", "+9-2"), ConfigError);
}

TEST(TestDevice, BadBlocksFailExactlyThoseSectorsAndClearLive) {
  auto dev = make_device("null", {"size=1", "memory_backed=1", "irqmode=0", "badblocks=+8-15"});
  auto buf = fill(4096, 0);
  EXPECT_EQ(sync_read(*dev, 4096, buf.data(), 4096), Status::ioerr);
  EXPECT_EQ(sync_read(*dev, 0, buf.data(), 4096), Status::ok);
  EXPECT_EQ(sync_read(*dev, 8192, buf.data(), 4096), Status::ok);
  EXPECT_EQ(sync_write(*dev, 4096 + 3584, buf.data(), 512), Status::ioerr);  // sector 15
  control_set(*dev, "null", {"badblocks=-8-15"});
  EXPECT_EQ(sync_read(*dev, 4096, buf.data(), 4096), Status::ok);
  EXPECT_EQ(value_of(*dev, "badblocks"), "");
}

TEST(TestDevice, BadBlocksOnceFailOnce) {
  auto dev = make_device("null", {"size=1", "irqmode=0", "badblocks=+0-0", "badblocks_once=1"});
  auto buf = fill(512, 0);
  EXPECT_EQ(sync_read(*dev, 0, buf.data(), 512), Status::ioerr);
  EXPECT_EQ(sync_read(*dev, 0, buf.data(), 512), Status::ok);
}

TEST(TestDevice, PartialIoTransfersUpToTheBadSector) {
  auto dev = make_device("null", {"size=1", "memory_backed=1", "irqmode=0", "blocksize=4096",
                                  "badblocks=+20-20", "badblocks_partial_io=1"});
  auto data = fill(16384, 0x5a);
  ASSERT_EQ(sync_write(*dev, 0, data.data(), 8192), Status::ok);  // sectors 0-15: good
  auto q = dev->open_queue();
  auto buf = fill(16384, 0);
  IoCompletion c = one(*q, IoDesc{Op::read, 0, 0, 16384, buf.data()});
  EXPECT_EQ(c.status, Status::ioerr);
  EXPECT_EQ(c.result, 8192u);  // sector 20 rounds down to the 4 KiB block at sector 16
  EXPECT_EQ(std::memcmp(buf.data(), data.data(), 8192), 0);
  // A request that starts on the bad block transfers nothing: a plain failure.
  c = one(*q, IoDesc{Op::read, 0, 8192, 4096, buf.data()});
  EXPECT_EQ(c.status, Status::ioerr);
  EXPECT_EQ(c.result, 0u);
}

TEST(TestDevice, TimeoutFaultEndsThroughTheTimeoutPath) {
  auto dev =
      make_device("null", {"size=1", "irqmode=0", "request_timeout=0.2", "timeout=1,100,0,2"});
  auto q = dev->open_queue();
  auto buf = fill(512, 0);
  const int64_t t0 = detail::now_ns();
  for (int i = 0; i < 3; ++i)
    ASSERT_EQ(q->submit(IoDesc{Op::read, 0, 0, 512, buf.data()}, i), Status::ok);
  auto c = test::reap_n(*q, 3);
  ASSERT_EQ(c.size(), 3u);
  unsigned timeouts = 0;
  for (auto& x : c) timeouts += x.status == Status::timeout;
  EXPECT_EQ(timeouts, 2u);
  EXPECT_GE(detail::now_ns() - t0, 200'000'000);  // not before the request timeout
  EXPECT_EQ(dev->stats()[0].timeouts, 2u);
  EXPECT_EQ(value_of(*dev, "fault_held"), "2");
  EXPECT_EQ(sync_read(*dev, 0, buf.data(), 512), Status::ok);
}

TEST(TestDevice, HeldRequestsEndAtTeardown) {
  auto dev = make_device("null", {"size=1", "irqmode=0", "timeout=1,100,0,-1"});
  auto q = dev->open_queue();
  auto buf = fill(512, 0);
  ASSERT_EQ(q->submit(IoDesc{Op::read, 0, 0, 512, buf.data()}, 1), Status::ok);
  q.reset();  // cancels what it has in flight: the held request too, no hang
  dev->shutdown();
  SUCCEED();
}

TEST(TestDevice, RequeueFaultRunsTheRequeuePath) {
  auto dev = make_device("null", {"size=1", "irqmode=0", "requeue=1,100,0,3"});
  auto buf = fill(512, 0);
  for (int i = 0; i < 4; ++i) EXPECT_EQ(sync_read(*dev, 0, buf.data(), 512), Status::ok);
  EXPECT_EQ(dev->stats()[0].requeued, 3u);
}

TEST(TestDevice, ErrorInjectionIsRepeatablePerSeed) {
  auto run = [](const Items& extra) {
    Items a{"size=1", "irqmode=0", "error_rate=0.5", "error_seed=42"};
    a.insert(a.end(), extra.begin(), extra.end());
    auto dev = make_device("null", a);
    auto buf = fill(512, 0);
    std::string p;
    for (int i = 0; i < 64; ++i) {
      Status s = sync_read(*dev, 0, buf.data(), 512);
      p += s == Status::ok ? '.' : s == Status::ioerr ? 'x' : '?';
    }
    return p;
  };
  std::string a = run({}), b = run({});
  EXPECT_EQ(a, b);
  EXPECT_NE(a.find('x'), std::string::npos);
  EXPECT_NE(a.find('.'), std::string::npos);
  EXPECT_EQ(a.find('?'), std::string::npos);
  EXPECT_EQ(run({"error_ops=write"}), std::string(64, '.'));  // reads are not listed
  auto dev = make_device("null", {"size=1", "irqmode=0", "error_rate=1", "error=ENOSPC"});
  auto buf = fill(512, 0);
  EXPECT_EQ(sync_write(*dev, 0, buf.data(), 512), Status::nospc);
  control_set(*dev, "null", {"error_rate=0"});  // disarmed live
  EXPECT_EQ(sync_write(*dev, 0, buf.data(), 512), Status::ok);
}

TEST(TestDevice, MbpsThrottlesThroughRequeue) {
  auto dev = make_device("null", {"size=16", "irqmode=0", "mbps=200"});
  auto q = dev->open_queue();
  std::vector<std::byte> buf(131072);
  for (int i = 0; i < 32; ++i)
    ASSERT_EQ(q->submit(IoDesc{Op::read, 0, 0, 131072, buf.data()}, i), Status::ok);
  auto c = test::reap_n(*q, 32);
  ASSERT_EQ(c.size(), 32u);
  for (auto& x : c) EXPECT_EQ(x.status, Status::ok);
  EXPECT_GT(std::stoull(value_of(*dev, "throttled")), 0u);  // 4 MiB over a 2 ms burst
}

TEST(TestDevice, PowerCutFailsInFlightAndNewRequests) {
  auto dev = make_device("null", {"size=1", "irqmode=2", "completion_nsec=30000000000"});
  auto q = dev->open_queue();
  auto buf = fill(512, 0);
  ASSERT_EQ(q->submit(IoDesc{Op::read, 0, 0, 512, buf.data()}, 1), Status::ok);
  control_set(*dev, "null", {"power=0"});
  auto c = test::reap_n(*q, 1);
  ASSERT_EQ(c.size(), 1u);
  EXPECT_EQ(c[0].status, Status::ioerr);
  EXPECT_EQ(one(*q, IoDesc{Op::read, 0, 0, 512, buf.data()}).status, Status::ioerr);
  EXPECT_EQ(value_of(*dev, "power"), "0");
  control_set(*dev, "null", {"power=1", "irqmode=0"});
  EXPECT_EQ(one(*q, IoDesc{Op::read, 0, 0, 512, buf.data()}).status, Status::ok);
}

TEST(WriteCache, APowerCutKeepsExactlyTheDurableWrites) {
  auto dev = make_device("null", {"size=16", "memory_backed=1", "irqmode=0", "cache_size=1"});
  auto q = dev->open_queue();
  auto a = fill(4096, 0xa), b = fill(4096, 0xb), c = fill(4096, 0xc), d = fill(4096, 0xd);
  ASSERT_EQ(sync_write(*dev, 0, a.data(), 4096), Status::ok);
  ASSERT_EQ(one(*q, IoDesc{Op::flush, 0, 0, 0, nullptr}).status, Status::ok);
  ASSERT_EQ(sync_write(*dev, 0, b.data(), 4096), Status::ok);     // over flushed A: volatile
  ASSERT_EQ(sync_write(*dev, 4096, c.data(), 4096), Status::ok);  // never flushed
  ASSERT_EQ(one(*q, IoDesc{Op::write, kReqFua, 8192, 4096, d.data()}).status, Status::ok);
  EXPECT_EQ(value_of(*dev, "cache_dirty_bytes"), "8192");
  auto r = fill(4096, 0);
  ASSERT_EQ(sync_read(*dev, 0, r.data(), 4096), Status::ok);
  EXPECT_EQ(r, b);  // before the cut, the cache serves the newest data
  control_set(*dev, "null", {"power=0"});
  control_set(*dev, "null", {"power=1"});
  EXPECT_EQ(value_of(*dev, "cache_dirty_bytes"), "0");
  ASSERT_EQ(sync_read(*dev, 0, r.data(), 4096), Status::ok);
  EXPECT_EQ(r, a);  // the flushed write
  ASSERT_EQ(sync_read(*dev, 4096, r.data(), 4096), Status::ok);
  EXPECT_EQ(r, fill(4096, 0));  // as before the write
  ASSERT_EQ(sync_read(*dev, 8192, r.data(), 4096), Status::ok);
  EXPECT_EQ(r, d);  // FUA
}

TEST(WriteCache, EvictedPagesAreDurable) {
  // 1 MiB of cache: 256 pages. 300 writes evict the 44 oldest to the store.
  auto dev = make_device("null", {"size=16", "memory_backed=1", "irqmode=0", "cache_size=1"});
  auto buf = fill(4096, 0x77);
  for (int i = 0; i < 300; ++i)
    ASSERT_EQ(sync_write(*dev, uint64_t(i) * 4096, buf.data(), 4096), Status::ok);
  EXPECT_EQ(value_of(*dev, "cache_evicted_pages"), "44");
  EXPECT_EQ(value_of(*dev, "cache_dirty_bytes"), std::to_string(256 * 4096));
  // A sparse read of a page only the cache holds must see it as data.
  Extent e = dev->block_status(299 * 4096, 4096);
  EXPECT_FALSE(e.hole);
  control_set(*dev, "null", {"power=0"});
  control_set(*dev, "null", {"power=1"});
  auto r = fill(4096, 0);
  for (int i = 0; i < 300; ++i) {
    ASSERT_EQ(sync_read(*dev, uint64_t(i) * 4096, r.data(), 4096), Status::ok);
    EXPECT_EQ(r == buf, i < 44) << "page " << i;
  }
}

TEST(PollQueues, CompleteOnlyWhenTheSubmitterReaps) {
  auto dev = make_device("null", {"size=1", "submit_queues=1", "poll_queues=1"});
  ASSERT_EQ(dev->nr_hw_queues(), 2u);
  auto q = dev->open_queue(1);
  auto buf = fill(512, 0);
  ASSERT_EQ(q->submit(IoDesc{Op::read, 0, 0, 512, buf.data()}, 9), Status::ok);
  EXPECT_GE(q->next_timer_ns(), 0);  // a waiting loop is told to come back now
  IoCompletion c;
  ASSERT_EQ(q->wait(&c, 1, 1, 1'000'000'000), 1u);
  EXPECT_EQ(c.user_data, 9u);
  EXPECT_EQ(c.status, Status::ok);
  EXPECT_LT(q->next_timer_ns(), 0);
}

TEST(VirtBoundary, SegmentsMustNotGapInsideAPage) {
  auto dev = make_device("null", {"size=1", "memory_backed=1", "virt_boundary=1"});
  EXPECT_EQ(dev->limits().virt_boundary_mask, 4095u);
  auto q = dev->open_queue();
  alignas(4096) static std::byte mem[3 * 4096];
  IoSegment ok[2] = {{mem, 4096}, {mem + 8192, 4096}};
  ASSERT_EQ(q->submit_segments(IoDesc{Op::write, 0, 0, 8192, nullptr}, ok, 2, 1), Status::ok);
  EXPECT_EQ(test::reap_n(*q, 1).at(0).status, Status::ok);
  IoSegment gap[2] = {{mem, 2048}, {mem + 8192, 4096}};  // the first ends mid-page
  EXPECT_EQ(q->submit_segments(IoDesc{Op::write, 0, 0, 6144, nullptr}, gap, 2, 2), Status::inval);
}

TEST(LiveControl, RefusesWholeSetsAndLockedAttributes) {
  auto dev = make_device("null", {"size=1", "mbps=5"});
  EXPECT_THROW(control_set(*dev, "null", {"mbps=7", "badblocks=7"}), ConfigError);
  EXPECT_EQ(value_of(*dev, "mbps"), "5");  // nothing of the set applied
  EXPECT_EQ(value_of(*dev, "badblocks"), "");
  try {
    control_set(*dev, "null", {"size=2"});
    ADD_FAILURE() << "size changed live";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("locked while the device is powered"), std::string::npos)
        << e.what();
  }
  EXPECT_THROW(control_set(*dev, "null", {"sise=2"}), ConfigError);
  EXPECT_THROW(control_set(*dev, "null", {"init_hctx=1,100,0,1"}), ConfigError);
  EXPECT_THROW(control_set(*dev, "null", {"completion_nsec=x"}), ConfigError);
  control_set(*dev, "null", {"mbps=0", "completion_nsec=5000", "timeout=2,50,0,-1"});
  EXPECT_EQ(value_of(*dev, "mbps"), "0");
  EXPECT_EQ(value_of(*dev, "completion_nsec"), "5000");
  EXPECT_EQ(value_of(*dev, "timeout"), "2,50,0,-1");
  EXPECT_EQ(value_of(*dev, "size"), "1");
}

}  // namespace
