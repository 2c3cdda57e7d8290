// Turning null attributes into a device: the checks that need the whole configuration.
#include <fmt/format.h>

#include <cstdio>

#include "drivers/null/null_driver.hpp"

namespace mqblk::null {
namespace {

// Attributes null_blk has that mqblk parses but does not implement yet: refuse a
// non-default value rather than ignore it.
void refuse_unimplemented(const NullConfig& c) {
  auto refuse = [](std::string_view what, std::string_view fix) {
    throw ConfigError(fmt::format("null: {} is not implemented yet ({})", what, fix));
  };
  if (c.mbps) refuse(fmt::format("mbps={} (bandwidth throttling)", c.mbps), "leave mbps=0");
  if (c.cache_size_bytes) refuse("cache_size (the write-back cache)", "leave cache_size=0");
  if (c.poll_queues) refuse("poll_queues", "leave poll_queues=0");
}

}  // namespace

NullPlan plan_null_device(const std::vector<std::string>& attrs, const DeviceOverrides& overrides) {
  NullPlan p;
  NullConfig& cfg = p.cfg;
  cfg = parse_null_config(attrs);
  apply_overrides("null", overrides, attrs, cfg.submit_queues, cfg.hw_queue_depth);
  refuse_unimplemented(cfg);

  TagSetConfig& ts = p.tags;
  ts.nr_hw_queues = cfg.submit_queues;
  ts.queue_depth = cfg.hw_queue_depth;
  ts.timeout_ns = cfg.request_timeout_ns;
  ts.blocking = cfg.blocking;

  DiskLimits& l = p.limits;
  l.capacity_bytes = cfg.size_bytes;
  l.logical_block_size = l.physical_block_size = cfg.blocksize;
  l.max_sectors = cfg.max_sectors;
  if (cfg.discard) {
    l.discard_granularity = cfg.blocksize;
    l.max_discard_sectors = UINT32_MAX >> kSectorShift;
  }
  l.max_write_zeroes_sectors = UINT32_MAX >> kSectorShift;
  l.volatile_write_cache = cfg.memory_backed;
  l.fua = cfg.fua;
  l.rotational = cfg.rotational;
  if (cfg.zoned) {
    p.zoned = plan_zoned(cfg);
    apply_zoned_limits(p.zoned.geometry, l);
  }
  detail::check_device_config(ts, l);
  return p;
}

namespace {

std::vector<std::unique_ptr<NullDevice>> make_from_plan(const NullPlan& p) {
  std::shared_ptr<TagSet<NullDriver>> shared;
  if (p.cfg.shared_tags) shared = TagSet<NullDriver>::create(p.tags);
  std::string description = "null " + p.cfg.to_attr_string();
  std::vector<std::unique_ptr<NullDevice>> devs;
  for (const std::string& note : p.zoned.notes) std::fprintf(stderr, "%s\n", note.c_str());
  for (uint32_t i = 0; i < p.cfg.nr_devices; ++i) {
    std::unique_ptr<PageStore> store;
    if (p.cfg.memory_backed)
      store = PageStore::open(PageStoreOptions{
          p.cfg.size_bytes + (p.cfg.zoned ? zone_state_bytes(p.cfg, p.zoned.geometry) : 0),
          p.cfg.memory_cap_bytes, p.cfg.backing_file});
    std::unique_ptr<ZoneTable> zones;
    if (p.cfg.zoned) zones = make_zone_table(p.cfg, p.zoned.geometry, store.get());
    if (shared)
      devs.push_back(std::make_unique<NullDevice>(shared, p.limits, description, p.cfg,
                                                  std::move(store), std::move(zones)));
    else
      devs.push_back(std::make_unique<NullDevice>(p.tags, p.limits, description, p.cfg,
                                                  std::move(store), std::move(zones)));
  }
  return devs;
}

}  // namespace

// The whole plan is checked before any store (maybe a file) is created.
std::vector<std::unique_ptr<NullDevice>> make_null_devices(const std::vector<std::string>& attrs,
                                                           const DeviceOverrides& overrides) {
  return make_from_plan(plan_null_device(attrs, overrides));
}

}  // namespace mqblk::null
