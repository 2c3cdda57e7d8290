// The file driver declares itself: `mqblk ... file path=PATH [direct=0|1] [size=...]`.
#include <fmt/format.h>

#include <cstdio>

#include "drivers/file/file_driver.hpp"
#include "mqblk/registry.hpp"

namespace mqblk::file {
namespace {

bool given(const std::vector<std::string>& attrs, std::string_view key) {
  for (const auto& a : attrs)
    if (a.size() > key.size() && a.compare(0, key.size(), key) == 0 && a[key.size()] == '=')
      return true;
  return false;
}

// -q/-d (ublk) against submit_queues/hw_queue_depth: both with different values is an
// error, either alone wins.
void apply_override(uint32_t& value, int override, const std::vector<std::string>& attrs,
                    std::string_view key, std::string_view flag) {
  if (override < 0) return;
  if (given(attrs, key) && value != static_cast<uint32_t>(override))
    throw ConfigError(fmt::format("file: {}={} conflicts with {} {}: give one of them", key, value,
                                  flag, override));
  value = static_cast<uint32_t>(override);
}

FileConfig config_of(const std::vector<std::string>& attrs, const DeviceOverrides& overrides) {
  FileConfig c = parse_file_config(attrs);
  apply_override(c.submit_queues, overrides.nr_hw_queues, attrs, "submit_queues", "-q");
  apply_override(c.hw_queue_depth, overrides.queue_depth, attrs, "hw_queue_depth", "-d");
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
