// Synchronous zone commands and reports over the type-erased device (mqblk/zoned.hpp).
#include "mqblk/zoned.hpp"

namespace mqblk {
namespace {

constexpr uint64_t kMagic = 0x5a4f'4e45'494f'0001ull;

Status run_one(IoQueue& q, const IoDesc& io, uint64_t* result) {
  Status s = q.submit(io, kMagic);
  if (s != Status::ok) return s;
  IoCompletion c;
  for (;;) {
    if (q.wait(&c, 1, 1, -1) == 1 && c.user_data == kMagic) {
      if (result) *result = c.result;
      return c.status;
    }
  }
}

}  // namespace

Status zone_mgmt(IoQueue& q, Op op, uint64_t offset) {
  switch (op) {
    case Op::zone_open:
    case Op::zone_close:
    case Op::zone_finish:
    case Op::zone_reset:
    case Op::zone_reset_all: break;
    default: return Status::inval;
  }
  return run_one(q, IoDesc{op, 0, offset, 0, nullptr}, nullptr);
}

Status zone_append(IoQueue& q, uint64_t zone_offset, const void* buf, uint32_t len,
                   uint64_t* sector) {
  return run_one(
      q,
      IoDesc{Op::zone_append, 0, zone_offset, len, static_cast<std::byte*>(const_cast<void*>(buf))},
      sector);
}

std::vector<ZoneInfo> report_all_zones(BlockDevice& dev) {
  std::vector<ZoneInfo> out;
  if (dev.limits().zoned == ZonedModel::none) return out;
  ZoneInfo buf[64];
  uint64_t sector = 0;
  for (;;) {
    unsigned n = dev.report_zones(sector, buf, 64);
    if (n == 0) break;
    out.insert(out.end(), buf, buf + n);
    sector = buf[n - 1].start + buf[n - 1].len;
  }
  return out;
}

}  // namespace mqblk
