#include "ublk/params.hpp"

#include <algorithm>
#include <bit>

namespace mqblk::ublk {

uint32_t max_io_bytes(const DiskLimits& limits) {
  uint64_t b = limits.max_request_bytes();
  if (b > abi::kMaxIoBufBytes) b = abi::kMaxIoBufBytes;
  // Page-multiple: the kernel rounds it so, and the buffers are mapped in pages.
  return static_cast<uint32_t>(b & ~uint64_t{4095});
}

abi::Params to_params(const DiskLimits& limits) {
  abi::Params p{};
  p.len = sizeof p;
  p.types = abi::kParamTypeBasic;
  auto& b = p.basic;
  if (limits.read_only) b.attrs |= abi::kAttrReadOnly;
  if (limits.rotational) b.attrs |= abi::kAttrRotational;
  if (limits.volatile_write_cache) b.attrs |= abi::kAttrVolatileCache;
  if (limits.fua) b.attrs |= abi::kAttrFua;
  b.logical_bs_shift = static_cast<uint8_t>(std::countr_zero(limits.logical_block_size));
  b.physical_bs_shift = static_cast<uint8_t>(std::countr_zero(limits.physical_block_size));
  b.io_min_shift = b.logical_bs_shift;
  b.io_opt_shift = b.physical_bs_shift;
  b.max_sectors = max_io_bytes(limits) >> 9;
  b.dev_sectors = limits.capacity_sectors();
  b.virt_boundary_mask = limits.virt_boundary_mask;
  if (limits.supports_discard() || limits.supports_write_zeroes()) {
    p.types |= abi::kParamTypeDiscard;
    auto& d = p.discard;
    // The kernel requires a non-zero granularity whenever discard params are present.
    d.discard_granularity =
        limits.supports_discard() ? limits.discard_granularity : limits.logical_block_size;
    d.max_discard_sectors = limits.supports_discard() ? limits.max_discard_sectors : 0;
    d.max_write_zeroes_sectors = limits.max_write_zeroes_sectors;
    d.max_discard_segments = 1;
  }
  if (limits.zoned != ZonedModel::none) {
    // The kernel takes the zone size from chunk_sectors and counts dev_sectors / zone size
    // zones; zoned_refusal() keeps out what it cannot express.
    p.types |= abi::kParamTypeZoned;
    b.chunk_sectors = static_cast<uint32_t>(limits.zone_size_sectors);
    p.zoned.max_open_zones = limits.max_open_zones;
    p.zoned.max_active_zones = limits.max_active_zones;
    p.zoned.max_zone_append_sectors = std::min(limits.max_zone_append_sectors, b.max_sectors);
  }
  return p;
}

std::string zoned_refusal(const DiskLimits& l, bool user_copy) {
  if (l.zoned == ZonedModel::none) return {};
  if (l.zone_size_sectors > UINT32_MAX)
    return "a zone of more than 2 TiB does not fit ublk's chunk_sectors (use a smaller "
           "zone_size)";
  if (l.capacity_sectors() % l.zone_size_sectors)
    return "the device's size is not a whole number of zones, and ublk counts whole zones only "
           "(make size a multiple of zone_size)";
  if (l.max_zone_append_sectors == 0)
    return "zone append emulation (zone_append_max_sectors=0) is not possible over ublk, which "
           "needs native zone append (use zone_append_max_sectors=N with N > 0)";
  if (!user_copy)
    return "a zoned ublk device needs USER_COPY (drop --copy mapped / --unprivileged, or "
           "zoned=1)";
  return {};
}

}  // namespace mqblk::ublk
