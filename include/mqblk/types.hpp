// mqblk/types.hpp - vocabulary shared by every layer: operations, flags, status, segments.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace mqblk {

// Sectors are always 512 bytes, whatever the logical block size (as in Linux).
inline constexpr unsigned kSectorShift = 9;
inline constexpr uint64_t kSectorSize = 1u << kSectorShift;

// The operation a request performs. Zone operations are reserved now so that zoned
// emulation does not renumber anything later.
enum class Op : uint8_t {
  read,
  write,
  flush,
  discard,
  write_zeroes,
  zone_open,
  zone_close,
  zone_finish,
  zone_append,
  zone_reset,
  zone_reset_all,
};

std::string_view to_string(Op op) noexcept;

// True for operations that carry a data payload (read fills it, write consumes it).
constexpr bool op_has_data(Op op) noexcept {
  return op == Op::read || op == Op::write || op == Op::zone_append;
}
constexpr bool op_is_write(Op op) noexcept { return op != Op::read; }

// One piece of a scatter-gather request: len bytes at buf.
struct IoSegment {
  std::byte* buf = nullptr;
  uint32_t len = 0;
};

// Request flags, as the kernel's REQ_* bits.
enum ReqFlag : uint32_t {
  kReqFua = 1u << 0,       // data must be on stable media when the request ends
  kReqPreflush = 1u << 1,  // flush the volatile cache before this request
  kReqNoUnmap = 1u << 2,   // write_zeroes: keep the range allocated (no hole)
  kReqNoWait = 1u << 3,    // submission must not sleep for a tag: return busy instead
  kReqMore = 1u << 4,      // more submissions follow at once: queue_rq sees last=false and
                           // the driver's commit_rqs runs at IoQueue::commit() (or reap)
};

// How a request ended, a subset of blk_status_t. Frontends map it to errno.
enum class Status : uint8_t {
  ok = 0,
  ioerr,      // generic I/O error (EIO)
  notsupp,    // operation not supported (EOPNOTSUPP)
  nospc,      // past the end / no space (ENOSPC)
  inval,      // malformed request (EINVAL)
  timeout,    // the request timed out (ETIMEDOUT)
  busy,       // resource temporarily unavailable (EAGAIN)
  cancelled,  // ended by teardown or cancellation (ECANCELED)
  medium,     // bad block / media error (EIO with a medium flavour)
  readonly,   // write to a read-only device or zone (EROFS)
  // Zoned devices (mqblk/zoned.hpp): no zone can be opened / made active (the kernel's
  // BLK_STS_ZONE_OPEN_RESOURCE, ETOOMANYREFS, and BLK_STS_ZONE_ACTIVE_RESOURCE, EOVERFLOW).
  zone_open_resource,
  zone_active_resource,
};

std::string_view to_string(Status s) noexcept;
int status_to_errno(Status s) noexcept;  // positive errno, 0 for ok

}  // namespace mqblk
