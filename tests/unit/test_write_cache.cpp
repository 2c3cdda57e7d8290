// The engine's write cache (mqblk/write_cache.hpp) on every kind of driver: the null
// device completing inline and from a timer, and the file driver (io_uring) whose backing
// file is read behind the device's back to see exactly what is durable.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <string>
#include <vector>

#include "mqblk/registry.hpp"
#include "test_drivers.hpp"

using namespace mqblk;

namespace {

using Items = std::vector<std::string>;
using Bytes = std::vector<std::byte>;

Bytes fill(size_t n, int v) { return Bytes(n, std::byte(v)); }

std::string value_of(BlockDevice& dev, const std::string& key) {
  for (const auto& [k, v] : control_get(dev))
    if (k == key) return v;
  return "<absent>";
}

IoCompletion one(IoQueue& q, const IoDesc& io) {
  EXPECT_EQ(q.submit(io, 1), Status::ok);
  auto c = test::reap_n(q, 1);
  EXPECT_EQ(c.size(), 1u);
  return c.empty() ? IoCompletion{0, Status::cancelled, 0} : c[0];
}

Status wr(IoQueue& q, uint64_t off, const Bytes& b, uint32_t flags = 0) {
  return one(q, IoDesc{Op::write, flags, off, static_cast<uint32_t>(b.size()),
                       const_cast<std::byte*>(b.data())})
      .status;
}
Bytes rd(IoQueue& q, uint64_t off, size_t n) {
  Bytes b(n, std::byte(0x55));
  EXPECT_EQ(one(q, IoDesc{Op::read, 0, off, static_cast<uint32_t>(n), b.data()}).status,
            Status::ok);
  return b;
}
Status flush(IoQueue& q) { return one(q, IoDesc{Op::flush, 0, 0, 0, nullptr}).status; }

void cut_and_restore(BlockDevice& dev, const std::string& driver) {
  control_set(dev, driver, {"power=0"});
  control_set(dev, driver, {"power=1"});
}

// A backing file of 4 MiB of zeros, removed by the destructor.
struct TempFile {
  std::string path;
  TempFile() {
    char tmpl[] = "/tmp/mqblk-wcache-XXXXXX";
    int fd = mkstemp(tmpl);
    EXPECT_GE(fd, 0);
    EXPECT_EQ(ftruncate(fd, 4 << 20), 0);
    close(fd);
    path = tmpl;
  }
  ~TempFile() { unlink(path.c_str()); }
  Bytes read(uint64_t off, size_t n) const {
    Bytes b(n);
    int fd = open(path.c_str(), O_RDONLY);
    EXPECT_EQ(pread(fd, b.data(), n, static_cast<off_t>(off)), static_cast<ssize_t>(n));
    close(fd);
    return b;
  }
};

// The drivers the rules are checked on: (driver, attributes).
struct Config {
  const char* name;
  std::string driver;
  Items attrs;
};

class CacheRules : public ::testing::TestWithParam<int> {
 protected:
  TempFile file;
  Config config(const std::string& cache) const {
    switch (GetParam()) {
      case 0: return {"null_inline", "null", {"size=4", "memory_backed=1", "irqmode=0", cache}};
      case 1:
        return {"null_timer",
                "null",
                {"size=4", "memory_backed=1", "irqmode=2", "completion_nsec=200000", cache}};
      default: return {"file", "file", {"path=" + file.path, cache}};
    }
  }
  bool is_file() const { return GetParam() == 2; }
};

TEST_P(CacheRules, APowerCutKeepsExactlyFlushedFuaAndEvicted) {
  Config c = config("cache_size=1");
  auto dev = make_device(c.driver, c.attrs);
  auto q = dev->open_queue();
  const Bytes a = fill(4096, 0xa), b = fill(4096, 0xb), cc = fill(4096, 0xc), d = fill(4096, 0xd);
  ASSERT_EQ(wr(*q, 0, a), Status::ok);
  ASSERT_EQ(flush(*q), Status::ok);
  if (is_file()) {
    EXPECT_EQ(file.read(0, 4096), a);  // in the driver: durable
  }
  ASSERT_EQ(wr(*q, 0, b), Status::ok);      // over flushed A: volatile
  ASSERT_EQ(wr(*q, 4096, cc), Status::ok);  // never flushed
  ASSERT_EQ(wr(*q, 8192, d, kReqFua), Status::ok);
  EXPECT_EQ(value_of(*dev, "cache_dirty_bytes"), "8192");
  EXPECT_EQ(rd(*q, 0, 4096), b);  // the cache holds the newest data
  EXPECT_EQ(rd(*q, 4096, 4096), cc);
  if (is_file()) {
    EXPECT_EQ(file.read(0, 4096), a);                 // the file has not seen B...
    EXPECT_EQ(file.read(4096, 4096), fill(4096, 0));  // ...nor C
    EXPECT_EQ(file.read(8192, 4096), d);              // FUA went through
  }
  cut_and_restore(*dev, c.driver);
  EXPECT_EQ(value_of(*dev, "cache_dirty_bytes"), "0");
  EXPECT_EQ(rd(*q, 0, 4096), a);
  EXPECT_EQ(rd(*q, 4096, 4096), fill(4096, 0));
  EXPECT_EQ(rd(*q, 8192, 4096), d);
  q.reset();
  dev.reset();
  if (is_file()) {
    EXPECT_EQ(file.read(0, 4096), a);
    EXPECT_EQ(file.read(4096, 4096), fill(4096, 0));
    EXPECT_EQ(file.read(8192, 4096), d);
  }
}

TEST_P(CacheRules, ReadsLayTheCachedSectorsOverTheDriversPage) {
  Config c = config("cache_size=1");
  auto dev = make_device(c.driver, c.attrs);
  auto q = dev->open_queue();
  ASSERT_EQ(wr(*q, 0, fill(8192, 0x11)), Status::ok);
  ASSERT_EQ(flush(*q), Status::ok);
  ASSERT_EQ(wr(*q, 1024, fill(512, 0x22)), Status::ok);  // one sector of a page, cached
  ASSERT_EQ(wr(*q, 4096 + 3584, fill(512, 0x33)), Status::ok);
  Bytes want = fill(8192, 0x11);
  std::fill(want.begin() + 1024, want.begin() + 1536, std::byte(0x22));
  std::fill(want.begin() + 7680, want.end(), std::byte(0x33));
  EXPECT_EQ(rd(*q, 0, 8192), want);
  EXPECT_EQ(rd(*q, 512, 1024), Bytes(want.begin() + 512, want.begin() + 1536));
  // Segmented read: the overlay crosses segment boundaries.
  Bytes both(8192, std::byte(0));
  IoSegment segs[2] = {{both.data(), 1024}, {both.data() + 1024, 8192 - 1024}};
  if (dev->limits().max_segments >= 2 &&
      q->submit_segments(IoDesc{Op::read, 0, 0, 8192, nullptr}, segs, 2, 7) == Status::ok) {
    auto r = test::reap_n(*q, 1);
    ASSERT_EQ(r.size(), 1u);
    EXPECT_EQ(r[0].status, Status::ok);
    EXPECT_EQ(both, want);
  }
  ASSERT_EQ(flush(*q), Status::ok);
  EXPECT_EQ(value_of(*dev, "cache_dirty_bytes"), "0");
  cut_and_restore(*dev, c.driver);
  EXPECT_EQ(rd(*q, 0, 8192), want);  // flushed: every cached sector reached the driver
  q.reset();
  dev.reset();
  if (is_file()) {
    EXPECT_EQ(file.read(0, 8192), want);
  }
}

TEST_P(CacheRules, EvictionWritesBackTheOldestPagesFirst) {
  Config c = config("cache_size=8K");  // two pages
  auto dev = make_device(c.driver, c.attrs);
  auto q = dev->open_queue();
  for (int i = 0; i < 5; ++i)
    ASSERT_EQ(wr(*q, uint64_t(i) * 4096, fill(4096, 0x40 + i)), Status::ok);
  EXPECT_EQ(value_of(*dev, "cache_evicted_pages"), "3");
  EXPECT_EQ(value_of(*dev, "cache_dirty_bytes"), "8192");
  for (int i = 0; i < 5; ++i) EXPECT_EQ(rd(*q, uint64_t(i) * 4096, 4096), fill(4096, 0x40 + i));
  // Rewriting a cached page needs no room.
  ASSERT_EQ(wr(*q, 4 * 4096, fill(4096, 0x50)), Status::ok);
  EXPECT_EQ(value_of(*dev, "cache_evicted_pages"), "3");
  cut_and_restore(*dev, c.driver);
  for (int i = 0; i < 5; ++i)
    EXPECT_EQ(rd(*q, uint64_t(i) * 4096, 4096), i < 3 ? fill(4096, 0x40 + i) : fill(4096, 0))
        << "page " << i;
  // A write larger than the whole cache goes through: durable at once.
  ASSERT_EQ(wr(*q, 65536, fill(16384, 0x66)), Status::ok);
  EXPECT_EQ(value_of(*dev, "cache_dirty_bytes"), "0");
  cut_and_restore(*dev, c.driver);
  EXPECT_EQ(rd(*q, 65536, 16384), fill(16384, 0x66));
}

TEST_P(CacheRules, AFlushOnAnyQueueCoversWritesOfEveryQueue) {
  Config c = config("cache_size=1");
  c.attrs.push_back("submit_queues=2");
  auto dev = make_device(c.driver, c.attrs);
  auto q0 = dev->open_queue(0), q1 = dev->open_queue(1);
  ASSERT_EQ(wr(*q0, 0, fill(65536, 0x71)), Status::ok);  // 16 pages: write-backs in runs
  ASSERT_EQ(wr(*q0, 1 << 20, fill(4096, 0x72)), Status::ok);
  ASSERT_EQ(flush(*q1), Status::ok);
  ASSERT_EQ(wr(*q0, 2 << 20, fill(4096, 0x73)), Status::ok);  // after the flush: volatile
  cut_and_restore(*dev, c.driver);
  EXPECT_EQ(rd(*q1, 0, 65536), fill(65536, 0x71));
  EXPECT_EQ(rd(*q1, 1 << 20, 4096), fill(4096, 0x72));
  EXPECT_EQ(rd(*q1, 2 << 20, 4096), fill(4096, 0));
}

// A FLUSH (or a PREFLUSH write) holding the queue's only tag, with dirty pages to write
// back, still ends: the write-backs take the engine's reserved tag (mqblk/tag_set.hpp).
// Before the reserved tag it requeued forever (every tag held by a request waiting for
// write-backs that none could start); this test failed then.
TEST_P(CacheRules, AFlushHoldingEveryTagStillWritesBack) {
  Config c = config("cache_size=1");
  c.attrs.push_back("hw_queue_depth=1");
  auto dev = make_device(c.driver, c.attrs);
  auto q = dev->open_queue();
  for (unsigned i = 0; i < 8; ++i)  // eight dirty pages apart: eight write-back runs
    ASSERT_EQ(wr(*q, uint64_t{i} * 65536, fill(4096, 0x90 + static_cast<int>(i))), Status::ok);
  ASSERT_EQ(flush(*q), Status::ok);
  EXPECT_EQ(value_of(*dev, "cache_dirty_bytes"), "0");
  ASSERT_EQ(wr(*q, 1 << 20, fill(4096, 0x9a)), Status::ok);
  ASSERT_EQ(wr(*q, 2 << 20, fill(4096, 0x9b), kReqPreflush), Status::ok);
  EXPECT_EQ(value_of(*dev, "cache_dirty_bytes"), "0");  // the PREFLUSH wrote 0x9a back
  cut_and_restore(*dev, c.driver);
  for (unsigned i = 0; i < 8; ++i)
    EXPECT_EQ(rd(*q, uint64_t{i} * 65536, 4096), fill(4096, 0x90 + static_cast<int>(i)));
  EXPECT_EQ(rd(*q, 1 << 20, 4096), fill(4096, 0x9a));
  EXPECT_EQ(rd(*q, 2 << 20, 4096), fill(4096, 0x9b));
}

INSTANTIATE_TEST_SUITE_P(
    Drivers, CacheRules, ::testing::Values(0, 1, 2), [](const ::testing::TestParamInfo<int>& i) {
      return std::string(i.param == 0 ? "null_inline" : i.param == 1 ? "null_timer" : "file");
    });

// On null, whose write_zeroes acts on its page store (inline and timer completions).
TEST(WriteCacheNull, WriteZeroesDropsTheCachedBytes) {
  for (const char* irq : {"irqmode=0", "irqmode=2"}) {
    SCOPED_TRACE(irq);
    auto dev = make_device(
        "null", {"size=4", "memory_backed=1", irq, "completion_nsec=100000", "cache_size=1"});
    auto q = dev->open_queue();
    ASSERT_EQ(wr(*q, 0, fill(8192, 0x81)), Status::ok);
    ASSERT_EQ(one(*q, IoDesc{Op::write_zeroes, 0, 0, 4096 + 512, nullptr}).status, Status::ok);
    Bytes want = fill(8192, 0x81);
    std::fill(want.begin(), want.begin() + 4608, std::byte(0));
    EXPECT_EQ(rd(*q, 0, 8192), want);
    EXPECT_EQ(value_of(*dev, "cache_dirty_bytes"), "4096");  // page 0 left the cache
    ASSERT_EQ(flush(*q), Status::ok);
    cut_and_restore(*dev, "null");
    EXPECT_EQ(rd(*q, 0, 8192), want);
  }
}

TEST(WriteCacheConfig, RefusedWhereItCannotWork) {
  TempFile f;
  auto refused = [](const std::string& driver, const Items& attrs, const std::string& word) {
    try {
      (void)make_device(driver, attrs);
      ADD_FAILURE() << "accepted: " << driver;
    } catch (const ConfigError& e) {
      const std::string m = e.what();
      EXPECT_NE(m.find("cache_size"), std::string::npos) << m;
      EXPECT_NE(m.find(word), std::string::npos) << m;
      EXPECT_EQ(m.find('\n'), std::string::npos) << m;
    }
  };
  refused("file", {"path=" + f.path, "readonly=1", "cache_size=1"}, "read-only");
  refused("null", {"size=4", "cache_size=1"}, "memory_backed=1");
  refused("null", {"size=64", "memory_backed=1", "zoned=1", "zone_size=4", "cache_size=1"}, "zone");
  refused("null", {"size=4", "memory_backed=1", "cache_size=1K"}, "4 KiB");
  refused("null", {"size=4", "memory_backed=1", "cache_size=x"}, "number");
  auto dev = make_device("null", {"size=4", "memory_backed=1", "cache_size=2"});
  EXPECT_EQ(value_of(*dev, "cache_size"), "2");
  EXPECT_THROW(control_set(*dev, "null", {"cache_size=4"}), ConfigError);
  EXPECT_EQ(value_of(*dev, "cache_size"), "2");
  // Without a cache the figures exist too, at zero.
  auto plain = make_device("file", {"path=" + f.path});
  EXPECT_EQ(value_of(*plain, "cache_dirty_bytes"), "0");
  EXPECT_EQ(value_of(*plain, "cache_size"), "0");
}

}  // namespace
