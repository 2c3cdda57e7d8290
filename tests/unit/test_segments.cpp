// Segmented (scatter-gather) requests: IoQueue::submit_segments, the checks on a segment
// list, RequestView::segment_count()/segment(i), and the null device's store walking them.
#include <gtest/gtest.h>

#include <cstring>
#include <vector>

#include "mqblk/registry.hpp"
#include "test_drivers.hpp"

using namespace mqblk;

namespace {

std::vector<std::byte> pattern(size_t n, unsigned seed) {
  std::vector<std::byte> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = static_cast<std::byte>((i * 37 + seed * 11 + 5) & 0xff);
  return v;
}

Status run_one(IoQueue& q, const IoDesc& io, const IoSegment* segs, unsigned n) {
  Status s = q.submit_segments(io, segs, n, 7);
  if (s != Status::ok) return s;
  auto done = test::reap_n(q, 1);
  if (done.size() != 1 || done[0].user_data != 7) return Status::ioerr;
  return done[0].status;
}

// Records what queue_rq sees of each request's data, then ends it.
struct SegmentSpy {
  using Pdu = NoPdu;
  static constexpr bool kSegments = true;
  std::vector<std::vector<IoSegment>> seen;
  QueueRqResult<SegmentSpy> queue_rq(Hctx<SegmentSpy>&, Owned<SegmentSpy> rq, bool) {
    std::vector<IoSegment> v;
    for (unsigned i = 0; i < rq.segment_count(); ++i) v.push_back(rq.segment(i));
    seen.push_back(v);
    std::move(rq).end(Status::ok);
    return QueueRqResult<SegmentSpy>::accepted();
  }
};

// A driver that reads only data(): it does not declare kSegments.
struct SingleBufferOnly {
  using Pdu = NoPdu;
  QueueRqResult<SingleBufferOnly> queue_rq(Hctx<SingleBufferOnly>&, Owned<SingleBufferOnly> rq,
                                           bool) {
    std::move(rq).end(Status::ok);
    return QueueRqResult<SingleBufferOnly>::accepted();
  }
};

}  // namespace

TEST(Segments, NullStoreWritesAndReadsSegments) {
  auto dev = make_device("null", {"size=16", "memory_backed=1"});
  auto q = dev->open_queue();
  const auto data = pattern(512 + 4096 + 1024, 1);
  std::vector<std::byte> a(512), b(4096), c(1024);
  std::memcpy(a.data(), data.data(), 512);
  std::memcpy(b.data(), data.data() + 512, 4096);
  std::memcpy(c.data(), data.data() + 4608, 1024);
  IoSegment w[] = {{a.data(), 512}, {b.data(), 4096}, {c.data(), 1024}};
  ASSERT_EQ(run_one(*q, IoDesc{Op::write, 0, 8192, 5632, nullptr}, w, 3), Status::ok);

  // Read back as one buffer: the segments landed in order, back to back.
  std::vector<std::byte> whole(5632);
  ASSERT_EQ(sync_read(*dev, 8192, whole.data(), whole.size()), Status::ok);
  EXPECT_EQ(whole, data);

  // And as segments cut elsewhere.
  std::vector<std::byte> x(2560), y(3072);
  IoSegment r[] = {{x.data(), 2560}, {y.data(), 3072}};
  ASSERT_EQ(run_one(*q, IoDesc{Op::read, 0, 8192, 5632, nullptr}, r, 2), Status::ok);
  EXPECT_EQ(0, std::memcmp(x.data(), data.data(), 2560));
  EXPECT_EQ(0, std::memcmp(y.data(), data.data() + 2560, 3072));
}

TEST(Segments, BadListsAreRefusedBeforeAnythingStarts) {
  auto dev = make_device("null", {"size=1", "memory_backed=1"});
  auto q = dev->open_queue();
  std::vector<std::byte> buf(8192);
  IoSegment two[] = {{buf.data(), 4096}, {buf.data() + 4096, 4096}};
  // The lengths do not add up to len.
  EXPECT_EQ(q->submit_segments(IoDesc{Op::write, 0, 0, 4096, nullptr}, two, 2, 1), Status::inval);
  // A buffer and segments at once.
  EXPECT_EQ(q->submit_segments(IoDesc{Op::write, 0, 0, 8192, buf.data()}, two, 2, 1),
            Status::inval);
  // No list, an empty list, an empty or misaligned segment, a segment without a buffer.
  EXPECT_EQ(q->submit_segments(IoDesc{Op::read, 0, 0, 8192, nullptr}, nullptr, 2, 1),
            Status::inval);
  EXPECT_EQ(q->submit_segments(IoDesc{Op::read, 0, 0, 8192, nullptr}, two, 0, 1), Status::inval);
  IoSegment odd[] = {{buf.data(), 100}, {buf.data() + 100, 8092}};
  EXPECT_EQ(q->submit_segments(IoDesc{Op::read, 0, 0, 8192, nullptr}, odd, 2, 1), Status::inval);
  IoSegment hole[] = {{buf.data(), 4096}, {nullptr, 4096}};
  EXPECT_EQ(q->submit_segments(IoDesc{Op::read, 0, 0, 8192, nullptr}, hole, 2, 1), Status::inval);
  // More segments than the disk's max_segments.
  std::vector<IoSegment> many(dev->limits().max_segments + 1, IoSegment{buf.data(), 512});
  EXPECT_EQ(
      q->submit_segments(IoDesc{Op::read, 0, 0, static_cast<uint32_t>(512 * many.size()), nullptr},
                         many.data(), static_cast<unsigned>(many.size()), 1),
      Status::inval);
  // Only reads and writes carry segments.
  EXPECT_EQ(q->submit_segments(IoDesc{Op::flush, 0, 0, 0, nullptr}, two, 2, 1), Status::inval);
  // The range checks of any I/O: a write past the end.
  EXPECT_EQ(q->submit_segments(IoDesc{Op::write, 0, (1u << 20) - 4096, 8192, nullptr}, two, 2, 1),
            Status::nospc);
  EXPECT_EQ(q->outstanding(), 0u);
}

TEST(Segments, DriverSeesSegmentsAndSingleBuffersAlike) {
  Device<SegmentSpy> dev{test::tag_set(1, 4), test::small_disk(), "spy"};
  auto q = dev.open_queue();
  std::vector<std::byte> buf(4096);
  IoSegment segs[] = {{buf.data(), 1024}, {buf.data() + 2048, 2048}};
  ASSERT_EQ(q->submit_segments(IoDesc{Op::write, 0, 0, 3072, nullptr}, segs, 2, 1), Status::ok);
  ASSERT_EQ(q->submit(IoDesc{Op::read, 0, 4096, 512, buf.data()}, 2), Status::ok);
  ASSERT_EQ(q->submit(IoDesc{Op::flush, 0, 0, 0, nullptr}, 3), Status::ok);
  ASSERT_EQ(test::reap_n(*q, 3).size(), 3u);
  auto& seen = dev.driver().seen;
  ASSERT_EQ(seen.size(), 3u);
  ASSERT_EQ(seen[0].size(), 2u);
  EXPECT_EQ(seen[0][0].buf, buf.data());
  EXPECT_EQ(seen[0][0].len, 1024u);
  EXPECT_EQ(seen[0][1].buf, buf.data() + 2048);
  EXPECT_EQ(seen[0][1].len, 2048u);
  ASSERT_EQ(seen[1].size(), 1u);  // a single buffer is one segment
  EXPECT_EQ(seen[1][0].buf, buf.data());
  EXPECT_EQ(seen[1][0].len, 512u);
  EXPECT_TRUE(seen[2].empty());  // a flush has no data
}

TEST(Segments, DriversWithoutSegmentSupportRefuseThem) {
  Device<SingleBufferOnly> dev{test::tag_set(1, 4), test::small_disk(), "single"};
  auto q = dev.open_queue();
  std::vector<std::byte> buf(1024);
  IoSegment segs[] = {{buf.data(), 512}, {buf.data() + 512, 512}};
  EXPECT_EQ(q->submit_segments(IoDesc{Op::read, 0, 0, 1024, nullptr}, segs, 2, 1), Status::notsupp);
  EXPECT_EQ(q->outstanding(), 0u);
}
