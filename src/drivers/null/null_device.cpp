// Turning null attributes into a device: the checks that need the whole configuration.
#include <fmt/format.h>

#include <cstdio>

#include "drivers/null/null_driver.hpp"

namespace mqblk::null {
void NullDriver::poll_add(Hctx<NullDriver>& h, Owned<NullDriver> rq, Status s, uint64_t result) {
  PollList& p = polled_[h.index() - first_poll_queue_];
  std::lock_guard lk(p.lock);
  p.list.emplace_back(std::move(rq), s, result);  // reserved: at most depth requests
  p.pending.fetch_add(1, std::memory_order_release);
}

unsigned NullDriver::poll_queue(Hctx<NullDriver>& h) {
  PollList& p = polled_[h.index() - first_poll_queue_];
  if (p.pending.load(std::memory_order_acquire) == 0) return 0;
  std::tuple<Owned<NullDriver>, Status, uint64_t> batch[64];
  unsigned n = 0;
  {
    std::lock_guard lk(p.lock);
    n = static_cast<unsigned>(std::min<size_t>(p.list.size(), 64));
    for (unsigned i = 0; i < n; ++i) batch[i] = std::move(p.list[p.list.size() - n + i]);
    p.list.resize(p.list.size() - n);
    p.pending.fetch_sub(n, std::memory_order_release);
  }
  for (unsigned i = 0; i < n; ++i)
    (void)std::move(std::get<0>(batch[i])).end(std::get<1>(batch[i]), std::get<2>(batch[i]));
  p.reaped.fetch_add(n, std::memory_order_relaxed);
  return n;
}

bool NullDriver::set_live_attr(std::string_view key, std::string_view value, bool apply) {
  if (key != "irqmode" && key != "completion_nsec") return false;
  // The parser's own checks and messages, on a one-item configuration.
  NullConfig c = parse_null_config({fmt::format("{}={}", key, value)});
  if (apply) {
    if (key == "irqmode")
      irqmode_.store(c.irqmode, std::memory_order_relaxed);
    else
      completion_nsec_.store(static_cast<int64_t>(c.completion_nsec), std::memory_order_relaxed);
  }
  return true;
}

void NullDriver::live_state(std::vector<std::pair<std::string, std::string>>& out) const {
  out.emplace_back("irqmode",
                   std::to_string(static_cast<int>(irqmode_.load(std::memory_order_relaxed))));
  out.emplace_back("completion_nsec",
                   std::to_string(completion_nsec_.load(std::memory_order_relaxed)));
  if (!polled_.empty()) {
    uint64_t n = 0;
    for (const PollList& p : polled_) n += p.reaped.load(std::memory_order_relaxed);
    out.emplace_back("polled_ios", std::to_string(n));
  }
  if (store_) out.emplace_back("resident_bytes", std::to_string(store_->resident_bytes()));
}

NullPlan plan_null_device(const std::vector<std::string>& attrs, const DeviceOverrides& overrides) {
  NullPlan p;
  NullConfig& cfg = p.cfg;
  cfg = parse_null_config(attrs);
  apply_overrides("null", overrides, attrs, cfg.submit_queues, cfg.hw_queue_depth);

  TagSetConfig& ts = p.tags;
  if (cfg.submit_queues + cfg.poll_queues > 256)
    throw ConfigError(fmt::format(
        "null: submit_queues={} poll_queues={}: at most 256 hardware queues in all (lower one)",
        cfg.submit_queues, cfg.poll_queues));
  ts.nr_hw_queues = cfg.submit_queues + cfg.poll_queues;
  ts.queue_depth = cfg.hw_queue_depth;
  ts.timeout_ns = cfg.request_timeout_ns;
  ts.blocking = cfg.blocking;

  DiskLimits& l = p.limits;
  l.capacity_bytes = cfg.size_bytes;
  l.logical_block_size = l.physical_block_size = cfg.blocksize;
  l.max_sectors = cfg.max_sectors;
  if (cfg.virt_boundary) l.virt_boundary_mask = 4095;  // null_blk: PAGE_SIZE - 1
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
