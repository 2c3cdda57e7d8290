// mqblk/registry.hpp - drivers declare themselves; tools create devices by driver name
// and key=value attributes.
//
// A driver is one folder under src/drivers/ with one DriverRegistration object (as an
// nbdkit plugin declares itself): its name, what it is, its attributes, and the functions
// that plan and create its devices. The command line, the NBD and ublk servers and
// `mqblk features` find it here; the engine names no driver. `null size=1G
// memory_backed=1` becomes make_device("null", {"size=1G", "memory_backed=1"}).
//
// Static linking: a registration lives in a static library that nothing references, so
// the library must be linked whole (CMake target mqblk_core does it: the drivers library
// with LINK_LIBRARY:WHOLE_ARCHIVE).
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "mqblk/block_device.hpp"
#include "mqblk/errors.hpp"
#include "mqblk/tag_set.hpp"

namespace mqblk {

// One attribute a driver accepts, for `features`, the docs and the man pages.
struct AttributeInfo {
  std::string name;
  std::string default_value;
  std::string unit;  // "MB", "ns", "bool", "" ...
  std::string help;
  bool live = false;                 // may change while the device runs
  bool locked_while_powered = true;  // refused while the device is powered (null_blk's rule)
};

// What a driver is and promises, as the frontends need to know it.
struct DriverInfo {
  std::string name;
  std::string help;
  std::vector<AttributeInfo> attributes;
  // Reads always fill the whole buffer; when false, a frontend must not send a read
  // buffer's previous bytes to a client (see DevicePlan::fills_read_buffers per config).
  bool fills_read_buffers = false;
  // A write may be issued twice with the same result (ublk reissues on recovery).
  bool idempotent_writes = false;
  bool can_be_zoned = false;  // a zoned configuration exists
};

// Frontend overrides applied on top of the attributes (ublk's -q/-d name submit_queues and
// hw_queue_depth; giving both with different values is a ConfigError).
struct DeviceOverrides {
  int nr_hw_queues = -1;
  int queue_depth = -1;
};

// Applies the overrides to a driver's parsed submit_queues and hw_queue_depth (the
// attributes they name): an override alone wins, the attribute alone stays, both with
// different values is a ConfigError naming `driver`, the attribute and the flag.
void apply_overrides(std::string_view driver, const DeviceOverrides& overrides,
                     const std::vector<std::string>& attrs, uint32_t& submit_queues,
                     uint32_t& hw_queue_depth);

// What make_device would create, without creating anything: the same checks and
// ConfigErrors, and the resulting shape. Tools check their own options against it first,
// so that a bad option never leaves a created device (or its backing file) behind.
struct DevicePlan {
  DiskLimits limits;
  unsigned nr_hw_queues = 0;
  unsigned queue_depth = 0;
  unsigned nr_devices = 1;          // of make_devices
  bool shared_tags = false;         // make_devices puts them on one tag set
  bool fills_read_buffers = false;  // this configuration's reads fill the buffer
  // Values the driver adjusted, one line each (null_blk's zoned clamps), for a frontend to
  // show before it starts; the driver also prints them when it makes the devices.
  std::vector<std::string> notes;
};

// A driver's entry points. Both throw ConfigError (one line) for a bad attribute or an
// impossible combination, before anything is created.
using PlanDevicesFn = DevicePlan (*)(const std::vector<std::string>& attrs,
                                     const DeviceOverrides& overrides);
using MakeDevicesFn = std::vector<std::unique_ptr<BlockDevice>> (*)(
    const std::vector<std::string>& attrs, const DeviceOverrides& overrides);

// Declares a driver: a namespace-scope `const DriverRegistration r{...};` in the driver's
// folder. Registrations run during static initialisation, in any order; a second driver
// of the same name aborts with one line (a build mistake, not a user's).
class DriverRegistration {
 public:
  DriverRegistration(const DriverInfo& info, PlanDevicesFn plan, MakeDevicesFn make) noexcept;
  DriverRegistration(const DriverRegistration&) = delete;
  DriverRegistration& operator=(const DriverRegistration&) = delete;

  const DriverInfo& info() const noexcept { return info_; }
  PlanDevicesFn plan() const noexcept { return plan_; }
  MakeDevicesFn make() const noexcept { return make_; }

 private:
  DriverInfo info_;
  PlanDevicesFn plan_;
  MakeDevicesFn make_;
};

// The registration named `driver`; ConfigError naming the drivers there are otherwise.
const DriverRegistration& find_driver(std::string_view driver);

// Every registered driver, by name.
std::vector<const DriverRegistration*> registered_drivers();
std::vector<DriverInfo> list_drivers();

// One device: attributes asking for several (null's nr_devices) are a ConfigError here.
std::unique_ptr<BlockDevice> make_device(std::string_view driver,
                                         const std::vector<std::string>& attrs,
                                         const DeviceOverrides& overrides = {});

// Every device the attributes describe (null's nr_devices, on one shared tag set with
// shared_tags=1): for tools that drive several at once, as `mqblk bench`.
std::vector<std::unique_ptr<BlockDevice>> make_devices(std::string_view driver,
                                                       const std::vector<std::string>& attrs,
                                                       const DeviceOverrides& overrides = {});

DevicePlan plan_device(std::string_view driver, const std::vector<std::string>& attrs,
                       const DeviceOverrides& overrides = {});

// The engine's attributes (mqblk/faults.hpp: badblocks, fault and error injection, mbps)
// work on every driver: make_device, make_devices and plan_device take them out of attrs
// before the driver sees the rest, check them (ConfigError, nothing created; an init_hctx
// fault that fires refuses the device here), and configure each device's DeviceFaults.
std::vector<std::string> driver_attributes_of(const std::vector<std::string>& attrs);

// Live control, the C++ face of `mqblk set` / `mqblk get` (and the control socket).
// control_set applies key=value items to a running device: the engine's attributes,
// power=0|1 and the driver's live ones (driver.hpp, set_live_attr). The whole set is checked
// first: a bad item is a ConfigError (one line) and nothing changes. A driver attribute that
// is not live is refused: while powered as null_blk refuses it ("locked while powered"),
// and while the power is off too, because an mqblk device keeps its shape for its clients
// (restart it with the new value).
void control_set(BlockDevice& dev, std::string_view driver, const std::vector<std::string>& items);
// The device's attributes and state as (key, value) pairs: the driver's attributes as
// created, the engine's, power, the fault counters, the driver's live state and in-flight
// counts.
std::vector<std::pair<std::string, std::string>> control_get(BlockDevice& dev);

}  // namespace mqblk
