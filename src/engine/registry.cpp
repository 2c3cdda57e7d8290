#include "mqblk/registry.hpp"

#include <fmt/format.h>

#include "drivers/null/null_driver.hpp"

namespace mqblk {
namespace {

[[noreturn]] void unknown_driver(std::string_view driver) {
  std::string names;
  for (const auto& d : list_drivers()) names += (names.empty() ? "" : ", ") + d.name;
  throw ConfigError(fmt::format("unknown driver '{}': the drivers are: {} (see `mqblk features`)",
                                driver, names));
}

}  // namespace

std::unique_ptr<BlockDevice> make_device(std::string_view driver,
                                         const std::vector<std::string>& attrs,
                                         const DeviceOverrides& overrides) {
  if (driver == "null") return null::make_null_device(attrs, overrides);
  unknown_driver(driver);
}

std::vector<std::unique_ptr<BlockDevice>> make_devices(std::string_view driver,
                                                       const std::vector<std::string>& attrs,
                                                       const DeviceOverrides& overrides) {
  if (driver != "null") unknown_driver(driver);
  std::vector<std::unique_ptr<BlockDevice>> out;
  for (auto& d : null::make_null_devices(attrs, overrides)) out.push_back(std::move(d));
  return out;
}

DevicePlan plan_device(std::string_view driver, const std::vector<std::string>& attrs,
                       const DeviceOverrides& overrides) {
  if (driver == "null") {
    null::NullPlan p = null::plan_null_device(attrs, overrides);
    return DevicePlan{p.limits, p.tags.nr_hw_queues, p.tags.queue_depth, p.cfg.nr_devices,
                      p.cfg.shared_tags};
  }
  unknown_driver(driver);
}

std::vector<DriverInfo> list_drivers() {
  return {DriverInfo{"null",
                     "null_blk-compatible test device: completes I/O without doing it, or stores "
                     "data in a sparse page store (memory_backed=1)",
                     null::null_attributes()}};
}

}  // namespace mqblk
