// The rbd driver declares itself: `mqblk ... rbd pool=P image=I [conf=PATH] [id=NAME]
// [keyring=PATH] [snap=S readonly=1] [op_timeout=S]`.
#include <fmt/format.h>

#include "drivers/rbd/rbd_driver.hpp"
#include "mqblk/registry.hpp"

namespace mqblk::rbd {
namespace {

RbdConfig config_of(const std::vector<std::string>& attrs, const DeviceOverrides& overrides) {
  RbdConfig c = parse_rbd_config(attrs);
  apply_overrides("rbd", overrides, attrs, c.submit_queues, c.hw_queue_depth);
  return c;
}

TagSetConfig tags_of(const RbdConfig& c) {
  TagSetConfig t;
  t.nr_hw_queues = c.submit_queues;
  t.queue_depth = c.hw_queue_depth;
  t.timeout_ns = c.request_timeout_ns;
  return t;
}

// Planning opens the image too: its size is the device's, and a cluster that cannot be
// reached must fail here, before a tool creates anything.
DevicePlan plan(const std::vector<std::string>& attrs, const DeviceOverrides& overrides) {
  RbdConfig c = config_of(attrs, overrides);
  TagSetConfig t = tags_of(c);
  RbdImage image(c);
  detail::check_device_config(t, image.limits());
  DevicePlan out{image.limits(), t.nr_hw_queues, t.queue_depth, 1, false};
  out.fills_read_buffers = true;
  return out;
}

std::vector<std::unique_ptr<BlockDevice>> make(const std::vector<std::string>& attrs,
                                               const DeviceOverrides& overrides) {
  RbdConfig c = config_of(attrs, overrides);
  TagSetConfig t = tags_of(c);
  auto image = std::make_shared<RbdImage>(c);
  const DiskLimits& l = image->limits();
  detail::check_device_config(t, l);
  if (l.capacity_bytes != image->image_bytes())
    std::fprintf(stderr, "rbd: the image's last %llu bytes (under one sector) are not served\n",
                 static_cast<unsigned long long>(image->image_bytes() - l.capacity_bytes));
  std::string description = fmt::format(
      "rbd pool={} image={}{}{} size={} readonly={} op_timeout={} submit_queues={} "
      "hw_queue_depth={}",
      c.pool, c.image, c.snap.empty() ? "" : " snap=", c.snap, l.capacity_bytes,
      l.read_only ? 1 : 0, c.op_timeout_s, t.nr_hw_queues, t.queue_depth);
  std::vector<std::unique_ptr<BlockDevice>> out;
  out.push_back(std::make_unique<RbdDevice>(t, l, std::move(description), image, t.nr_hw_queues,
                                            t.queue_depth, c.op_timeout_s));
  return out;
}

DriverInfo info() {
  DriverInfo i;
  i.name = "rbd";
  i.help =
      "a Ceph RBD image through librbd's aio: flush is rbd_aio_flush, discard and "
      "write_zeroes are librbd's; a stopped cluster fails requests after op_timeout";
  i.attributes = rbd_attributes();
  i.fills_read_buffers = true;  // librbd fills every byte of a read (zeros where unwritten)
  i.idempotent_writes = true;   // a write stores the same bytes however often it runs
  i.can_be_zoned = false;
  return i;
}

const DriverRegistration kRbd{info(), &plan, &make};

}  // namespace
}  // namespace mqblk::rbd
