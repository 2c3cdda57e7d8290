#include "ublk/params.hpp"

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
  return p;
}

}  // namespace mqblk::ublk
