// The file driver declares itself: `mqblk ... file path=PATH [direct=0|1] [size=...]`.
#include <fmt/format.h>

#include <cstdio>

#include "drivers/file/file_driver.hpp"
#include "mqblk/registry.hpp"

namespace mqblk::file {
namespace {

FileConfig config_of(const std::vector<std::string>& attrs, const DeviceOverrides& overrides) {
  FileConfig c = parse_file_config(attrs);
  apply_overrides("file", overrides, attrs, c.submit_queues, c.hw_queue_depth);
  return c;
}

TagSetConfig tags_of(const FileConfig& c) {
  TagSetConfig t;
  t.nr_hw_queues = c.submit_queues;
  t.queue_depth = c.hw_queue_depth;
  t.timeout_ns = c.request_timeout_ns;
  return t;
}

DevicePlan plan(const std::vector<std::string>& attrs, const DeviceOverrides& overrides) {
  FileConfig c = config_of(attrs, overrides);
  Backing b(c, /*create=*/false);
  TagSetConfig t = tags_of(c);
  detail::check_device_config(t, b.limits());
  DevicePlan out{b.limits(), t.nr_hw_queues, t.queue_depth, 1, false};
  out.fills_read_buffers = true;
  return out;
}

std::vector<std::unique_ptr<BlockDevice>> make(const std::vector<std::string>& attrs,
                                               const DeviceOverrides& overrides) {
  FileConfig c = config_of(attrs, overrides);
  TagSetConfig t = tags_of(c);
  auto b = std::make_shared<Backing>(c, /*create=*/true);
  detail::check_device_config(t, b->limits());
  if (!b->note().empty()) std::fprintf(stderr, "file: %s\n", b->note().c_str());
  const DiskLimits& l = b->limits();
  std::string description = fmt::format(
      "file path={} direct={} size={} readonly={} blocksize={} submit_queues={} "
      "hw_queue_depth={}",
      c.path, b->direct() ? 1 : 0, l.capacity_bytes, c.readonly ? 1 : 0, l.logical_block_size,
      t.nr_hw_queues, t.queue_depth);
  std::vector<std::unique_ptr<BlockDevice>> out;
  out.push_back(
      std::make_unique<FileDevice>(t, l, std::move(description), b, t.nr_hw_queues, t.queue_depth));
  return out;
}

DriverInfo info() {
  DriverInfo i;
  i.name = "file";
  i.help =
      "a regular file or block device through io_uring (O_DIRECT where allowed): flush is "
      "fdatasync, FUA is RWF_DSYNC, discard punches holes";
  i.attributes = file_attributes();
  i.fills_read_buffers = true;  // a read transfers every byte or fails
  i.idempotent_writes = true;   // a write stores the same bytes however often it runs
  i.can_be_zoned = false;
  return i;
}

const DriverRegistration kFile{info(), &plan, &make};

}  // namespace
}  // namespace mqblk::file
