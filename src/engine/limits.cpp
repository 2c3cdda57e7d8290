// Validation of disk limits and tag set shapes, and the per-I/O range check.
#include <fmt/format.h>

#include <bit>

#include "mqblk/device.hpp"
#include "mqblk/disk.hpp"
#include "mqblk/tag_set.hpp"

namespace mqblk {

std::string DiskLimits::validate() const {
  auto pow2_in = [](uint32_t v, uint32_t lo, uint32_t hi) {
    return v >= lo && v <= hi && std::has_single_bit(v);
  };
  if (!pow2_in(logical_block_size, 512, 4096))
    return fmt::format("logical block size {} must be a power of two between 512 and 4096",
                       logical_block_size);
  if (!pow2_in(physical_block_size, logical_block_size, 1u << 20))
    return fmt::format(
        "physical block size {} must be a power of two >= the logical block "
        "size {}",
        physical_block_size, logical_block_size);
  if (capacity_bytes == 0) return "capacity is 0: give the device a size";
  if (capacity_bytes % logical_block_size)
    return fmt::format("capacity {} bytes is not a multiple of the block size {}", capacity_bytes,
                       logical_block_size);
  if ((uint64_t{max_sectors} << kSectorShift) < logical_block_size)
    return fmt::format("max_sectors {} is smaller than one block", max_sectors);
  if (zoned != ZonedModel::none) {
    if (zone_size_sectors == 0 || !std::has_single_bit(zone_size_sectors))
      return fmt::format("zone size {} sectors: must be a power of two", zone_size_sectors);
    if ((zone_size_sectors << kSectorShift) % logical_block_size)
      return "zone size is not a multiple of the block size";
  }
  return {};
}

std::string TagSetConfig::validate() const {
  if (nr_hw_queues < 1 || nr_hw_queues > 256)
    return fmt::format("{} hardware queues: must be between 1 and 256", nr_hw_queues);
  if (queue_depth < 1 || queue_depth > 4096)
    return fmt::format("queue depth {}: must be between 1 and 4096", queue_depth);
  if (timeout_ns == 0) return "request timeout 0: must be positive";
  if (hung_report_ns == 0 || hung_repeat_ns == 0)
    return "hung-request report interval 0: must be positive";
  return {};
}

namespace detail {

void check_tag_set_config(const TagSetConfig& cfg) {
  if (auto e = cfg.validate(); !e.empty()) throw ConfigError(e);
}

void check_device_config(const TagSetConfig& cfg, const DiskLimits& limits) {
  check_tag_set_config(cfg);
  if (auto e = limits.validate(); !e.empty()) throw ConfigError(e);
}

namespace {

// The shape of a zone operation, as the kernel's block layer checks it before a driver
// sees it: management ops name a zone's start and carry no data (reset_all: sector 0);
// an append names the start of the zone it goes to and fits max_zone_append_sectors.
Status check_zone_op(const DiskLimits& l, const IoDesc& io) noexcept {
  const uint64_t zone_mask = (l.zone_size_sectors << kSectorShift) - 1;
  if (io.op == Op::zone_append) {
    // A data op names its buffer here; only submit_segments makes one without (and then
    // the request's segments describe it).
    if (io.buf == nullptr || io.len == 0) return Status::inval;
    if (l.max_zone_append_sectors == 0) return Status::notsupp;
    if (io.len > (uint64_t{l.max_zone_append_sectors} << kSectorShift)) return Status::inval;
  } else {
    if (io.len != 0 || io.buf != nullptr) return Status::inval;
    if (io.op == Op::zone_reset_all && io.offset != 0) return Status::inval;
  }
  if (io.offset & zone_mask) return Status::inval;
  if (io.offset >= l.capacity_bytes) return Status::inval;
  return Status::ok;
}

}  // namespace

Status check_io(const DiskLimits& l, const IoDesc& io) noexcept {
  const uint64_t mask = l.logical_block_size - 1;
  switch (io.op) {
    case Op::read:
    case Op::write:
      if (io.len == 0 || io.buf == nullptr || io.len > l.max_request_bytes()) return Status::inval;
      break;
    case Op::flush: return io.len == 0 && io.offset == 0 ? Status::ok : Status::inval;
    case Op::discard:
      if (!l.supports_discard()) return Status::notsupp;
      break;
    case Op::write_zeroes:
      if (!l.supports_write_zeroes()) return Status::notsupp;
      break;
    default:
      if (l.zoned == ZonedModel::none) return Status::notsupp;
      if (Status s = check_zone_op(l, io); s != Status::ok) return s;
      break;
  }
  if ((io.offset | io.len) & mask) return Status::inval;
  if (io.offset > l.capacity_bytes || io.len > l.capacity_bytes - io.offset)
    return op_is_write(io.op) ? Status::nospc : Status::inval;
  if (l.read_only && op_is_write(io.op)) return Status::readonly;
  return Status::ok;
}

Status check_segments(const DiskLimits& l, const IoDesc& io, const IoSegment* segs,
                      unsigned nr_segs) noexcept {
  if (io.op != Op::read && io.op != Op::write) return Status::inval;
  if (io.buf != nullptr || segs == nullptr || nr_segs == 0 || nr_segs > l.max_segments)
    return Status::inval;
  const uint64_t mask = l.logical_block_size - 1;
  uint64_t sum = 0;
  for (unsigned i = 0; i < nr_segs; ++i) {
    if (segs[i].buf == nullptr || segs[i].len == 0 || (segs[i].len & mask)) return Status::inval;
    // A virtual boundary (NVMe's PRP rule): no gap inside a boundary-sized page.
    const auto addr = reinterpret_cast<uintptr_t>(segs[i].buf);
    if (l.virt_boundary_mask &&
        ((i > 0 && (addr & l.virt_boundary_mask)) ||
         (i + 1 < nr_segs && ((addr + segs[i].len) & l.virt_boundary_mask))))
      return Status::inval;
    sum += segs[i].len;
  }
  if (sum != io.len) return Status::inval;
  IoDesc whole = io;  // the range, length and op checks of a single-buffer I/O
  whole.buf = segs[0].buf;
  return check_io(l, whole);
}

}  // namespace detail
}  // namespace mqblk
