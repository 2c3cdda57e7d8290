// ublk/params.hpp - a disk's limits as ublk device parameters.
#pragma once

#include <string>

#include "mqblk/disk.hpp"
#include "ublk/abi.hpp"

namespace mqblk::ublk {

// Basic (capacity, block sizes, max I/O, volatile cache, FUA, rotational, read-only) and,
// when the disk supports discard or write-zeroes, the discard parameters. The kernel
// rejects max_sectors above the device's max_io_buf_bytes, so max_io_bytes() below is
// what ADD_DEV must ask for.
abi::Params to_params(const DiskLimits& limits);

// Empty when ublk can serve this zoned disk; otherwise one line saying why not and what to
// change (ublk counts whole zones only, needs native zone append and USER_COPY).
std::string zoned_refusal(const DiskLimits& limits, bool user_copy);

// Bytes per request buffer: the disk's max request size, capped at ublk's 32 MiB.
uint32_t max_io_bytes(const DiskLimits& limits);

}  // namespace mqblk::ublk
