// The zone model: conditions, write pointers and the open/active accounting of
// mqblk/zoned.hpp, following the kernel's null_blk (drivers/block/null_blk/zoned.c).
#include <fmt/format.h>

#include <bit>
#include <cstring>

#include "mqblk/errors.hpp"
#include "mqblk/zoned.hpp"

namespace mqblk {

// The image save() makes: magic, zone count, zone size, then per zone the write pointer
// (8 bytes) and the condition (1 byte), in the host's byte order (it never leaves the host).
namespace {
constexpr uint64_t kSaveMagic = 0x31656e6f7a6b6c62ull;  // "blkzone1"
constexpr size_t kHeader = 24;
constexpr size_t kPerZone = 9;
}  // namespace

std::string_view to_string(ZoneType t) noexcept {
  switch (t) {
    case ZoneType::conventional: return "conventional";
    case ZoneType::seq_write_required: return "seq_write_required";
  }
  return "unknown";
}

std::string_view to_string(ZoneCond c) noexcept {
  switch (c) {
    case ZoneCond::not_wp: return "not_wp";
    case ZoneCond::empty: return "empty";
    case ZoneCond::imp_open: return "imp_open";
    case ZoneCond::exp_open: return "exp_open";
    case ZoneCond::closed: return "closed";
    case ZoneCond::read_only: return "read_only";
    case ZoneCond::full: return "full";
    case ZoneCond::offline: return "offline";
  }
  return "unknown";
}

std::string ZoneGeometry::validate() const {
  if (zone_size_sectors == 0 || !std::has_single_bit(zone_size_sectors))
    return fmt::format("zone size {} sectors: must be a power of two", zone_size_sectors);
  if (capacity_sectors == 0 || zone_size_sectors > capacity_sectors)
    return fmt::format("zone size {} sectors is larger than the device ({} sectors)",
                       zone_size_sectors, capacity_sectors);
  if (zone_capacity_sectors == 0 || zone_capacity_sectors > zone_size_sectors)
    return fmt::format("zone capacity {} sectors: must be between 1 and the zone size {}",
                       zone_capacity_sectors, zone_size_sectors);
  const uint32_t n = nr_zones();
  if (nr_conv >= n)
    return fmt::format("{} conventional zones leave no sequential zone of {}", nr_conv, n);
  const uint32_t seq = n - nr_conv;
  if (max_active >= seq && max_active != 0)
    return fmt::format("max active zones {} must be below the {} sequential zones", max_active,
                       seq);
  if (max_open >= seq && max_open != 0)
    return fmt::format("max open zones {} must be below the {} sequential zones", max_open, seq);
  if (max_active != 0 && max_open > max_active)
    return fmt::format("max open zones {} above max active zones {}", max_open, max_active);
  if (max_append_sectors > zone_capacity_sectors)
    return fmt::format("zone append limit {} sectors above the zone capacity {}",
                       max_append_sectors, zone_capacity_sectors);
  return {};
}

ZoneTable::ZoneTable(const ZoneGeometry& g) : g_(g) {
  if (auto e = g.validate(); !e.empty()) throw ConfigError("zoned: " + e);
  zone_shift_ = static_cast<unsigned>(std::countr_zero(g.zone_size_sectors));
  res_mgmt_ = g.max_open != 0 || g.max_active != 0;
  const uint32_t n = g.nr_zones();
  zones_.resize(n);
  uint64_t sector = 0;
  for (uint32_t i = 0; i < n; ++i, sector += g.zone_size_sectors) {
    Zone& z = zones_[i];
    z.start = sector;
    z.len = std::min(g.zone_size_sectors, g.capacity_sectors - sector);
    if (i < g.nr_conv) {
      // A conventional zone is always whole (nr_conv < nr_zones, so never the last one).
      z.capacity = z.len;
      z.wp = z.start + z.len;
      z.type = ZoneType::conventional;
      z.cond = ZoneCond::not_wp;
    } else {
      z.capacity = std::min(z.len, g.zone_capacity_sectors);
      z.type = ZoneType::seq_write_required;
      z.cond = g.full ? ZoneCond::full : ZoneCond::empty;
      z.wp = g.full ? z.start + z.capacity : z.start;
    }
  }
  imp_close_next_ = g.nr_conv;
}

ZoneInfo ZoneTable::info(const Zone& z) {
  return ZoneInfo{z.start, z.len, z.capacity, z.wp, z.type, z.cond};
}

void ZoneTable::persist_locked(const Zone& z) {
  if (!persist_.fn) return;
  std::byte rec[kPerZone];
  std::memcpy(rec, &z.wp, 8);
  rec[8] = static_cast<std::byte>(z.cond);
  persist_.fn(persist_.ctx, kHeader + uint64_t{zone_no(z.start)} * kPerZone, rec, kPerZone);
}

Status ZoneTable::check_active() const {
  if (g_.max_active == 0) return Status::ok;
  if (exp_open_ + imp_open_ + closed_ < g_.max_active) return Status::ok;
  return Status::zone_active_resource;
}

// Room for one more open zone, closing an implicitly open one if that is what it takes
// (and the active limit still allows the zone to become active).
Status ZoneTable::check_open() {
  if (g_.max_open == 0) return Status::ok;
  if (exp_open_ + imp_open_ < g_.max_open) return Status::ok;
  if (imp_open_ != 0 && check_active() == Status::ok) {
    close_one_implicit();
    return Status::ok;
  }
  return Status::zone_open_resource;
}

Status ZoneTable::check_resources(const Zone& z) {
  switch (z.cond) {
    case ZoneCond::empty:
      if (Status s = check_active(); s != Status::ok) return s;
      [[fallthrough]];
    case ZoneCond::closed: return check_open();
    default: return Status::ioerr;  // not reached: only empty and closed zones ask
  }
}

// Round-robin from where the last such close stopped, as null_blk does.
void ZoneTable::close_one_implicit() {
  const uint32_t n = nr_zones();
  uint32_t zno = imp_close_next_ >= n ? g_.nr_conv : imp_close_next_;
  for (uint32_t i = g_.nr_conv; i < n; ++i) {
    Zone& z = zones_[zno];
    if (++zno >= n) zno = g_.nr_conv;
    if (z.cond == ZoneCond::imp_open) {
      --imp_open_;
      if (z.wp == z.start) {
        z.cond = ZoneCond::empty;
      } else {
        z.cond = ZoneCond::closed;
        ++closed_;
      }
      persist_locked(z);
      imp_close_next_ = zno;
      return;
    }
  }
}

void ZoneTable::leave_condition(const Zone& z) {
  switch (z.cond) {
    case ZoneCond::imp_open: --imp_open_; break;
    case ZoneCond::exp_open: --exp_open_; break;
    case ZoneCond::closed: --closed_; break;
    default: break;
  }
}

Status ZoneTable::prepare_write_locked(uint64_t sector, uint32_t nr_sectors, bool append,
                                       uint64_t* at) {
  const uint32_t zno = zone_no(sector);
  if (zno >= nr_zones() || nr_sectors == 0) return Status::inval;
  Zone& z = zones_[zno];
  if (sector + nr_sectors > z.start + z.len) return Status::inval;  // crosses the zone
  if (z.type == ZoneType::conventional) {
    if (append) return Status::ioerr;
    *at = sector;
    return Status::ok;
  }
  // A full, read-only or offline zone fails the write pointer check below (their wp is at
  // the end or invalid), as in null_blk.
  if (append) {
    if (g_.max_append_sectors == 0 || z.wp == kZoneInvalidWp) return Status::ioerr;
    sector = z.wp;
  }
  if (sector != z.wp || z.wp + nr_sectors > z.start + z.capacity) return Status::ioerr;
  if (z.cond == ZoneCond::closed || z.cond == ZoneCond::empty) {
    if (Status s = check_resources(z); s != Status::ok) return s;
    leave_condition(z);
    ++imp_open_;
    z.cond = ZoneCond::imp_open;
    persist_locked(z);
  }
  *at = sector;
  return Status::ok;
}

void ZoneTable::advance_locked(uint64_t at, uint32_t nr_sectors) {
  Zone& z = zones_[zone_no(at)];
  if (z.type == ZoneType::conventional) return;
  z.wp += nr_sectors;
  if (z.wp == z.start + z.capacity) {
    leave_condition(z);
    z.cond = ZoneCond::full;
  }
  persist_locked(z);
}

Status ZoneTable::read_check(uint64_t sector, uint32_t nr_sectors, uint32_t* valid) const {
  std::lock_guard lk(mu_);
  const uint32_t zno = zone_no(sector);
  if (zno >= nr_zones()) return Status::inval;
  const Zone& z = zones_[zno];
  if (sector + nr_sectors > z.start + z.len) return Status::inval;
  if (z.cond == ZoneCond::offline) return Status::ioerr;
  if (z.type == ZoneType::conventional || sector + nr_sectors <= z.wp)
    *valid = nr_sectors;
  else if (sector >= z.wp)
    *valid = 0;
  else
    *valid = static_cast<uint32_t>(z.wp - sector);
  return Status::ok;
}

Status ZoneTable::open_zone(Zone& z) {
  switch (z.cond) {
    case ZoneCond::exp_open: return Status::ok;  // opening an open zone is no error
    case ZoneCond::empty:
    case ZoneCond::closed:
      if (Status s = check_resources(z); s != Status::ok) return s;
      break;
    case ZoneCond::imp_open: break;
    default: return Status::ioerr;
  }
  leave_condition(z);
  ++exp_open_;
  z.cond = ZoneCond::exp_open;
  persist_locked(z);
  return Status::ok;
}

Status ZoneTable::close_zone(Zone& z) {
  switch (z.cond) {
    case ZoneCond::closed: return Status::ok;  // closing a closed zone is no error
    case ZoneCond::imp_open:
    case ZoneCond::exp_open: break;
    default: return Status::ioerr;
  }
  leave_condition(z);
  if (z.wp == z.start) {
    z.cond = ZoneCond::empty;
  } else {
    z.cond = ZoneCond::closed;
    ++closed_;
  }
  persist_locked(z);
  return Status::ok;
}

Status ZoneTable::finish_zone(Zone& z) {
  switch (z.cond) {
    case ZoneCond::full:
      // Finishing a full zone is no error. null_blk skips it only when it keeps the open/
      // active counts; without limits it moves the write pointer to the zone's end, and a
      // report shows that, so do the same.
      if (res_mgmt_) return Status::ok;
      break;
    case ZoneCond::empty:
    case ZoneCond::closed:
      if (Status s = check_resources(z); s != Status::ok) return s;
      break;
    case ZoneCond::imp_open:
    case ZoneCond::exp_open: break;
    default: return Status::ioerr;
  }
  leave_condition(z);
  z.cond = ZoneCond::full;
  z.wp = z.start + z.len;
  persist_locked(z);
  return Status::ok;
}

Status ZoneTable::reset_zone(Zone& z, const ZoneDiscard& discard) {
  switch (z.cond) {
    case ZoneCond::empty:
    case ZoneCond::imp_open:
    case ZoneCond::exp_open:
    case ZoneCond::closed:
    case ZoneCond::full: break;
    default: return Status::ioerr;
  }
  leave_condition(z);
  z.cond = ZoneCond::empty;
  z.wp = z.start;
  persist_locked(z);
  discard(z.start, z.len);
  return Status::ok;
}

Status ZoneTable::manage(Op op, uint64_t sector, const ZoneDiscard& discard) {
  std::lock_guard lk(mu_);
  if (op == Op::zone_reset_all) {
    for (uint32_t i = g_.nr_conv; i < nr_zones(); ++i) {
      Zone& z = zones_[i];
      if (z.cond != ZoneCond::empty && z.cond != ZoneCond::read_only && z.cond != ZoneCond::offline)
        (void)reset_zone(z, discard);
    }
    return Status::ok;
  }
  const uint32_t zno = zone_no(sector);
  if (zno >= nr_zones()) return Status::inval;
  Zone& z = zones_[zno];
  if (z.type == ZoneType::conventional) return Status::ioerr;
  if (z.cond == ZoneCond::read_only || z.cond == ZoneCond::offline) return Status::ioerr;
  switch (op) {
    case Op::zone_reset: return reset_zone(z, discard);
    case Op::zone_open: return open_zone(z);
    case Op::zone_close: return close_zone(z);
    case Op::zone_finish: return finish_zone(z);
    default: return Status::notsupp;
  }
}

unsigned ZoneTable::report(uint64_t sector, ZoneInfo* out, unsigned max) const {
  std::lock_guard lk(mu_);
  const uint64_t first = sector >> zone_shift_;
  if (first >= nr_zones()) return 0;
  unsigned n = static_cast<unsigned>(std::min<uint64_t>(max, nr_zones() - first));
  for (unsigned i = 0; i < n; ++i) out[i] = info(zones_[first + i]);
  return n;
}

ZoneInfo ZoneTable::zone(uint32_t zno) const {
  std::lock_guard lk(mu_);
  return info(zones_.at(zno));
}

ZoneCounts ZoneTable::counts() const {
  std::lock_guard lk(mu_);
  return ZoneCounts{imp_open_, exp_open_, closed_};
}

Status ZoneTable::set_condition(uint64_t sector, ZoneCond cond, const ZoneDiscard& discard) {
  if (cond != ZoneCond::read_only && cond != ZoneCond::offline) return Status::inval;
  std::lock_guard lk(mu_);
  const uint32_t zno = zone_no(sector);
  if (zno >= nr_zones()) return Status::inval;
  Zone& z = zones_[zno];
  if (z.type == ZoneType::conventional) return Status::inval;
  if (z.cond == cond) {
    z.cond = ZoneCond::empty;
    z.wp = z.start;
    persist_locked(z);
    discard(z.start, z.len);
    return Status::ok;
  }
  if (z.cond != ZoneCond::read_only && z.cond != ZoneCond::offline) {
    // Finish it first, to give back its resources (null_blk ignores the outcome too).
    leave_condition(z);
    z.cond = ZoneCond::full;
  }
  z.cond = cond;
  z.wp = kZoneInvalidWp;
  persist_locked(z);
  return Status::ok;
}

size_t ZoneTable::saved_size(const ZoneGeometry& g) noexcept {
  return kHeader + size_t{g.nr_zones()} * kPerZone;
}

std::vector<std::byte> ZoneTable::save() const {
  std::lock_guard lk(mu_);
  std::vector<std::byte> out(saved_size(g_));
  uint64_t hdr[3] = {kSaveMagic, zones_.size(), g_.zone_size_sectors};
  std::memcpy(out.data(), hdr, kHeader);
  std::byte* p = out.data() + kHeader;
  for (const Zone& z : zones_) {
    std::memcpy(p, &z.wp, 8);
    p[8] = static_cast<std::byte>(z.cond);
    p += kPerZone;
  }
  return out;
}

bool ZoneTable::restore(const std::byte* data, size_t len) {
  if (len < saved_size(g_)) return false;
  uint64_t hdr[3];
  std::memcpy(hdr, data, kHeader);
  if (hdr[0] != kSaveMagic || hdr[1] != zones_.size() || hdr[2] != g_.zone_size_sectors)
    return false;
  std::vector<Zone> next = zones_;
  const std::byte* p = data + kHeader;
  for (Zone& z : next) {
    uint64_t wp;
    std::memcpy(&wp, p, 8);
    auto cond = static_cast<ZoneCond>(p[8]);
    p += kPerZone;
    if (z.type == ZoneType::conventional) {
      if (cond != ZoneCond::not_wp || wp != z.start + z.len) return false;
      continue;
    }
    switch (cond) {
      case ZoneCond::read_only:
      case ZoneCond::offline:
        if (wp != kZoneInvalidWp) return false;
        break;
      case ZoneCond::full:
        if (wp != z.start + z.capacity && wp != z.start + z.len) return false;
        break;
      case ZoneCond::empty:
      case ZoneCond::imp_open:
      case ZoneCond::exp_open:
      case ZoneCond::closed:
        if (wp < z.start || wp >= z.start + z.capacity) return false;
        if (cond == ZoneCond::closed && wp == z.start) return false;
        break;
      default: return false;
    }
    z.wp = wp;
    z.cond = cond;
  }
  uint32_t imp = 0, exp = 0, closed = 0;
  for (const Zone& z : next) {
    imp += z.cond == ZoneCond::imp_open;
    exp += z.cond == ZoneCond::exp_open;
    closed += z.cond == ZoneCond::closed;
  }
  if ((g_.max_open && imp + exp > g_.max_open) ||
      (g_.max_active && imp + exp + closed > g_.max_active))
    return false;  // an image that breaks this geometry's limits
  std::lock_guard lk(mu_);
  zones_ = std::move(next);
  imp_open_ = imp;
  exp_open_ = exp;
  closed_ = closed;
  return true;
}

}  // namespace mqblk
