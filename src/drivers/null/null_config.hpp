// drivers/null/null_config.hpp - the null device's attributes, parsed from key=value items.
//
// Names, units and defaults are null_blk's (Linux Documentation/block/null_blk.rst and
// drivers/block/null_blk/main.c), so a null_blk configfs/modprobe line carries over:
// `size` is in MB, `gb` (module parameter) in GB, `bs` is an alias of `blocksize`.
// mqblk extensions: backing_file, memory_cap, request_timeout. docs/null-device.md has the
// full table. Parsing is pure: nothing is created, and every mistake is a ConfigError whose
// what() is one line "null: KEY=VALUE: what is wrong (how to fix)".
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "mqblk/registry.hpp"

namespace mqblk::null {

// null_blk's irqmode: how a request's completion is delivered.
enum class IrqMode : uint8_t {
  none = 0,     // completed inline, in queue_rq's caller
  softirq = 1,  // completed from the queue's completion context
  timer = 2,    // completed completion_nsec after submission by a timer
};

struct NullConfig {
  // null_blk attributes.
  uint64_t size_bytes = uint64_t{250} << 30;  // size=MB (gb=GB); null_blk's gb=250 default
  uint32_t blocksize = 512;                   // blocksize / bs: 512..4096, power of two
  uint32_t submit_queues = 1;                 // hardware queues, 1..256
  uint32_t poll_queues = 0;                   // polled hardware queues, after submit_queues
  uint32_t hw_queue_depth = 64;               // tags per hardware queue, 1..4096
  IrqMode irqmode = IrqMode::softirq;
  uint64_t completion_nsec = 10000;  // irqmode=2 completion delay
  bool memory_backed = false;        // store data (a PageStore) instead of dropping it
  bool discard = false;              // needs memory_backed
  bool fua = true;
  bool blocking = false;     // BLK_MQ_F_BLOCKING: queue_rq may sleep
  bool shared_tags = false;  // the nr_devices devices share one tag set
  uint32_t nr_devices = 1;   // devices to create (make_null_devices)
  bool rotational = false;
  uint32_t max_sectors = 2560;  // per request, in 512-byte sectors
  uint32_t queue_mode = 2;      // only 2 (multiqueue) is accepted
  int32_t home_node = -1;       // accepted and ignored (NUMA_NO_NODE)
  bool virt_boundary = false;
  // Zoned emulation (null_blk's zoned.c; drivers/null/zoned_null.hpp).
  bool zoned = false;
  uint64_t zone_size_bytes = uint64_t{256} << 20;  // zone_size=MB, a power of two
  uint64_t zone_capacity_bytes = 0;                // zone_capacity=MB, 0 = zone_size
  uint32_t zone_nr_conv = 0;                       // conventional zones first
  uint32_t zone_max_open = 0;                      // 0 = no limit
  uint32_t zone_max_active = 0;                    // 0 = no limit
  uint32_t zone_append_max_sectors = 2147483647;   // null_blk's INT_MAX default; clamped
  bool zone_full = false;                          // sequential zones start full
  std::string zone_readonly;                       // sectors (comma-separated) of zones
  std::string zone_offline;                        // made read-only / offline at creation
  // mqblk extensions.
  std::string backing_file;                     // memory_backed store in this file ("" = memfd)
  uint64_t memory_cap_bytes = 0;                // memory_cap=MB, 0 = no cap
  uint64_t request_timeout_ns = 5'000'000'000;  // request_timeout=seconds (decimals allowed)

  bool operator==(const NullConfig&) const = default;

  // Canonical attributes, re-parseable by parse_null_config(): the core ones always
  // (size blocksize submit_queues hw_queue_depth irqmode completion_nsec memory_backed),
  // the others only where they differ from the default. size is in MB, or "<n>K" when the
  // size is not a whole number of MB.
  std::string to_attr_string() const;
};

// Parses items "key=value". Throws ConfigError (one line) on an unknown key, a missing '=',
// an empty value, a key given twice with different values (aliases count as the same key),
// a bad number or unit, a value out of range, or an impossible combination.
NullConfig parse_null_config(const std::vector<std::string>& kv);

// Every attribute the null driver accepts, aliases included, for `features` and the docs.
std::vector<mqblk::AttributeInfo> null_attributes();

}  // namespace mqblk::null
