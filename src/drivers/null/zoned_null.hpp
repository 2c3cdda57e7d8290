// drivers/null/zoned_null.hpp - the null device's zoned attributes, as null_blk reads them.
//
// plan_zoned() is null_blk's null_init_zoned_dev() checks: what it refuses is a ConfigError
// (one line, before anything is created); what it adjusts (zone_nr_conv, zone_max_open,
// zone_max_active) is adjusted the same way and said in one note line each, which the
// creator prints. zone_append_max_sectors is aligned down to the block size and capped at
// the zone capacity silently, as null_blk does. The zone model itself is the engine's
// (mqblk/zoned.hpp); the null driver's zoned I/O path is NullDriver::zoned_io
// (zoned_io.cpp).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "drivers/null/null_config.hpp"
#include "drivers/null/page_store.hpp"
#include "mqblk/disk.hpp"
#include "mqblk/zoned.hpp"

namespace mqblk::null {

struct ZonedPlan {
  ZoneGeometry geometry;
  std::vector<std::string> notes;  // "null: zone_max_open=9: ..." lines
};

// Only for cfg.zoned. Throws ConfigError.
ZonedPlan plan_zoned(const NullConfig& cfg);

// The disk limits of a zoned null device: host-managed, the zone size and limits, no
// write_zeroes (it would bypass the write pointer).
void apply_zoned_limits(const ZoneGeometry& g, DiskLimits& l);

// With a backing_file the zone state lives in the file too, after the data: the store is
// this many bytes larger than the device (whole pages).
uint64_t zone_state_bytes(const NullConfig& cfg, const ZoneGeometry& g);

// The table for one device. store may be null. With a backing_file, the table comes back
// from the file's zone state when the file holds one (a restart, `recover`; zones that
// were open come back closed) and from then on every change is stored there as it happens,
// so that it survives kill -9; a fresh file gets the new table. zone_readonly /
// zone_offline (sectors checked by plan_zoned) apply to new tables only: a restored one
// has them already. Throws ConfigError when the file's state is of another geometry.
std::unique_ptr<ZoneTable> make_zone_table(const NullConfig& cfg, const ZoneGeometry& g,
                                           PageStore* store);

// Discards a reset zone's data in the store (ZoneDiscard's callback; ctx is the PageStore).
void discard_zone_data(void* store, uint64_t start_sector, uint64_t nr_sectors);

}  // namespace mqblk::null
