// Unit tests of the null device's sparse page store (drivers/null/page_store.hpp).
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

#include "drivers/null/page_store.hpp"
#include "mqblk/registry.hpp"

using mqblk::ConfigError;
using mqblk::Extent;
using mqblk::Status;
using mqblk::null::PageStore;
using mqblk::null::PageStoreOptions;

namespace {

constexpr uint64_t kPage = PageStore::kPageSize;
constexpr uint64_t kMiB = uint64_t{1} << 20;

std::unique_ptr<PageStore> make(uint64_t capacity, uint64_t cap = 0, std::string file = {}) {
  return PageStore::open(PageStoreOptions{capacity, cap, std::move(file)});
}

std::vector<std::byte> pattern(size_t n, unsigned seed) {
  std::vector<std::byte> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = static_cast<std::byte>((i * 131 + seed * 7 + 1) & 0xff);
  return v;
}

std::vector<std::byte> read_back(const PageStore& s, uint64_t off, uint64_t len) {
  std::vector<std::byte> v(len, std::byte{0xEE});
  EXPECT_EQ(s.read(off, v.data(), len), Status::ok);
  return v;
}

bool all_zero(const std::vector<std::byte>& v) {
  return std::all_of(v.begin(), v.end(), [](std::byte b) { return b == std::byte{0}; });
}

// A fresh path in a tmpfs directory (or the temp dir), removed by the destructor.
struct TempPath {
  std::string path;
  TempPath() {
    std::filesystem::path dir = std::filesystem::exists("/dev/shm")
                                    ? std::filesystem::path("/dev/shm")
                                    : std::filesystem::temp_directory_path();
    path = (dir / ("mqblk-test-page-store-" + std::to_string(::getpid()) + "-" +
                   std::to_string(reinterpret_cast<uintptr_t>(this))))
               .string();
    std::filesystem::remove(path);
  }
  ~TempPath() { std::filesystem::remove(path); }
};

}  // namespace

TEST(PageStore, HolesReadZero) {
  auto s = make(64 * kMiB);
  EXPECT_EQ(s->capacity(), 64 * kMiB);
  EXPECT_EQ(s->resident_bytes(), 0u);
  EXPECT_TRUE(all_zero(read_back(*s, 0, 3 * kPage)));
  EXPECT_TRUE(all_zero(read_back(*s, 64 * kMiB - 1000, 1000)));
  EXPECT_EQ(s->resident_bytes(), 0u);  // reads allocate nothing
  Extent e = s->extent_at(0, UINT64_MAX);
  EXPECT_EQ(e.length, 64 * kMiB);
  EXPECT_TRUE(e.hole);
  EXPECT_TRUE(e.zero);
}

TEST(PageStore, RoundTripUnalignedAcrossPages) {
  auto s = make(8 * kMiB);
  const uint64_t off = 3 * kPage - 100;  // starts 100 bytes before a page boundary
  auto data = pattern(2 * kPage + 300, 1);
  ASSERT_EQ(s->write(off, data.data(), data.size()), Status::ok);
  EXPECT_EQ(read_back(*s, off, data.size()), data);
  // Pages 2, 3, 4 and 5 are touched.
  EXPECT_EQ(s->resident_bytes(), 4 * kPage);
  // The bytes around the write are still zero, in the same pages.
  EXPECT_TRUE(all_zero(read_back(*s, 2 * kPage, kPage - 100)));
  EXPECT_TRUE(all_zero(read_back(*s, off + data.size(), 6 * kPage - (off + data.size()))));
  // An unaligned read straddling data and a hole.
  auto mixed = read_back(*s, off - 10, 20);
  for (int i = 0; i < 10; ++i) EXPECT_EQ(mixed[i], std::byte{0});
  for (int i = 0; i < 10; ++i) EXPECT_EQ(mixed[10 + i], data[i]);
  // Overwrite part: no new pages.
  auto more = pattern(512, 2);
  ASSERT_EQ(s->write(off + 1000, more.data(), more.size()), Status::ok);
  std::copy(more.begin(), more.end(), data.begin() + 1000);
  EXPECT_EQ(read_back(*s, off, data.size()), data);
  EXPECT_EQ(s->resident_bytes(), 4 * kPage);
}

TEST(PageStore, OutOfRange) {
  auto s = make(kMiB + 512);  // capacity not a page multiple
  std::byte b[1024] = {};
  EXPECT_EQ(s->write(kMiB, b, 512), Status::ok);
  EXPECT_EQ(s->read(kMiB, b, 512), Status::ok);
  EXPECT_EQ(s->write(kMiB, b, 1024), Status::nospc);
  EXPECT_EQ(s->read(kMiB + 1, b, 512), Status::nospc);
  EXPECT_EQ(s->read(UINT64_MAX - 10, b, 100), Status::nospc);
  EXPECT_EQ(s->discard(kMiB, 1024), Status::nospc);
  EXPECT_EQ(s->write(0, b, 0), Status::ok);
  Extent e = s->extent_at(kMiB, UINT64_MAX);
  EXPECT_EQ(e.length, 512u);
  EXPECT_FALSE(e.hole);
  EXPECT_EQ(s->extent_at(kMiB + 512, 10).length, 0u);
  // A discard to the end frees the last, partial page.
  EXPECT_EQ(s->discard(kMiB, 512), Status::ok);
  EXPECT_EQ(s->resident_bytes(), 0u);
}

TEST(PageStore, DiscardFreesAndReadsZero) {
  auto s = make(16 * kMiB);
  auto data = pattern(10 * kPage, 3);
  ASSERT_EQ(s->write(0, data.data(), data.size()), Status::ok);
  EXPECT_EQ(s->resident_bytes(), 10 * kPage);

  // Whole pages 2..4 go; partial pages keep their other bytes.
  ASSERT_EQ(s->discard(2 * kPage, 3 * kPage), Status::ok);
  EXPECT_EQ(s->resident_bytes(), 7 * kPage);
  EXPECT_TRUE(all_zero(read_back(*s, 2 * kPage, 3 * kPage)));

  // Unaligned discard: pages 6 and 8 partly, page 7 whole.
  const uint64_t off = 6 * kPage + 1000, len = 2 * kPage + 24;
  ASSERT_EQ(s->discard(off, len), Status::ok);
  EXPECT_EQ(s->resident_bytes(), 6 * kPage);
  EXPECT_TRUE(all_zero(read_back(*s, off, len)));
  auto got = read_back(*s, 0, data.size());
  for (uint64_t i = 0; i < data.size(); ++i) {
    bool gone = (i >= 2 * kPage && i < 5 * kPage) || (i >= off && i < off + len);
    ASSERT_EQ(got[i], gone ? std::byte{0} : data[i]) << i;
  }

  // Discard within one page and of holes.
  ASSERT_EQ(s->discard(100, 200), Status::ok);
  EXPECT_EQ(s->resident_bytes(), 6 * kPage);
  EXPECT_TRUE(all_zero(read_back(*s, 100, 200)));
  EXPECT_EQ(read_back(*s, 300, 10), std::vector<std::byte>(data.begin() + 300, data.begin() + 310));
  ASSERT_EQ(s->discard(kMiB, 8 * kMiB), Status::ok);

  // Everything.
  ASSERT_EQ(s->discard(0, s->capacity()), Status::ok);
  EXPECT_EQ(s->resident_bytes(), 0u);
  EXPECT_TRUE(all_zero(read_back(*s, 0, data.size())));
  EXPECT_TRUE(s->extent_at(0, UINT64_MAX).hole);
  EXPECT_EQ(s->extent_at(0, UINT64_MAX).length, s->capacity());

  // A partial write into a punched page sees zeros around it.
  std::byte one{0x5A};
  ASSERT_EQ(s->write(3 * kPage + 7, &one, 1), Status::ok);
  auto page = read_back(*s, 3 * kPage, kPage);
  for (uint64_t i = 0; i < kPage; ++i) ASSERT_EQ(page[i], i == 7 ? one : std::byte{0}) << i;
}

TEST(PageStore, DiscardManyWordsOfBitmap) {
  auto s = make(64 * kMiB);
  auto data = pattern(kPage, 4);
  // Every other page over 300 pages: runs cross 64-page words.
  for (uint64_t p = 0; p < 300; p += 2)
    ASSERT_EQ(s->write(p * kPage, data.data(), kPage), Status::ok);
  for (uint64_t p = 400; p < 600; ++p)
    ASSERT_EQ(s->write(p * kPage, data.data(), kPage), Status::ok);
  EXPECT_EQ(s->resident_bytes(), (150 + 200) * kPage);
  ASSERT_EQ(s->discard(10 * kPage, 580 * kPage), Status::ok);  // pages 10..589
  EXPECT_EQ(s->resident_bytes(), (5 + 10) * kPage);
  EXPECT_TRUE(all_zero(read_back(*s, 10 * kPage, 580 * kPage)));
  EXPECT_EQ(read_back(*s, 8 * kPage, kPage), data);
  EXPECT_EQ(read_back(*s, 590 * kPage, kPage), data);
}

TEST(PageStore, WriteZeroes) {
  auto s = make(4 * kMiB);
  auto data = pattern(4 * kPage, 5);
  ASSERT_EQ(s->write(0, data.data(), data.size()), Status::ok);

  // No unmap: zeros, pages stay allocated.
  ASSERT_EQ(s->write_zeroes(kPage, kPage, false), Status::ok);
  EXPECT_EQ(s->resident_bytes(), 4 * kPage);
  EXPECT_TRUE(all_zero(read_back(*s, kPage, kPage)));
  Extent e = s->extent_at(0, 4 * kPage);
  EXPECT_EQ(e.length, 4 * kPage);
  EXPECT_FALSE(e.hole);

  // No unmap on a hole allocates it.
  ASSERT_EQ(s->write_zeroes(8 * kPage, 2 * kPage, false), Status::ok);
  EXPECT_EQ(s->resident_bytes(), 6 * kPage);
  EXPECT_TRUE(all_zero(read_back(*s, 8 * kPage, 2 * kPage)));
  EXPECT_FALSE(s->extent_at(8 * kPage, kPage).hole);

  // Unmap: the pages go.
  ASSERT_EQ(s->write_zeroes(2 * kPage, 2 * kPage, true), Status::ok);
  EXPECT_EQ(s->resident_bytes(), 4 * kPage);
  EXPECT_TRUE(all_zero(read_back(*s, 2 * kPage, 2 * kPage)));
  EXPECT_TRUE(s->extent_at(2 * kPage, kPage).hole);
  EXPECT_EQ(read_back(*s, 0, kPage), std::vector<std::byte>(data.begin(), data.begin() + kPage));
}

TEST(PageStore, ExtentsOfHalfWrittenStore) {
  auto s = make(2 * kMiB);  // 512 pages
  auto data = pattern(kPage, 6);
  // Data in pages [100, 200) and [300, 301).
  for (uint64_t p = 100; p < 200; ++p)
    ASSERT_EQ(s->write(p * kPage, data.data(), kPage), Status::ok);
  ASSERT_EQ(s->write(300 * kPage + 10, data.data(), 10), Status::ok);

  Extent e = s->extent_at(0, UINT64_MAX);
  EXPECT_TRUE(e.hole);
  EXPECT_TRUE(e.zero);
  EXPECT_EQ(e.length, 100 * kPage);
  e = s->extent_at(100 * kPage, UINT64_MAX);
  EXPECT_FALSE(e.hole);
  EXPECT_FALSE(e.zero);
  EXPECT_EQ(e.length, 100 * kPage);
  e = s->extent_at(150 * kPage + 17, UINT64_MAX);  // unaligned start inside data
  EXPECT_FALSE(e.hole);
  EXPECT_EQ(e.length, 50 * kPage - 17);
  e = s->extent_at(200 * kPage, UINT64_MAX);
  EXPECT_TRUE(e.hole);
  EXPECT_EQ(e.length, 100 * kPage);
  e = s->extent_at(300 * kPage, UINT64_MAX);
  EXPECT_FALSE(e.hole);
  EXPECT_EQ(e.length, kPage);
  e = s->extent_at(301 * kPage, UINT64_MAX);
  EXPECT_TRUE(e.hole);
  EXPECT_EQ(e.length, 211 * kPage);  // to the end
  // max_len bounds the answer.
  e = s->extent_at(100 * kPage, 5000);
  EXPECT_FALSE(e.hole);
  EXPECT_EQ(e.length, 5000u);
  EXPECT_EQ(s->extent_at(0, 0).length, 0u);
  EXPECT_EQ(s->extent_at(s->capacity(), 10).length, 0u);
}

TEST(PageStore, MemoryCapGivesNospc) {
  auto s = make(16 * kMiB, 8 * kPage);
  EXPECT_EQ(s->memory_cap(), 8 * kPage);
  auto data = pattern(6 * kPage, 7);
  ASSERT_EQ(s->write(0, data.data(), data.size()), Status::ok);
  // 3 more pages would pass the cap: refused, nothing written.
  EXPECT_EQ(s->write(10 * kPage, data.data(), 3 * kPage), Status::nospc);
  EXPECT_EQ(s->resident_bytes(), 6 * kPage);
  EXPECT_TRUE(all_zero(read_back(*s, 10 * kPage, 3 * kPage)));
  EXPECT_EQ(s->write_zeroes(10 * kPage, 3 * kPage, false), Status::nospc);
  // Overwriting allocated pages is always fine; 2 new pages fit exactly.
  EXPECT_EQ(s->write(0, data.data(), data.size()), Status::ok);
  EXPECT_EQ(s->write(10 * kPage, data.data(), 2 * kPage), Status::ok);
  EXPECT_EQ(s->resident_bytes(), 8 * kPage);
  EXPECT_EQ(s->write(20 * kPage, data.data(), 1), Status::nospc);
  // Discard gives room back; unmap write_zeroes needs no room.
  EXPECT_EQ(s->write_zeroes(30 * kPage, kPage, true), Status::ok);
  EXPECT_EQ(s->discard(0, 2 * kPage), Status::ok);
  EXPECT_EQ(s->write(20 * kPage, data.data(), 2 * kPage), Status::ok);
  EXPECT_EQ(s->resident_bytes(), 8 * kPage);
}

// Zero-copy writes: bytes put into the window count only once write() is called with the
// window as source, which copies nothing; an abandoned window write leaves no stray bytes.
TEST(PageStore, WindowWriteAndAbandon) {
  auto s = make(16 * kMiB);
  const uint64_t off = 5 * kPage + 700;
  auto data = pattern(3 * kPage, 11);
  std::byte* w = s->window(off, data.size());
  ASSERT_NE(w, nullptr);
  std::copy(data.begin(), data.end(), w);
  // Not written yet: the pages' bits are clear, so they still read as zeros.
  EXPECT_TRUE(all_zero(read_back(*s, off, data.size())));
  EXPECT_EQ(s->resident_bytes(), 0u);
  ASSERT_EQ(s->write(off, w, data.size()), Status::ok);
  EXPECT_EQ(read_back(*s, off, data.size()), data);
  EXPECT_EQ(s->resident_bytes(), 4 * kPage);
  EXPECT_TRUE(all_zero(read_back(*s, 5 * kPage, 700)));  // the rest of the first page

  // An abandoned window write into unallocated pages, then a small write elsewhere in one
  // of those pages: the abandoned bytes must not come back.
  const uint64_t off2 = 12 * kPage + 100;
  std::byte* w2 = s->window(off2, 2 * kPage);
  ASSERT_NE(w2, nullptr);
  std::fill(w2, w2 + 2 * kPage, std::byte{0x5A});
  s->abandon_window(off2, 2 * kPage);
  auto small = pattern(50, 3);
  ASSERT_EQ(s->write(12 * kPage, small.data(), small.size()), Status::ok);
  auto page = read_back(*s, 12 * kPage, kPage);
  EXPECT_TRUE(std::equal(small.begin(), small.end(), page.begin()));
  EXPECT_TRUE(
      std::all_of(page.begin() + 50, page.end(), [](std::byte b) { return b == std::byte{0}; }));
  // Abandoning over allocated pages leaves their data alone.
  s->abandon_window(off, data.size());
  EXPECT_EQ(read_back(*s, off, data.size()), data);

  // No window past the end, nor when a memory cap must be checked before bytes land.
  EXPECT_EQ(s->window(16 * kMiB - 10, 11), nullptr);
  auto capped = make(16 * kMiB, 8 * kPage);
  EXPECT_EQ(capped->window(0, kPage), nullptr);
}

TEST(PageStore, BadOptions) {
  EXPECT_THROW(make(0), ConfigError);
  EXPECT_THROW(make(kMiB, 100), ConfigError);
  EXPECT_THROW(make(kMiB, 0, "/nonexistent-dir-mqblk/x"), std::system_error);
  try {
    make(kMiB, 0, "/nonexistent-dir-mqblk/x");
  } catch (const std::system_error& e) {
    EXPECT_NE(std::string(e.what()).find("backing_file=/nonexistent-dir-mqblk/x"),
              std::string::npos)
        << e.what();
  }
  EXPECT_THROW(make(kMiB, 0, "/dev/null"), ConfigError);  // not a regular file
}

TEST(PageStore, FileBackedSurvivesReopen) {
  TempPath tmp;
  const uint64_t cap = 32 * kMiB;
  auto a = pattern(3 * kPage + 123, 8);
  auto b = pattern(kPage, 9);
  {
    auto s = make(cap, 0, tmp.path);
    EXPECT_EQ(s->backing_file(), tmp.path);
    ASSERT_EQ(s->write(kMiB + 50, a.data(), a.size()), Status::ok);
    ASSERT_EQ(s->write(20 * kMiB, b.data(), b.size()), Status::ok);
    ASSERT_EQ(s->write(cap - 512, b.data(), 512), Status::ok);
    ASSERT_EQ(s->discard(20 * kMiB, kPage), Status::ok);
    ASSERT_EQ(s->write(21 * kMiB, b.data(), b.size()), Status::ok);
    EXPECT_EQ(s->flush(), Status::ok);
    // The file is locked while the store lives.
    EXPECT_THROW(make(cap, 0, tmp.path), ConfigError);
  }
  ASSERT_TRUE(std::filesystem::exists(tmp.path));
  EXPECT_EQ(std::filesystem::file_size(tmp.path), cap);
  // Another size is refused, naming the file.
  try {
    make(2 * cap, 0, tmp.path);
    ADD_FAILURE() << "accepted a size mismatch";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find(tmp.path), std::string::npos) << e.what();
  }
  {
    auto s = make(cap, 0, tmp.path);
    EXPECT_EQ(read_back(*s, kMiB + 50, a.size()), a);
    EXPECT_EQ(read_back(*s, 21 * kMiB, b.size()), b);
    EXPECT_EQ(read_back(*s, cap - 512, 512), std::vector<std::byte>(b.begin(), b.begin() + 512));
    EXPECT_TRUE(all_zero(read_back(*s, 20 * kMiB, kPage)));
    // Pages 256..259 (kMiB + 50 .. + 12411 bytes), 5376 (21 MiB) and the last page.
    EXPECT_EQ(s->resident_bytes(), 6 * kPage);
    Extent e = s->extent_at(0, UINT64_MAX);
    EXPECT_TRUE(e.hole);
    EXPECT_EQ(e.length, kMiB);
    e = s->extent_at(kMiB, UINT64_MAX);
    EXPECT_FALSE(e.hole);
    EXPECT_EQ(e.length, 4 * kPage);
    e = s->extent_at(20 * kMiB, UINT64_MAX);
    EXPECT_TRUE(e.hole);
    EXPECT_EQ(e.length, kMiB);
    EXPECT_FALSE(s->extent_at(cap - kPage, UINT64_MAX).hole);
  }
}

TEST(PageStore, ConcurrentWritersOnDisjointPages) {
  constexpr unsigned kThreads = 4;
  constexpr uint64_t kPagesPerThread = 256;
  auto s = make(kThreads * kPagesPerThread * kPage * 2, kThreads * kPagesPerThread * kPage);
  std::vector<std::thread> threads;
  for (unsigned t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      std::vector<std::byte> buf(kPage);
      // Interleaved pages: neighbours in one bitmap word belong to different threads.
      for (uint64_t i = 0; i < kPagesPerThread; ++i) {
        uint64_t page = i * kThreads + t;
        std::fill(buf.begin(), buf.end(), static_cast<std::byte>(page * 3 + t));
        ASSERT_EQ(s->write(page * kPage, buf.data(), kPage), Status::ok);
        std::vector<std::byte> got(kPage);
        ASSERT_EQ(s->read(page * kPage, got.data(), kPage), Status::ok);
        ASSERT_EQ(got, buf);
        (void)s->extent_at(0, UINT64_MAX);
        // Discard and rewrite every 8th page to stir the counters.
        if (i % 8 == 0) {
          ASSERT_EQ(s->discard(page * kPage, kPage), Status::ok);
          ASSERT_EQ(s->write(page * kPage, buf.data(), kPage), Status::ok);
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(s->resident_bytes(), kThreads * kPagesPerThread * kPage);
  // The cap is now reached exactly.
  std::byte one{1};
  EXPECT_EQ(s->write(kThreads * kPagesPerThread * kPage, &one, 1), Status::nospc);
  for (uint64_t page = 0; page < kThreads * kPagesPerThread; ++page) {
    auto got = read_back(*s, page * kPage, kPage);
    auto want = static_cast<std::byte>(page * 3 + page % kThreads);
    ASSERT_TRUE(std::all_of(got.begin(), got.end(), [&](std::byte b) { return b == want; }))
        << page;
  }
  Extent e = s->extent_at(0, UINT64_MAX);
  EXPECT_FALSE(e.hole);
  EXPECT_EQ(e.length, kThreads * kPagesPerThread * kPage);
}
