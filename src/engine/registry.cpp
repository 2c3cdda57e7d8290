// The driver registry: a list the drivers' registrations fill during static
// initialisation. The engine names no driver.
#include "mqblk/registry.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>

namespace mqblk {
namespace {

bool given(const std::vector<std::string>& attrs, std::string_view key) {
  for (const auto& a : attrs)
    if (a.size() > key.size() && a.compare(0, key.size(), key) == 0 && a[key.size()] == '=')
      return true;
  return false;
}

void apply_override(std::string_view driver, uint32_t& value, int override,
                    const std::vector<std::string>& attrs, std::string_view key,
                    std::string_view flag) {
  if (override < 0) return;
  if (given(attrs, key) && value != static_cast<uint32_t>(override))
    throw ConfigError(fmt::format("{}: {}={} conflicts with {} {}: give one of them", driver, key,
                                  value, flag, override));
  value = static_cast<uint32_t>(override);
}

// A function-local static: registrations in other translation units may run before any
// namespace-scope object of this one is constructed.
std::vector<const DriverRegistration*>& registry() {
  static std::vector<const DriverRegistration*> r;
  return r;
}

}  // namespace

void apply_overrides(std::string_view driver, const DeviceOverrides& overrides,
                     const std::vector<std::string>& attrs, uint32_t& submit_queues,
                     uint32_t& hw_queue_depth) {
  apply_override(driver, submit_queues, overrides.nr_hw_queues, attrs, "submit_queues", "-q");
  apply_override(driver, hw_queue_depth, overrides.queue_depth, attrs, "hw_queue_depth", "-d");
}

DriverRegistration::DriverRegistration(const DriverInfo& info, PlanDevicesFn plan,
                                       MakeDevicesFn make) noexcept
    : info_(info), plan_(plan), make_(make) {
  auto& r = registry();
  for (const auto* d : r) {
    if (d->info().name == info_.name) {
      std::fprintf(stderr, "mqblk: two drivers register the name '%s'; rename one\n",
                   info_.name.c_str());
      std::abort();
    }
  }
  r.push_back(this);
}

std::vector<const DriverRegistration*> registered_drivers() {
  std::vector<const DriverRegistration*> r = registry();
  std::sort(r.begin(), r.end(),
            [](const auto* a, const auto* b) { return a->info().name < b->info().name; });
  return r;
}

std::vector<DriverInfo> list_drivers() {
  std::vector<DriverInfo> out;
  for (const auto* d : registered_drivers()) out.push_back(d->info());
  return out;
}

const DriverRegistration& find_driver(std::string_view driver) {
  for (const auto* d : registry())
    if (d->info().name == driver) return *d;
  std::string names;
  for (const auto* d : registered_drivers()) names += (names.empty() ? "" : ", ") + d->info().name;
  if (names.empty()) names = "none (this build registered no driver)";
  throw ConfigError(fmt::format("unknown driver '{}': the drivers are: {} (see `mqblk features`)",
                                driver, names));
}

DevicePlan plan_device(std::string_view driver, const std::vector<std::string>& attrs,
                       const DeviceOverrides& overrides) {
  return find_driver(driver).plan()(attrs, overrides);
}

std::vector<std::unique_ptr<BlockDevice>> make_devices(std::string_view driver,
                                                       const std::vector<std::string>& attrs,
                                                       const DeviceOverrides& overrides) {
  return find_driver(driver).make()(attrs, overrides);
}

std::unique_ptr<BlockDevice> make_device(std::string_view driver,
                                         const std::vector<std::string>& attrs,
                                         const DeviceOverrides& overrides) {
  const DriverRegistration& d = find_driver(driver);
  // Planned first: a configuration of several devices is refused before any is created.
  DevicePlan p = d.plan()(attrs, overrides);
  if (p.nr_devices != 1)
    throw ConfigError(fmt::format(
        "{}: nr_devices={}: this command serves one device (use nr_devices=1, and run one "
        "server per device; mqblk bench runs several)",
        driver, p.nr_devices));
  std::vector<std::unique_ptr<BlockDevice>> devs = d.make()(attrs, overrides);
  return std::move(devs.front());
}

}  // namespace mqblk
