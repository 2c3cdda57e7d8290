// ublk/params.hpp - a disk's limits as ublk device parameters.
#pragma once

#include "mqblk/disk.hpp"
#include "ublk/abi.hpp"

namespace mqblk::ublk {

// Basic (capacity, block sizes, max I/O, volatile cache, FUA, rotational, read-only) and,
// when the disk supports discard or write-zeroes, the discard parameters. The kernel
// rejects max_sectors above the device's max_io_buf_bytes, so max_io_bytes() below is
// what ADD_DEV must ask for.
abi::Params to_params(const DiskLimits& limits);

// Bytes per request buffer: the disk's max request size, capped at ublk's 32 MiB.
uint32_t max_io_bytes(const DiskLimits& limits);

}  // namespace mqblk::ublk
