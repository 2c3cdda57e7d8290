// The driver registry: a list the drivers' registrations fill during static
// initialisation. The engine names no driver.
#include "mqblk/registry.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>

#include "mqblk/faults.hpp"

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
  // The engine's attributes apply to every driver: listed with each.
  const std::vector<AttributeInfo> common = fault_attributes();
  for (const auto* d : registered_drivers()) {
    out.push_back(d->info());
    out.back().attributes.insert(out.back().attributes.end(), common.begin(), common.end());
  }
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

namespace {

// The items of attrs that are (faults=true) or are not the engine's attributes.
std::vector<std::string> items_where(const std::vector<std::string>& attrs, bool faults) {
  std::vector<std::string> out;
  for (const auto& a : attrs)
    if (is_fault_attribute(std::string_view(a).substr(0, a.find('='))) == faults) out.push_back(a);
  return out;
}

// The engine's attributes, checked; an init_hctx fault is decided here, once per hardware
// queue of every device, as null_blk's init_hctx would fail while creating them.
FaultSettings plan_faults(std::string_view driver, const std::vector<std::string>& attrs,
                          const DevicePlan& p) {
  FaultSettings s;
  try {
    apply_fault_items(s, items_where(attrs, true), false);
  } catch (const ConfigError& e) {
    throw ConfigError(fmt::format("{}: {}", driver, e.what()));
  }
  if (s.cache_size) {
    // Where a write cache cannot keep its promises, it is refused rather than ignored.
    const uint64_t mb = s.cache_size >> 20;
    const char* why = p.limits.read_only ? "the device is read-only: there is nothing to cache"
                      : p.limits.zoned != ZonedModel::none
                          ? "a zoned device: the cache does not keep zone write pointers"
                      : !p.limits.volatile_write_cache
                          ? "this configuration keeps no data and takes no FLUSH, so nothing "
                            "could make cached writes durable (a null device: memory_backed=1)"
                      : !p.fills_read_buffers
                          ? "this configuration's reads do not return what was written, so "
                            "there is nothing to cache"
                      : p.limits.max_request_bytes() < WriteCache::kPage
                          ? "requests are smaller than the cache's 4 KiB pages (raise max_sectors)"
                          : nullptr;
    if (why)
      throw ConfigError(
          fmt::format("{}: cache_size={}: {}; drop cache_size", driver,
                      mb ? std::to_string(mb) : std::to_string(s.cache_size >> 10) + "K", why));
  }
  if (auto failed = first_failing_hctx(s, p.nr_devices, p.nr_hw_queues))
    throw ConfigError(fmt::format(
        "{}: init_hctx={}: fault injected: hardware queue {} of device {} failed to "
        "initialise, so nothing was created (null_blk's init_hctx fault; drop init_hctx "
        "to create it)",
        driver, s.init_hctx.to_string(), failed->second, failed->first));
  return s;
}

// Creates the devices of a configuration already planned (p), with their faults set.
std::vector<std::unique_ptr<BlockDevice>> make_planned(const DriverRegistration& d,
                                                       std::string_view driver,
                                                       const std::vector<std::string>& attrs,
                                                       const DeviceOverrides& overrides,
                                                       const DevicePlan& p) {
  const FaultSettings faults = plan_faults(driver, attrs, p);
  std::vector<std::unique_ptr<BlockDevice>> devs = d.make()(items_where(attrs, false), overrides);
  for (auto& dev : devs)
    if (DeviceFaults* f = dev->faults()) f->configure(faults);
  return devs;
}

}  // namespace

std::vector<std::string> driver_attributes_of(const std::vector<std::string>& attrs) {
  return items_where(attrs, false);
}

DevicePlan plan_device(std::string_view driver, const std::vector<std::string>& attrs,
                       const DeviceOverrides& overrides) {
  DevicePlan p = find_driver(driver).plan()(driver_attributes_of(attrs), overrides);
  (void)plan_faults(driver, attrs, p);
  return p;
}

std::vector<std::unique_ptr<BlockDevice>> make_devices(std::string_view driver,
                                                       const std::vector<std::string>& attrs,
                                                       const DeviceOverrides& overrides) {
  const DriverRegistration& d = find_driver(driver);
  return make_planned(d, driver, attrs, overrides,
                      d.plan()(driver_attributes_of(attrs), overrides));
}

void control_set(BlockDevice& dev, std::string_view driver, const std::vector<std::string>& items) {
  DeviceFaults* f = dev.faults();
  if (!f) throw ConfigError("this device has no live attributes");
  FaultSettings next = f->settings();
  std::vector<std::string> faults;
  std::vector<std::pair<std::string, std::string>> live;
  const DriverInfo& info = find_driver(driver).info();
  for (const auto& item : items) {
    size_t eq = item.find('=');
    if (eq == std::string::npos || eq == 0 || eq + 1 == item.size())
      throw ConfigError(fmt::format("'{}': expected key=value (e.g. badblocks=+0-7)", item));
    std::string key = item.substr(0, eq), value = item.substr(eq + 1);
    if (is_fault_attribute(key)) {
      faults.push_back(item);
    } else if (dev.set_live_attr(key, value, false)) {
      live.emplace_back(key, value);
    } else {
      bool known = std::any_of(info.attributes.begin(), info.attributes.end(),
                               [&](const AttributeInfo& a) { return a.name == key; });
      if (!known)
        throw ConfigError(
            fmt::format("{}: unknown attribute '{}' (see `mqblk features` for the {} driver's)",
                        key, key, driver));
      if (f->powered())
        throw ConfigError(fmt::format(
            "{}={}: locked while the device is powered, as in null_blk; an mqblk device also "
            "keeps it with the power off, as its clients depend on it: restart the device "
            "with {}={}",
            key, value, key, value));
      throw ConfigError(fmt::format(
          "{}={}: fixed for this device's life (its clients depend on it): restart the device "
          "with {}={}",
          key, value, key, value));
    }
  }
  apply_fault_items(next, faults, true);  // throws before anything changed
  const bool power_given = std::any_of(
      faults.begin(), faults.end(), [](const std::string& i) { return i.rfind("power=", 0) == 0; });
  f->configure(next);
  for (const auto& [k, v] : live) dev.set_live_attr(k, v, true);
  if (power_given && next.powered != f->powered()) dev.set_power(next.powered);
}

std::vector<std::pair<std::string, std::string>> control_get(BlockDevice& dev) {
  std::vector<std::pair<std::string, std::string>> out;
  const std::string d = dev.describe();
  size_t pos = d.find(' ');
  out.emplace_back("driver", d.substr(0, pos));
  while (pos != std::string::npos) {
    size_t next = d.find(' ', pos + 1);
    std::string item = d.substr(pos + 1, next == std::string::npos ? next : next - pos - 1);
    size_t eq = item.find('=');
    if (eq != std::string::npos) out.emplace_back(item.substr(0, eq), item.substr(eq + 1));
    pos = next;
  }
  if (DeviceFaults* f = dev.faults()) {
    FaultSettings s = f->settings();
    for (const auto& item : fault_items_all(s)) {
      size_t eq = item.find('=');
      out.emplace_back(item.substr(0, eq), item.substr(eq + 1));
    }
    out.emplace_back("power", s.powered ? "1" : "0");
    out.emplace_back("fault_failed", std::to_string(f->failed()));
    out.emplace_back("fault_held", std::to_string(f->held()));
    out.emplace_back("throttled", std::to_string(f->throttled()));
    WriteCache* c = f->cache();
    out.emplace_back("cache_dirty_bytes", std::to_string(c ? c->dirty_bytes() : 0));
    out.emplace_back("cache_evicted_pages", std::to_string(c ? c->evicted_pages() : 0));
  }
  // The driver's live values replace what it was created with (irqmode set live, say).
  std::vector<std::pair<std::string, std::string>> live;
  dev.live_state(live);
  for (auto& kv : live) {
    auto it =
        std::find_if(out.begin(), out.end(), [&](const auto& o) { return o.first == kv.first; });
    if (it != out.end())
      it->second = kv.second;
    else
      out.push_back(kv);
  }
  uint64_t in_flight = 0, timeouts = 0, requeued = 0;
  for (const auto& q : dev.stats()) {
    in_flight += q.in_flight;
    timeouts += q.timeouts;
    requeued += q.requeued;
  }
  out.emplace_back("in_flight", std::to_string(in_flight));
  out.emplace_back("timeouts", std::to_string(timeouts));
  out.emplace_back("requeued", std::to_string(requeued));
  return out;
}

std::unique_ptr<BlockDevice> make_device(std::string_view driver,
                                         const std::vector<std::string>& attrs,
                                         const DeviceOverrides& overrides) {
  const DriverRegistration& d = find_driver(driver);
  // Planned first: a configuration of several devices is refused before any is created.
  DevicePlan p = d.plan()(driver_attributes_of(attrs), overrides);
  if (p.nr_devices != 1)
    throw ConfigError(fmt::format(
        "{}: nr_devices={}: this command serves one device (use nr_devices=1, and run one "
        "server per device; mqblk bench runs several)",
        driver, p.nr_devices));
  return std::move(make_planned(d, driver, attrs, overrides, p).front());
}

}  // namespace mqblk
