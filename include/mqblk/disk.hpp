// mqblk/disk.hpp - the limits and attributes of a disk, in one struct.
//
// Frontends read these to describe the device to clients (NBD transmission flags and
// block sizes, ublk parameters); drivers fill them. validate() states the invariants.
#pragma once

#include <cstdint>
#include <string>

namespace mqblk {

enum class ZonedModel : uint8_t { none, host_managed };

struct DiskLimits {
  uint64_t capacity_bytes = 0;         // a multiple of logical_block_size
  uint32_t logical_block_size = 512;   // power of two, 512..4096
  uint32_t physical_block_size = 512;  // power of two, >= logical_block_size
  uint32_t max_sectors = 2560;         // max bytes per request / 512 (null_blk's default)
  uint32_t max_segments = 128;
  // 0, or a boundary - 1 (4095): segments after the first start on it, segments before the
  // last end on it (the kernel's virt_boundary_mask; IoQueue::submit_segments refuses others).
  uint32_t virt_boundary_mask = 0;
  // Discard: granularity 0 means discard is not supported.
  uint32_t discard_granularity = 0;
  uint32_t max_discard_sectors = 0;
  uint32_t max_write_zeroes_sectors = 0;  // 0: write_zeroes not supported
  bool volatile_write_cache = false;      // flush is meaningful
  bool fua = false;                       // FUA is honoured
  bool read_only = false;
  bool rotational = false;
  ZonedModel zoned = ZonedModel::none;
  uint64_t zone_size_sectors = 0;        // a power of two (the last zone may be smaller)
  uint32_t max_open_zones = 0;           // 0: no limit
  uint32_t max_active_zones = 0;         // 0: no limit
  uint32_t max_zone_append_sectors = 0;  // 0: zone append not supported

  uint64_t capacity_sectors() const noexcept { return capacity_bytes >> 9; }
  bool supports_discard() const noexcept { return discard_granularity != 0; }
  bool supports_write_zeroes() const noexcept { return max_write_zeroes_sectors != 0; }
  uint64_t max_request_bytes() const noexcept { return uint64_t{max_sectors} << 9; }

  // Empty when the limits are consistent; otherwise one line saying what is wrong.
  std::string validate() const;
};

}  // namespace mqblk
