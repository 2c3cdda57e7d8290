// Unit tests of the zone model (mqblk/zoned.hpp) and of the zoned null device through the
// engine's real submission path (IoQueue), one rule per test, as null_blk's zoned.c has them.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstring>
#include <string>
#include <vector>

#include "drivers/null/null_driver.hpp"
#include "mqblk/zoned.hpp"

using namespace mqblk;

namespace {

constexpr uint64_t kZone = 2048;  // sectors: 1 MiB zones

// 8 zones of 1 MiB, the first conventional, capacity 768 KiB, unless changed.
ZoneGeometry geom(uint32_t max_open = 0, uint32_t max_active = 0) {
  ZoneGeometry g;
  g.capacity_sectors = 8 * kZone;
  g.zone_size_sectors = kZone;
  g.zone_capacity_sectors = 1536;
  g.nr_conv = 1;
  g.max_open = max_open;
  g.max_active = max_active;
  g.max_append_sectors = 256;
  return g;
}

Status wr(ZoneTable& t, uint64_t sector, uint32_t n, bool append = false, uint64_t* at = nullptr) {
  return t.write(sector, n, append, at, [](uint64_t) { return Status::ok; });
}
ZoneCond cond(const ZoneTable& t, uint32_t zno) { return t.zone(zno).cond; }
uint64_t zs(uint32_t zno) { return zno * kZone; }  // first sector of zone zno

}  // namespace

TEST(ZoneTable, Layout) {
  ZoneGeometry g = geom();
  g.capacity_sectors = 7 * kZone + 1024;  // a smaller last zone
  g.zone_capacity_sectors = kZone;
  ZoneTable t(g);
  ASSERT_EQ(t.nr_zones(), 8u);
  ZoneInfo z0 = t.zone(0);
  EXPECT_EQ(z0.type, ZoneType::conventional);
  EXPECT_EQ(z0.cond, ZoneCond::not_wp);
  EXPECT_EQ(z0.wp, kZone);
  ZoneInfo z1 = t.zone(1);
  EXPECT_EQ(z1.type, ZoneType::seq_write_required);
  EXPECT_EQ(z1.cond, ZoneCond::empty);
  EXPECT_EQ(z1.wp, kZone);
  EXPECT_EQ(z1.capacity, kZone);
  ZoneInfo last = t.zone(7);
  EXPECT_EQ(last.len, 1024u);
  EXPECT_EQ(last.capacity, 1024u);
  std::vector<ZoneInfo> r(16);
  EXPECT_EQ(t.report(zs(6) + 5, r.data(), 16), 2u);
  EXPECT_EQ(r[0].start, zs(6));
  EXPECT_EQ(t.report(8 * kZone, r.data(), 16), 0u);
}

TEST(ZoneTable, GeometryRefusals) {
  ZoneGeometry g = geom();
  g.zone_size_sectors = 3000;
  EXPECT_NE(g.validate().find("power of two"), std::string::npos);
  g = geom();
  g.zone_capacity_sectors = kZone + 8;
  EXPECT_FALSE(g.validate().empty());
  g = geom();
  g.nr_conv = 8;
  EXPECT_FALSE(g.validate().empty());
  g = geom(0, 7);  // 7 sequential zones: a limit of 7 is no limit
  EXPECT_FALSE(g.validate().empty());
  EXPECT_THROW(ZoneTable{g}, ConfigError);
}

TEST(ZoneTable, WriteAtWritePointerAdvancesAndFills) {
  ZoneTable t(geom());
  EXPECT_EQ(wr(t, zs(1), 8), Status::ok);
  EXPECT_EQ(t.zone(1).wp, zs(1) + 8);
  EXPECT_EQ(cond(t, 1), ZoneCond::imp_open);
  EXPECT_EQ(t.counts().imp_open, 1u);
  EXPECT_EQ(wr(t, zs(1), 8), Status::ioerr) << "not at the write pointer";
  EXPECT_EQ(wr(t, zs(1) + 16, 8), Status::ioerr) << "ahead of the write pointer";
  EXPECT_EQ(wr(t, zs(1) + 8, 1536), Status::ioerr) << "past the zone capacity";
  EXPECT_EQ(wr(t, zs(1) + 8, 1528), Status::ok);
  EXPECT_EQ(cond(t, 1), ZoneCond::full);
  EXPECT_EQ(t.counts().imp_open, 0u);
  EXPECT_EQ(wr(t, zs(1) + 1536, 8), Status::ioerr) << "write to a full zone";
  EXPECT_EQ(wr(t, zs(2) + kZone - 8, 16), Status::inval) << "crosses a zone";
}

TEST(ZoneTable, FailedStoreLeavesWritePointer) {
  ZoneTable t(geom());
  EXPECT_EQ(t.write(zs(2), 8, false, nullptr, [](uint64_t) { return Status::nospc; }),
            Status::nospc);
  EXPECT_EQ(t.zone(2).wp, zs(2));
}

TEST(ZoneTable, ConventionalZones) {
  ZoneTable t(geom());
  EXPECT_EQ(wr(t, 100, 8), Status::ok) << "anywhere";
  EXPECT_EQ(wr(t, 8, 8), Status::ok) << "again, backwards";
  EXPECT_EQ(wr(t, 0, 8, true), Status::ioerr) << "no append to a conventional zone";
  EXPECT_EQ(t.manage(Op::zone_open, 0, {}), Status::ioerr);
  EXPECT_EQ(t.manage(Op::zone_reset, 0, {}), Status::ioerr);
  EXPECT_EQ(t.set_condition(0, ZoneCond::read_only, {}), Status::inval);
  EXPECT_EQ(cond(t, 0), ZoneCond::not_wp);
}

TEST(ZoneTable, AppendReturnsWhereItWrote) {
  ZoneTable t(geom());
  uint64_t at = 0;
  EXPECT_EQ(wr(t, zs(3), 8, true, &at), Status::ok);
  EXPECT_EQ(at, zs(3));
  EXPECT_EQ(wr(t, zs(3), 16, true, &at), Status::ok);
  EXPECT_EQ(at, zs(3) + 8);
  EXPECT_EQ(t.zone(3).wp, zs(3) + 24);
  ZoneGeometry g = geom();
  g.max_append_sectors = 0;
  ZoneTable no_append(g);
  EXPECT_EQ(wr(no_append, zs(3), 8, true, &at), Status::ioerr);
}

TEST(ZoneTable, OpenCloseFinishReset) {
  ZoneTable t(geom());
  uint64_t discarded = 0;
  ZoneDiscard d{[](void* c, uint64_t, uint64_t n) { *static_cast<uint64_t*>(c) += n; }, &discarded};
  // open: empty -> exp_open; again is no error; a write keeps it explicitly open.
  EXPECT_EQ(t.manage(Op::zone_open, zs(1), d), Status::ok);
  EXPECT_EQ(cond(t, 1), ZoneCond::exp_open);
  EXPECT_EQ(t.manage(Op::zone_open, zs(1), d), Status::ok);
  EXPECT_EQ(wr(t, zs(1), 8), Status::ok);
  EXPECT_EQ(cond(t, 1), ZoneCond::exp_open);
  // close: written -> closed; an empty open zone closes to empty; closing closed is ok.
  EXPECT_EQ(t.manage(Op::zone_close, zs(1), d), Status::ok);
  EXPECT_EQ(cond(t, 1), ZoneCond::closed);
  EXPECT_EQ(t.counts().closed, 1u);
  EXPECT_EQ(t.manage(Op::zone_close, zs(1), d), Status::ok);
  EXPECT_EQ(t.manage(Op::zone_open, zs(2), d), Status::ok);
  EXPECT_EQ(t.manage(Op::zone_close, zs(2), d), Status::ok);
  EXPECT_EQ(cond(t, 2), ZoneCond::empty);
  EXPECT_EQ(t.manage(Op::zone_close, zs(2), d), Status::ioerr) << "close an empty zone";
  // a write reopens a closed zone implicitly.
  EXPECT_EQ(wr(t, zs(1) + 8, 8), Status::ok);
  EXPECT_EQ(cond(t, 1), ZoneCond::imp_open);
  // finish: wp to the zone's end (len, not capacity); finish of full is ok.
  EXPECT_EQ(t.manage(Op::zone_finish, zs(1), d), Status::ok);
  EXPECT_EQ(cond(t, 1), ZoneCond::full);
  EXPECT_EQ(t.zone(1).wp, zs(1) + kZone);
  EXPECT_EQ(t.manage(Op::zone_finish, zs(1), d), Status::ok);
  EXPECT_EQ(t.manage(Op::zone_open, zs(1), d), Status::ioerr) << "open a full zone";
  EXPECT_EQ(t.manage(Op::zone_close, zs(1), d), Status::ioerr) << "close a full zone";
  // reset: back to empty, data discarded; reset of empty is ok.
  EXPECT_EQ(t.manage(Op::zone_reset, zs(1), d), Status::ok);
  EXPECT_EQ(cond(t, 1), ZoneCond::empty);
  EXPECT_EQ(t.zone(1).wp, zs(1));
  EXPECT_EQ(discarded, kZone);
  EXPECT_EQ(t.manage(Op::zone_reset, zs(1), d), Status::ok);
  EXPECT_EQ(t.counts().imp_open + t.counts().exp_open + t.counts().closed, 0u);
}

TEST(ZoneTable, ResetAllSkipsReadOnlyAndOffline) {
  ZoneTable t(geom());
  for (uint32_t z = 1; z < 5; ++z) ASSERT_EQ(wr(t, zs(z), 8), Status::ok);
  ASSERT_EQ(t.set_condition(zs(2), ZoneCond::read_only, {}), Status::ok);
  ASSERT_EQ(t.set_condition(zs(3), ZoneCond::offline, {}), Status::ok);
  EXPECT_EQ(t.manage(Op::zone_reset_all, 0, {}), Status::ok);
  EXPECT_EQ(cond(t, 1), ZoneCond::empty);
  EXPECT_EQ(cond(t, 2), ZoneCond::read_only);
  EXPECT_EQ(cond(t, 3), ZoneCond::offline);
  EXPECT_EQ(cond(t, 4), ZoneCond::empty);
  EXPECT_EQ(t.counts().imp_open, 0u);
}

TEST(ZoneTable, ReadOnlyAndOfflineZones) {
  ZoneTable t(geom());
  ASSERT_EQ(wr(t, zs(2), 8), Status::ok);
  ASSERT_EQ(t.set_condition(zs(2) + 100, ZoneCond::read_only, {}), Status::ok);
  EXPECT_EQ(t.zone(2).wp, kZoneInvalidWp);
  EXPECT_EQ(t.counts().imp_open, 0u) << "finished first: its resources are given back";
  EXPECT_EQ(wr(t, zs(2) + 8, 8), Status::ioerr);
  EXPECT_EQ(wr(t, zs(2), 8, true), Status::ioerr);
  EXPECT_EQ(t.manage(Op::zone_reset, zs(2), {}), Status::ioerr);
  EXPECT_EQ(t.manage(Op::zone_finish, zs(2), {}), Status::ioerr);
  uint32_t valid = 0;
  EXPECT_EQ(t.read_check(zs(2), 8, &valid), Status::ok);
  EXPECT_EQ(valid, 8u) << "a read-only zone reads whole";
  ASSERT_EQ(t.set_condition(zs(4), ZoneCond::offline, {}), Status::ok);
  EXPECT_EQ(t.read_check(zs(4), 8, &valid), Status::ioerr) << "offline zones are not readable";
  // The same condition again brings the zone back, empty.
  ASSERT_EQ(t.set_condition(zs(4), ZoneCond::offline, {}), Status::ok);
  EXPECT_EQ(cond(t, 4), ZoneCond::empty);
  EXPECT_EQ(t.zone(4).wp, zs(4));
}

TEST(ZoneTable, ReadsPastTheWritePointer) {
  ZoneTable t(geom());
  ASSERT_EQ(wr(t, zs(1), 16), Status::ok);
  uint32_t valid = 99;
  EXPECT_EQ(t.read_check(zs(1), 8, &valid), Status::ok);
  EXPECT_EQ(valid, 8u);
  EXPECT_EQ(t.read_check(zs(1) + 8, 16, &valid), Status::ok);
  EXPECT_EQ(valid, 8u);
  EXPECT_EQ(t.read_check(zs(1) + 32, 8, &valid), Status::ok);
  EXPECT_EQ(valid, 0u);
  EXPECT_EQ(t.read_check(100, 8, &valid), Status::ok);
  EXPECT_EQ(valid, 8u) << "conventional zones read whole";
}

TEST(ZoneTable, MaxOpenClosesAnImplicitlyOpenZone) {
  ZoneTable t(geom(2));
  ASSERT_EQ(wr(t, zs(1), 8), Status::ok);
  ASSERT_EQ(wr(t, zs(2), 8), Status::ok);
  // A third implicit open closes the first implicitly open zone (round robin from zone 1).
  ASSERT_EQ(wr(t, zs(3), 8), Status::ok);
  EXPECT_EQ(cond(t, 1), ZoneCond::closed);
  EXPECT_EQ(cond(t, 2), ZoneCond::imp_open);
  EXPECT_EQ(cond(t, 3), ZoneCond::imp_open);
  // The next closes zone 2 (the search goes on after the last zone it closed).
  ASSERT_EQ(wr(t, zs(4), 8), Status::ok);
  EXPECT_EQ(cond(t, 2), ZoneCond::closed);
  ZoneCounts c = t.counts();
  EXPECT_EQ(c.imp_open, 2u);
  EXPECT_EQ(c.closed, 2u);
}

TEST(ZoneTable, MaxOpenRefusesWhenAllOpenAreExplicit) {
  ZoneTable t(geom(2));
  ASSERT_EQ(t.manage(Op::zone_open, zs(1), {}), Status::ok);
  ASSERT_EQ(t.manage(Op::zone_open, zs(2), {}), Status::ok);
  EXPECT_EQ(t.manage(Op::zone_open, zs(3), {}), Status::zone_open_resource);
  EXPECT_EQ(wr(t, zs(3), 8), Status::zone_open_resource);
  EXPECT_EQ(t.manage(Op::zone_finish, zs(3), {}), Status::zone_open_resource)
      << "finishing an empty zone needs it opened";
  EXPECT_EQ(wr(t, zs(1), 8), Status::ok) << "open zones still take writes";
  ASSERT_EQ(t.manage(Op::zone_close, zs(1), {}), Status::ok);
  EXPECT_EQ(t.manage(Op::zone_open, zs(3), {}), Status::ok);
}

TEST(ZoneTable, MaxActive) {
  ZoneTable t(geom(2, 3));
  ASSERT_EQ(wr(t, zs(1), 8), Status::ok);
  ASSERT_EQ(wr(t, zs(2), 8), Status::ok);
  ASSERT_EQ(wr(t, zs(3), 8), Status::ok);  // closes zone 1: 2 open + 1 closed = 3 active
  EXPECT_EQ(cond(t, 1), ZoneCond::closed);
  EXPECT_EQ(wr(t, zs(4), 8), Status::zone_active_resource);
  EXPECT_EQ(t.manage(Op::zone_open, zs(4), {}), Status::zone_active_resource);
  EXPECT_EQ(cond(t, 4), ZoneCond::empty);
  // Reopening the closed zone needs an open slot, and null_blk closes an implicitly open
  // zone for it only while the active limit has room: it has none, so the write fails.
  EXPECT_EQ(wr(t, zs(1) + 8, 8), Status::zone_open_resource);
  EXPECT_EQ(cond(t, 1), ZoneCond::closed);
  // Finishing a zone frees its activity.
  ASSERT_EQ(t.manage(Op::zone_finish, zs(2), {}), Status::ok);
  EXPECT_EQ(wr(t, zs(4), 8), Status::ok);
}

TEST(ZoneTable, ZoneFull) {
  ZoneGeometry g = geom();
  g.full = true;
  ZoneTable t(g);
  EXPECT_EQ(cond(t, 1), ZoneCond::full);
  EXPECT_EQ(t.zone(1).wp, zs(1) + 1536) << "at the capacity, as null_blk's zone_full";
  EXPECT_EQ(wr(t, zs(1), 8, true), Status::ioerr);
  EXPECT_EQ(t.manage(Op::zone_reset_all, 0, {}), Status::ok);
  EXPECT_EQ(cond(t, 7), ZoneCond::empty);
}

TEST(ZoneTable, SaveRestore) {
  ZoneTable t(geom(3));
  ASSERT_EQ(wr(t, zs(1), 8), Status::ok);
  ASSERT_EQ(t.manage(Op::zone_open, zs(2), {}), Status::ok);
  ASSERT_EQ(wr(t, zs(3), 1536), Status::ok);
  ASSERT_EQ(t.manage(Op::zone_finish, zs(4), {}), Status::ok);
  ASSERT_EQ(t.set_condition(zs(5), ZoneCond::read_only, {}), Status::ok);
  std::vector<std::byte> b = t.save();
  EXPECT_EQ(b.size(), ZoneTable::saved_size(geom(3)));
  ZoneTable u(geom(3));
  ASSERT_TRUE(u.restore(b.data(), b.size()));
  EXPECT_EQ(cond(u, 1), ZoneCond::imp_open) << "as it was";
  EXPECT_EQ(u.zone(1).wp, zs(1) + 8);
  EXPECT_EQ(cond(u, 2), ZoneCond::exp_open);
  EXPECT_EQ(cond(u, 3), ZoneCond::full);
  EXPECT_EQ(u.zone(4).wp, zs(4) + kZone);
  EXPECT_EQ(cond(u, 5), ZoneCond::read_only);
  EXPECT_EQ(u.counts().imp_open, 1u);
  EXPECT_EQ(u.counts().exp_open, 1u);
  EXPECT_EQ(wr(u, zs(1) + 8, 8), Status::ok);
  // An image with more open zones than this geometry allows is refused.
  ZoneTable tight(geom(1));
  EXPECT_FALSE(tight.restore(b.data(), b.size()));
  // Another geometry, or damaged bytes, are refused without changing anything.
  ZoneGeometry other = geom();
  other.capacity_sectors = 4 * kZone;
  ZoneTable v(other);
  EXPECT_FALSE(v.restore(b.data(), b.size()));
  b[24] = std::byte{0xff};  // zone 0's write pointer
  EXPECT_FALSE(u.restore(b.data(), b.size()));
  EXPECT_EQ(cond(u, 1), ZoneCond::imp_open);
}

// ---- the zoned null device through the engine ----

namespace {

using null::make_null_devices;
using null::plan_null_device;

std::string plan_error(const std::vector<std::string>& a) {
  try {
    (void)plan_null_device(a);
  } catch (const ConfigError& e) {
    return e.what();
  }
  return {};
}

}  // namespace

TEST(ZonedNull, AttributesDefaultsAndLimits) {
  auto p = plan_null_device({"size=1024", "zoned=1"});
  EXPECT_EQ(p.limits.zoned, ZonedModel::host_managed);
  EXPECT_EQ(p.limits.zone_size_sectors, (256u << 20) >> 9) << "zone_size defaults to 256 MB";
  EXPECT_EQ(p.zoned.geometry.zone_capacity_sectors, (256u << 20) >> 9);
  EXPECT_EQ(p.zoned.geometry.nr_zones(), 4u);
  EXPECT_EQ(p.limits.max_zone_append_sectors, (256u << 20) >> 9) << "capped at the capacity";
  EXPECT_EQ(p.limits.max_write_zeroes_sectors, 0u);
  EXPECT_TRUE(p.zoned.notes.empty());
  p = plan_null_device(
      {"size=64", "zoned=1", "zone_size=8", "blocksize=4096", "zone_append_max_sectors=13"});
  EXPECT_EQ(p.limits.max_zone_append_sectors, 8u) << "aligned down to the block size";
}

TEST(ZonedNull, ClampsAsNullBlkWithOneNoteEach) {
  auto p = plan_null_device({"size=64", "zoned=1", "zone_size=8", "zone_nr_conv=9",
                             "zone_max_open=12", "zone_max_active=3"});
  EXPECT_EQ(p.zoned.geometry.nr_conv, 7u);
  EXPECT_EQ(p.zoned.geometry.max_active, 0u) << "3 >= 1 sequential zone: disabled";
  EXPECT_EQ(p.zoned.geometry.max_open, 0u);
  ASSERT_EQ(p.zoned.notes.size(), 3u);
  EXPECT_NE(p.zoned.notes[0].find("changed the number of conventional zones to 7"),
            std::string::npos);
  EXPECT_NE(p.zoned.notes[1].find("zone_max_active limit disabled"), std::string::npos);
  EXPECT_NE(p.zoned.notes[2].find("zone_max_open limit disabled"), std::string::npos);
  p = plan_null_device(
      {"size=64", "zoned=1", "zone_size=8", "zone_max_open=5", "zone_max_active=4"});
  EXPECT_EQ(p.zoned.geometry.max_open, 4u);
  EXPECT_EQ(p.zoned.geometry.max_active, 4u);
  ASSERT_EQ(p.zoned.notes.size(), 1u);
  EXPECT_NE(p.zoned.notes[0].find("changed the maximum number of open zones to 4"),
            std::string::npos);
  for (const auto& n : p.zoned.notes) EXPECT_EQ(n.find('\n'), std::string::npos);
}

TEST(ZonedNull, RefusalsInOneLine) {
  struct Case {
    std::vector<std::string> attrs;
    const char* part;
  };
  for (const Case& c : std::vector<Case>{
           {{"size=64", "zoned=1", "zone_size=128"}, "larger than the device"},
           {{"size=64", "zoned=1", "zone_size=12"}, "power of two"},
           {{"size=64", "zoned=1", "zone_size=8", "zone_capacity=16"}, "larger than zone_size"},
           {{"size=60", "zoned=1", "zone_size=8", "zone_capacity=4"}, "smaller last zone"},
           {{"size=64", "zone_size=8"}, "needs zoned=1"},
           {{"size=64", "zoned=1", "zone_size=8", "zone_readonly=1"}, "conventional"},
           {{"size=64", "zoned=1", "zone_size=8", "zone_offline=999999"}, "past the end"},
           {{"size=64", "zoned=1", "zone_size=8", "zone_readonly=abc"}, "not a sector"},
       }) {
    std::string zone_nr_conv_fix;
    std::vector<std::string> a = c.attrs;
    if (std::string(c.part) == "conventional") a.push_back("zone_nr_conv=1");
    std::string e = plan_error(a);
    ASSERT_FALSE(e.empty()) << "accepted: " << a[2];
    EXPECT_EQ(e.find('\n'), std::string::npos) << e;
    EXPECT_NE(e.find(c.part), std::string::npos) << e;
    EXPECT_EQ(e.rfind("null: ", 0), 0u) << e;
  }
}

namespace {

struct ZonedDev {
  std::unique_ptr<null::NullDevice> dev;
  std::unique_ptr<IoQueue> q;
  explicit ZonedDev(std::vector<std::string> extra) {
    std::vector<std::string> a{"size=16", "zoned=1", "zone_size=4", "zone_nr_conv=1",
                               "memory_backed=1"};
    a.insert(a.end(), extra.begin(), extra.end());
    dev = std::move(make_null_devices(a)[0]);
    q = dev->open_queue(0);
  }
  ~ZonedDev() { q.reset(); }
  Status io(Op op, uint64_t off, uint32_t len, void* buf) {
    return sync_io(*q, IoDesc{op, 0, off, len, static_cast<std::byte*>(buf)});
  }
};

constexpr uint64_t kZoneBytes = 4u << 20;

}  // namespace

class ZonedNullIrq : public ::testing::TestWithParam<const char*> {};

TEST_P(ZonedNullIrq, AppendCarriesItsSectorAndDataLandsThere) {
  ZonedDev d({GetParam(), "completion_nsec=1000"});
  std::vector<char> a(4096, 'a'), b(8192, 'b'), got(16384, 'x');
  uint64_t s1 = 0, s2 = 0;
  ASSERT_EQ(zone_append(*d.q, kZoneBytes, a.data(), 4096, &s1), Status::ok);
  ASSERT_EQ(zone_append(*d.q, kZoneBytes, b.data(), 8192, &s2), Status::ok);
  EXPECT_EQ(s1, kZoneBytes >> 9);
  EXPECT_EQ(s2, (kZoneBytes >> 9) + 8);
  ASSERT_EQ(d.io(Op::read, kZoneBytes, 16384, got.data()), Status::ok);
  EXPECT_EQ(std::memcmp(got.data(), a.data(), 4096), 0);
  EXPECT_EQ(std::memcmp(got.data() + 4096, b.data(), 8192), 0);
  EXPECT_EQ(got[12288], '\xff') << "past the write pointer reads 0xff, as null_blk's";
  // Zone commands through the queue; the report through the device.
  ASSERT_EQ(zone_mgmt(*d.q, Op::zone_finish, kZoneBytes), Status::ok);
  std::vector<ZoneInfo> z = report_all_zones(*d.dev);
  ASSERT_EQ(z.size(), 4u);
  EXPECT_EQ(z[0].type, ZoneType::conventional);
  EXPECT_EQ(z[1].cond, ZoneCond::full);
  ASSERT_EQ(zone_mgmt(*d.q, Op::zone_reset_all, 0), Status::ok);
  ASSERT_EQ(d.io(Op::read, kZoneBytes, 4096, got.data()), Status::ok);
  EXPECT_EQ(got[0], '\xff') << "a reset zone has no data below its write pointer";
  EXPECT_EQ(report_all_zones(*d.dev)[1].cond, ZoneCond::empty);
}

INSTANTIATE_TEST_SUITE_P(IrqModes, ZonedNullIrq,
                         ::testing::Values("irqmode=0", "irqmode=1", "irqmode=2"));

TEST(ZonedNull, WritesFollowTheWritePointer) {
  ZonedDev d({"irqmode=0"});
  std::vector<char> buf(4096, 'w');
  EXPECT_EQ(d.io(Op::write, kZoneBytes, 4096, buf.data()), Status::ok);
  EXPECT_EQ(d.io(Op::write, kZoneBytes, 4096, buf.data()), Status::ioerr) << "behind the wp";
  EXPECT_EQ(d.io(Op::write, 2 * kZoneBytes + 4096, 4096, buf.data()), Status::ioerr);
  EXPECT_EQ(d.io(Op::write, 8192, 4096, buf.data()), Status::ok) << "conventional: anywhere";
  EXPECT_EQ(d.io(Op::write_zeroes, 2 * kZoneBytes, 4096, nullptr), Status::notsupp);
}

TEST(ZonedNull, EngineChecksZoneCommandShapes) {
  ZonedDev d({"irqmode=0", "zone_append_max_sectors=16"});
  std::vector<char> buf(16384, 'x');
  uint64_t s = 0;
  EXPECT_EQ(zone_append(*d.q, kZoneBytes, buf.data(), 16384, &s), Status::inval)
      << "larger than zone_append_max_sectors";
  EXPECT_EQ(zone_append(*d.q, kZoneBytes + 4096, buf.data(), 4096, &s), Status::inval)
      << "not at a zone start";
  EXPECT_EQ(zone_append(*d.q, 0, buf.data(), 4096, &s), Status::ioerr) << "conventional";
  EXPECT_EQ(zone_mgmt(*d.q, Op::zone_open, kZoneBytes + 512), Status::inval);
  EXPECT_EQ(zone_mgmt(*d.q, Op::zone_reset, 4 * kZoneBytes), Status::inval) << "past the end";
  EXPECT_EQ(zone_mgmt(*d.q, Op::zone_reset_all, kZoneBytes), Status::inval);
  EXPECT_EQ(d.io(Op::zone_open, kZoneBytes, 4096, buf.data()), Status::inval) << "with data";
}

TEST(ZonedNull, OpenLimitErrorsAndReadOnlyOfflineAttributes) {
  ZonedDev d({"irqmode=1", "zone_max_open=1", "zone_offline=16384", "zone_readonly=24576"});
  EXPECT_EQ(zone_mgmt(*d.q, Op::zone_open, kZoneBytes), Status::ok);
  EXPECT_EQ(zone_mgmt(*d.q, Op::zone_open, 2 * kZoneBytes), Status::ioerr) << "offline zone";
  std::vector<ZoneInfo> z = report_all_zones(*d.dev);
  EXPECT_EQ(z[2].cond, ZoneCond::offline);
  EXPECT_EQ(z[3].cond, ZoneCond::read_only);
  std::vector<char> buf(4096);
  EXPECT_EQ(d.io(Op::read, 2 * kZoneBytes, 4096, buf.data()), Status::ioerr);
  EXPECT_EQ(d.io(Op::read, 3 * kZoneBytes, 4096, buf.data()), Status::ok);
  EXPECT_EQ(d.io(Op::write, 3 * kZoneBytes, 4096, buf.data()), Status::ioerr);
  EXPECT_EQ(status_to_errno(Status::zone_open_resource), ETOOMANYREFS);
  EXPECT_EQ(status_to_errno(Status::zone_active_resource), EOVERFLOW);
}

TEST(ZonedNull, NotZonedRefusesZoneCommands) {
  auto dev = std::move(make_null_devices({"size=16"})[0]);
  auto q = dev->open_queue(0);
  EXPECT_EQ(zone_mgmt(*q, Op::zone_reset_all, 0), Status::notsupp);
  EXPECT_TRUE(report_all_zones(*dev).empty());
  EXPECT_EQ(dev->report_zones(0, nullptr, 0), 0u);
}

TEST(ZonedNull, ZoneStateLivesInTheBackingFile) {
  const std::string path = "/dev/shm/mqblk-zoned-unit-" + std::to_string(getpid());
  ::unlink(path.c_str());
  const std::vector<std::string> a{"size=16",
                                   "zoned=1",
                                   "zone_size=4",
                                   "memory_backed=1",
                                   "zone_offline=16384",
                                   "irqmode=0",
                                   "backing_file=" + path};
  std::vector<char> buf(8192, 'p'), got(8192);
  std::vector<ZoneInfo> before;
  {
    auto dev = std::move(make_null_devices(a)[0]);
    auto q = dev->open_queue(0);
    uint64_t s = 0;
    ASSERT_EQ(zone_append(*q, 4u << 20, buf.data(), 8192, &s), Status::ok);
    ASSERT_EQ(zone_mgmt(*q, Op::zone_finish, 12u << 20), Status::ok);
    ASSERT_EQ(zone_mgmt(*q, Op::zone_open, 0), Status::ok);
    before = report_all_zones(*dev);
    q.reset();
  }  // the device goes; its file stays, as after kill -9 (every change is in the file)
  auto dev = std::move(make_null_devices(a)[0]);
  std::vector<ZoneInfo> after = report_all_zones(*dev);
  ASSERT_EQ(after.size(), before.size());
  EXPECT_EQ(after[2].cond, ZoneCond::offline) << "zone_offline is not applied twice";
  EXPECT_EQ(after[1], before[1]);
  EXPECT_EQ(after[1].cond, ZoneCond::imp_open) << "conditions as they were";
  EXPECT_EQ(after[3], before[3]);
  EXPECT_EQ(after[0].cond, ZoneCond::exp_open);
  auto q = dev->open_queue(0);
  ASSERT_EQ(
      sync_io(*q, IoDesc{Op::read, 0, 4u << 20, 8192, reinterpret_cast<std::byte*>(got.data())}),
      Status::ok);
  EXPECT_EQ(got, buf);
  std::vector<char> more(4096, 'm');
  EXPECT_EQ(sync_io(*q, IoDesc{Op::write, 0, (4u << 20) + 8192, 4096,
                               reinterpret_cast<std::byte*>(more.data())}),
            Status::ok)
      << "the write pointer came back";
  q.reset();
  dev.reset();
  // Other zone attributes on the same file are refused in one line.
  std::vector<std::string> other = a;
  other[2] = "zone_size=8";
  std::string e = plan_error(other);
  EXPECT_TRUE(e.empty()) << "the plan creates nothing, so it cannot know: " << e;
  try {
    (void)make_null_devices(other);
    ADD_FAILURE() << "a file with other zones was accepted";
  } catch (const ConfigError& err) {
    EXPECT_NE(std::string(err.what()).find("zone state of other zone attributes"),
              std::string::npos)
        << err.what();
  }
  ::unlink(path.c_str());
}
