// mqblk/registry.hpp - create devices by driver name and key=value attributes.
//
// This is how the command line, the NBD server and the ublk server create "any mqblk
// device": `null size=1G memory_backed=1` becomes make_device("null", {"size=1G", ...}).
#pragma once

#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "mqblk/block_device.hpp"
#include "mqblk/tag_set.hpp"

namespace mqblk {

// A configuration mistake, reported before anything is created. what() is one line:
// what is wrong, where (the key), and how to fix it.
class ConfigError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// One attribute a driver accepts, for `features` and the docs.
struct AttributeInfo {
  std::string name;
  std::string default_value;
  std::string unit;  // "MB", "ns", "bool", "" ...
  std::string help;
};

struct DriverInfo {
  std::string name;
  std::string help;
  std::vector<AttributeInfo> attributes;
};

// Frontend overrides applied on top of the attributes (ublk's -q/-d name submit_queues and
// hw_queue_depth; giving both with different values is a ConfigError).
struct DeviceOverrides {
  int nr_hw_queues = -1;
  int queue_depth = -1;
};

// Throws ConfigError for an unknown driver, unknown key, bad value or impossible
// combination; creates nothing in that case. One device: attributes asking for several
// (null's nr_devices) are a ConfigError here.
std::unique_ptr<BlockDevice> make_device(std::string_view driver,
                                         const std::vector<std::string>& attrs,
                                         const DeviceOverrides& overrides = {});

// Every device the attributes describe (null's nr_devices, on one shared tag set with
// shared_tags=1): for tools that drive several at once, as `mqblk bench`.
std::vector<std::unique_ptr<BlockDevice>> make_devices(std::string_view driver,
                                                       const std::vector<std::string>& attrs,
                                                       const DeviceOverrides& overrides = {});

// What make_device would create, without creating anything: the same checks and
// ConfigErrors, and the resulting shape. Tools check their own options against it first,
// so that a bad option never leaves a created device (or its backing file) behind.
struct DevicePlan {
  DiskLimits limits;
  unsigned nr_hw_queues = 0;
  unsigned queue_depth = 0;
  unsigned nr_devices = 1;   // of make_devices
  bool shared_tags = false;  // make_devices puts them on one tag set
  // What one IoQueue may have in flight: the queue depth, or its fair share of a shared set.
  unsigned per_queue_cap() const noexcept {
    return shared_tags ? fair_share(queue_depth, nr_devices) : queue_depth;
  }
};
DevicePlan plan_device(std::string_view driver, const std::vector<std::string>& attrs,
                       const DeviceOverrides& overrides = {});

std::vector<DriverInfo> list_drivers();

}  // namespace mqblk
