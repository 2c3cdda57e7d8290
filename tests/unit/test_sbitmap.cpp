#include <gtest/gtest.h>

#include <set>
#include <thread>
#include <vector>

#include "mqblk/detail/sbitmap.hpp"

using mqblk::detail::Sbitmap;

TEST(Sbitmap, AllocatesEveryTagOnceThenReportsNone) {
  for (uint32_t depth : {1u, 2u, 3u, 4u, 5u, 17u, 63u, 64u, 65u, 128u, 1000u, 4096u}) {
    Sbitmap sb(depth);
    uint32_t hint = 0;
    std::set<uint32_t> got;
    for (uint32_t i = 0; i < depth; ++i) {
      uint32_t t = sb.get(hint);
      ASSERT_LT(t, depth);
      ASSERT_TRUE(got.insert(t).second) << "tag " << t << " handed out twice";
    }
    EXPECT_EQ(sb.get(hint), Sbitmap::kNone);
    EXPECT_EQ(sb.weight(), depth);
    sb.put(depth / 2);
    EXPECT_EQ(sb.get(hint), depth / 2);
  }
}

// As sbitmap_calculate_shift: depth 64 is 4 words of 16 bits, so two submission contexts
// given different initial hints allocate from different cache lines.
TEST(Sbitmap, SmallDepthSpreadsOverWordsAndHintsStartApart) {
  Sbitmap sb(64);
  uint32_t h0 = sb.initial_hint(), h1 = sb.initial_hint();
  EXPECT_NE(h0, h1);
  uint32_t a = sb.get(h0), b = sb.get(h1);
  EXPECT_EQ(a / 16, h0);
  EXPECT_EQ(b / 16, h1);
  Sbitmap big(4096);  // 64 words of 64
  uint32_t h = 63;
  EXPECT_EQ(big.get(h), 63u * 64);
}

TEST(Sbitmap, ExactClaimRefusesTakenAndOutOfRange) {
  Sbitmap sb(100);
  EXPECT_TRUE(sb.get_exact(99));
  EXPECT_FALSE(sb.get_exact(99));
  EXPECT_FALSE(sb.get_exact(100));
  EXPECT_TRUE(sb.test(99));
  sb.put(99);
  EXPECT_FALSE(sb.test(99));
  EXPECT_EQ(sb.weight(), 0u);
}

TEST(Sbitmap, ConcurrentGetPutNeverSharesATag) {
  Sbitmap sb(128);
  std::vector<std::atomic<int>> owners(128);
  std::atomic<bool> bad{false};
  std::vector<std::thread> ts;
  for (int t = 0; t < 4; ++t)
    ts.emplace_back([&] {
      uint32_t hint = 0;
      for (int i = 0; i < 100000; ++i) {
        uint32_t tag = sb.get(hint);
        if (tag == Sbitmap::kNone) continue;
        if (owners[tag].fetch_add(1) != 0) bad = true;
        owners[tag].fetch_sub(1);
        sb.put(tag);
      }
    });
  for (auto& t : ts) t.join();
  EXPECT_FALSE(bad);
  EXPECT_EQ(sb.weight(), 0u);
}
