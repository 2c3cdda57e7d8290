// mqblk/zoned.hpp - the zoned block device model (ZBC/ZNS as Linux sees it), for any driver.
//
// A zoned device is cut into zones of zone_size_sectors (a power of two; the last one may
// be smaller). The first nr_conv zones are conventional (written anywhere, no write
// pointer); the others are sequential-write-required: a write must start at the zone's
// write pointer, which it advances; a zone append writes at the write pointer wherever it
// is and reports where; reset/open/close/finish move the zone's condition. The semantics
// are those of the kernel's null_blk (drivers/block/null_blk/zoned.c), which follow ZBC
// with ZNS's max-active limit:
//  * conditions: empty, implicitly open (by a write), explicitly open (by an open),
//    closed, full, read-only, offline; conventional zones are not_wp;
//  * max_open bounds the open zones (implicit + explicit); when a write or an open needs
//    one more and an implicitly open zone exists (and the active limit allows), the
//    implicitly open zone after the last one closed this way is closed to make room;
//    otherwise the command fails with zone_open_resource;
//  * max_active bounds open + closed zones; past it: zone_active_resource;
//  * writes not at the write pointer, past the zone's capacity, to a full, read-only or
//    offline zone, or appends to a conventional zone fail with ioerr; reads of an offline
//    zone fail with ioerr; what reads past the write pointer return is the driver's
//    (read_check() says where it is; the null driver fills 0xff there, as null_blk).
// ZoneTable keeps the zones and applies these rules; the driver keeps the data and calls
// the table around each write (ZoneTable::write) and on every zone operation. The engine
// checks shapes first (detail::check_io: zone operations start at a zone, carry no data
// except appends, appends fit max_zone_append_sectors).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "mqblk/block_device.hpp"
#include "mqblk/types.hpp"

namespace mqblk {

// The kernel's enum blk_zone_type and enum blk_zone_cond values, so that a report can be
// copied to struct blk_zone without translation.
enum class ZoneType : uint8_t { conventional = 1, seq_write_required = 2 };
enum class ZoneCond : uint8_t {
  not_wp = 0x0,
  empty = 0x1,
  imp_open = 0x2,
  exp_open = 0x3,
  closed = 0x4,
  read_only = 0xd,
  full = 0xe,
  offline = 0xf,
};
std::string_view to_string(ZoneType t) noexcept;
std::string_view to_string(ZoneCond c) noexcept;

// The write pointer of a read-only or offline zone (the kernel's NULL_ZONE_INVALID_WP).
inline constexpr uint64_t kZoneInvalidWp = ~uint64_t{0};

// One zone as a report gives it, in 512-byte sectors (struct blk_zone's fields).
struct ZoneInfo {
  uint64_t start = 0;
  uint64_t len = 0;
  uint64_t capacity = 0;  // writable sectors from start, <= len
  uint64_t wp = 0;        // start + len for conventional zones, kZoneInvalidWp when unusable
  ZoneType type = ZoneType::seq_write_required;
  ZoneCond cond = ZoneCond::empty;
  bool operator==(const ZoneInfo&) const = default;
};

// The shape of a zoned device, after the driver has applied its clamps (null_blk's: see
// drivers/null/zoned_null.cpp). validate() states what must hold.
struct ZoneGeometry {
  uint64_t capacity_sectors = 0;
  uint64_t zone_size_sectors = 0;      // a power of two, <= capacity_sectors
  uint64_t zone_capacity_sectors = 0;  // 1..zone_size_sectors
  uint32_t nr_conv = 0;                // < the number of zones
  uint32_t max_open = 0;               // 0: no limit; else < sequential zones
  uint32_t max_active = 0;             // 0: no limit; else < sequential zones, >= max_open
  uint32_t max_append_sectors = 0;     // 0: no native zone append
  bool full = false;                   // sequential zones start full (null_blk zone_full)

  uint32_t nr_zones() const noexcept {
    return static_cast<uint32_t>((capacity_sectors + zone_size_sectors - 1) / zone_size_sectors);
  }
  // Empty when consistent; otherwise one line saying what is wrong.
  std::string validate() const;
};

// Open/active accounting, for tests and `list`.
struct ZoneCounts {
  uint32_t imp_open = 0;
  uint32_t exp_open = 0;
  uint32_t closed = 0;
};

// Called for every zone a reset empties (reset, reset_all, a read-only/offline toggle back
// to empty), with the table locked: the driver drops the zone's data there.
struct ZoneDiscard {
  void (*fn)(void* ctx, uint64_t start_sector, uint64_t nr_sectors) = nullptr;
  void* ctx = nullptr;
  void operator()(uint64_t start, uint64_t n) const {
    if (fn) fn(ctx, start, n);
  }
};

// Where a table keeps its state as it changes (a driver's persistent memory): fn(ctx, off,
// bytes, len) stores len bytes at offset off of the image save() makes, with the table
// locked, after every change of a zone's condition or write pointer.
struct ZonePersist {
  void (*fn)(void* ctx, uint64_t off, const std::byte* bytes, size_t len) = nullptr;
  void* ctx = nullptr;
  std::shared_ptr<void> keep;  // keeps ctx alive as long as the table
};

// Invariants: every zone's condition, write pointer and the counts agree (imp_open,
// exp_open and closed are the numbers of zones in those conditions; an open zone's wp is
// within [start, start + capacity); a full zone's wp is start + capacity or start + len
// after a finish; an empty zone's wp is start); imp_open + exp_open <= max_open and
// imp_open + exp_open + closed <= max_active where those limits are set.
// Threads: any; one mutex guards the table. write() holds it while the driver stores the
// data, as null_blk holds its zone lock, so that a write is checked, stored and accounted
// as one step and two writes at one write pointer cannot both pass.
class ZoneTable {
 public:
  // g must be valid (g.validate() empty); throws ConfigError otherwise.
  explicit ZoneTable(const ZoneGeometry& g);

  const ZoneGeometry& geometry() const noexcept { return g_; }
  uint32_t nr_zones() const noexcept { return static_cast<uint32_t>(zones_.size()); }
  uint32_t zone_no(uint64_t sector) const noexcept {
    return static_cast<uint32_t>(sector >> zone_shift_);
  }

  // A write (append=false) or zone append of nr_sectors at sector. Checks the rules, opens
  // the zone implicitly, calls store(at) with the sector the data goes to (the write
  // pointer for an append) and, if store returns ok, advances the write pointer (full at
  // capacity). *written_at receives that sector. A write that crosses a zone is inval.
  template <class Store>
  Status write(uint64_t sector, uint32_t nr_sectors, bool append, uint64_t* written_at,
               Store&& store) {
    std::lock_guard lk(mu_);
    uint64_t at = sector;
    Status s = prepare_write_locked(sector, nr_sectors, append, &at);
    if (s != Status::ok) return s;
    s = store(at);
    if (s != Status::ok) return s;
    advance_locked(at, nr_sectors);
    if (written_at) *written_at = at;
    return Status::ok;
  }

  // How many of nr_sectors at sector hold data (the rest lies past the write pointer), or
  // ioerr for an offline zone, inval for a range that crosses a zone.
  Status read_check(uint64_t sector, uint32_t nr_sectors, uint32_t* valid_sectors) const;

  // open, close, finish, reset (of the zone starting at sector) or reset_all.
  Status manage(Op op, uint64_t sector, const ZoneDiscard& discard);

  // Up to max zones from the one holding sector, in order. Returns how many.
  unsigned report(uint64_t sector, ZoneInfo* out, unsigned max) const;
  ZoneInfo zone(uint32_t zno) const;
  ZoneCounts counts() const;

  // null_blk's zone_readonly / zone_offline files: puts the sequential zone holding sector
  // in cond (read_only or offline), finishing it first; the same condition again brings it
  // back to empty (discarding its data). Refuses conventional zones and other conditions.
  Status set_condition(uint64_t sector, ZoneCond cond, const ZoneDiscard& discard);

  // Persistence: the state of every zone (conditions and write pointers), as bytes the
  // driver keeps beside its data, and restore() to take it back after a restart, as it
  // was (conditions included: the server died, not the device; counts recomputed).
  // restore() returns false, changing nothing, when the bytes do not describe a valid state
  // of this geometry (its limits included).
  std::vector<std::byte> save() const;
  // From now on, every change is also stored through p (set before any I/O).
  void set_persist(ZonePersist p) noexcept { persist_ = std::move(p); }
  bool restore(const std::byte* data, size_t len);
  // Bytes save() produces for a geometry, so that a driver can reserve room.
  static size_t saved_size(const ZoneGeometry& g) noexcept;

 private:
  struct Zone {
    uint64_t start;
    uint64_t len;
    uint64_t capacity;
    uint64_t wp;
    ZoneType type;
    ZoneCond cond;
  };
  Status prepare_write_locked(uint64_t sector, uint32_t nr_sectors, bool append, uint64_t* at);
  void advance_locked(uint64_t at, uint32_t nr_sectors);
  Status check_active() const;
  Status check_open();
  Status check_resources(const Zone& z);
  void close_one_implicit();
  Status open_zone(Zone& z);
  Status close_zone(Zone& z);
  Status finish_zone(Zone& z);
  Status reset_zone(Zone& z, const ZoneDiscard& discard);
  void leave_condition(const Zone& z);  // drops z's share of the counts
  static ZoneInfo info(const Zone& z);
  void persist_locked(const Zone& z);

  ZoneGeometry g_;
  unsigned zone_shift_ = 0;
  bool res_mgmt_ = false;  // a limit is set: the counts matter
  mutable std::mutex mu_;
  std::vector<Zone> zones_;
  uint32_t imp_open_ = 0;
  uint32_t exp_open_ = 0;
  uint32_t closed_ = 0;
  uint32_t imp_close_next_ = 0;  // where the search for an implicitly open zone to close starts
  ZonePersist persist_;
};

// Synchronous zone commands on an IoQueue, for tools and simple programs (one command,
// waited for; other completions on q meanwhile are dropped, so use a private queue).
// zone_mgmt: op is zone_open, zone_close, zone_finish, zone_reset (offset: the zone's
// first byte) or zone_reset_all (offset 0). zone_append: *sector receives where the data
// went (a sector, 512 bytes).
Status zone_mgmt(IoQueue& q, Op op, uint64_t offset);
Status zone_append(IoQueue& q, uint64_t zone_offset, const void* buf, uint32_t len,
                   uint64_t* sector);
// All zones of dev, in order (empty for a device that is not zoned).
std::vector<ZoneInfo> report_all_zones(BlockDevice& dev);

}  // namespace mqblk
