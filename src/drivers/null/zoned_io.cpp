// The null driver's zoned I/O path: every request of a zoned device goes through the zone
// table (mqblk/zoned.hpp) and, with memory_backed=1, the page store, as null_blk's
// null_process_zoned_cmd() does.
#include <cstring>

#include "drivers/null/null_driver.hpp"

namespace mqblk::null {

NullDriver::IoResult NullDriver::zoned_io(const Owned<NullDriver>& rq) {
  ZoneTable& zt = *zones_;
  const uint64_t sector = rq.sector();
  const auto nr = static_cast<uint32_t>(rq.bytes() >> kSectorShift);
  switch (rq.op()) {
    case Op::read: {
      uint32_t valid = 0;
      Status s = zt.read_check(sector, nr, &valid);
      if (s != Status::ok || !store_) return {s, 0};
      return {zoned_read(rq, valid << kSectorShift), 0};
    }
    case Op::write:
    case Op::zone_append: {
      const bool append = rq.op() == Op::zone_append;
      uint64_t at = 0;
      Status s = zt.write(sector, nr, append, &at, [&](uint64_t where) {
        return store_ ? store_rw(rq, true, where << kSectorShift) : Status::ok;
      });
      return {s, append && s == Status::ok ? at : 0};
    }
    case Op::flush: return {store_ ? store_->flush() : Status::ok, 0};
    case Op::discard: return {store_ ? store_->discard(rq.offset(), rq.bytes()) : Status::ok, 0};
    case Op::write_zeroes: return {Status::notsupp, 0};  // not advertised (zoned_null.cpp)
    case Op::zone_open:
    case Op::zone_close:
    case Op::zone_finish:
    case Op::zone_reset:
    case Op::zone_reset_all: {
      ZoneDiscard discard{store_ ? &discard_zone_data : nullptr, store_.get()};
      return {zt.manage(rq.op(), sector, discard), 0};
    }
  }
  return {Status::notsupp, 0};
}

// The first valid_bytes come from the store; the rest lies past the write pointer and
// reads as 0xff bytes, as null_blk fills it (null_zone_valid_read_len, nullb_fill_pattern).
Status NullDriver::zoned_read(const Owned<NullDriver>& rq, uint32_t valid_bytes) {
  uint64_t off = rq.offset();
  uint64_t left = valid_bytes;
  for (unsigned i = 0, n = rq.segment_count(); i < n; ++i) {
    const IoSegment seg = rq.segment(i);
    const uint64_t take = std::min<uint64_t>(left, seg.len);
    if (take) {
      Status s = store_->read(off, seg.buf, take);
      if (s != Status::ok) return s;
    }
    if (take < seg.len) std::memset(seg.buf + take, 0xff, seg.len - take);
    left -= take;
    off += seg.len;
  }
  return Status::ok;
}

}  // namespace mqblk::null
