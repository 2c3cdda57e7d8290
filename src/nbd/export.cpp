#include "nbd/export.hpp"

#include <algorithm>

#include "nbd/protocol.hpp"

namespace mqblk::nbd {

uint16_t ExportInfo::transmission_flags(bool structured) const noexcept {
  uint16_t f = kTxHasFlags | kTxCanMultiConn | kTxSendCache;
  // FLUSH is always accepted (a device without a volatile cache has nothing to flush), but
  // only advertised when it matters; likewise FUA.
  if (flush) f |= kTxSendFlush;
  if (fua) f |= kTxSendFua;
  if (read_only) f |= kTxReadOnly;
  if (rotational) f |= kTxRotational;
  if (trim()) f |= kTxSendTrim;
  // Write-zeroes is only advertised when the driver does it natively, which is also what
  // makes it "fast" in FAST_ZERO's sense (never emulated by writing zero buffers).
  if (write_zeroes()) f |= kTxSendWriteZeroes | kTxSendFastZero;
  if (structured) f |= kTxSendDf;
  return f;
}

ExportInfo ExportInfo::from_limits(const DiskLimits& l, std::string name, std::string description,
                                   bool force_read_only) {
  ExportInfo e;
  e.name = std::move(name);
  e.description = std::move(description);
  e.size = l.capacity_bytes;
  e.min_block = std::max<uint32_t>(l.logical_block_size, 1);
  e.pref_block = std::max<uint32_t>({l.physical_block_size, e.min_block, 4096});
  e.max_block = kMaxPayload - kMaxPayload % e.min_block;
  uint64_t rw = l.max_request_bytes();
  if (rw < e.min_block) rw = e.min_block;
  e.max_rw_part = rw - rw % e.min_block;
  if (l.supports_discard()) {
    uint64_t t = uint64_t{l.max_discard_sectors ? l.max_discard_sectors : l.max_sectors} << 9;
    e.max_trim_part = std::max<uint64_t>(t - t % e.min_block, e.min_block);
  }
  if (l.supports_write_zeroes()) {
    uint64_t z = uint64_t{l.max_write_zeroes_sectors} << 9;
    e.max_zero_part = std::max<uint64_t>(z - z % e.min_block, e.min_block);
  }
  e.read_only = l.read_only || force_read_only;
  e.flush = l.volatile_write_cache;
  e.fua = l.fua;
  e.rotational = l.rotational;
  return e;
}

}  // namespace mqblk::nbd
