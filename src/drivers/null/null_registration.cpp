// The null driver declares itself: `mqblk ... null key=value ...`.
#include "drivers/null/null_driver.hpp"
#include "mqblk/registry.hpp"

namespace mqblk::null {
namespace {

DevicePlan plan(const std::vector<std::string>& attrs, const DeviceOverrides& overrides) {
  NullPlan p = plan_null_device(attrs, overrides);
  DevicePlan out{p.limits, p.tags.nr_hw_queues, p.tags.queue_depth, p.cfg.nr_devices,
                 p.cfg.shared_tags};
  out.fills_read_buffers = p.cfg.memory_backed;  // without a store, reads leave buffers alone
  out.notes = p.zoned.notes;
  return out;
}

std::vector<std::unique_ptr<BlockDevice>> make(const std::vector<std::string>& attrs,
                                               const DeviceOverrides& overrides) {
  std::vector<std::unique_ptr<BlockDevice>> out;
  for (auto& d : make_null_devices(attrs, overrides)) out.push_back(std::move(d));
  return out;
}

DriverInfo info() {
  DriverInfo i;
  i.name = "null";
  i.help =
      "null_blk-compatible test device: completes I/O without doing it, or stores data in a "
      "sparse page store (memory_backed=1)";
  i.attributes = null_attributes();
  i.fills_read_buffers = false;  // only with memory_backed=1
  i.idempotent_writes = true;    // a write stores the same bytes however often it runs
  i.can_be_zoned = true;         // zoned=1 (drivers/null/zoned_null.hpp)
  return i;
}

const DriverRegistration kNull{info(), &plan, &make};

}  // namespace
}  // namespace mqblk::null
