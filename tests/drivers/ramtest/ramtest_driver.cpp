// A tiny second driver, to show that a driver is one folder that declares itself: a RAM
// disk in one vector, ended inline. `mqblk_with_test_drivers bench ramtest size=8` serves
// it; nothing outside this folder names it (tests/drivers/CMakeLists.txt links every
// folder here whole, as src/CMakeLists.txt links src/drivers/).
#include <fmt/format.h>

#include <charconv>
#include <cstring>
#include <memory>
#include <vector>

#include "mqblk/device.hpp"
#include "mqblk/registry.hpp"

namespace {

using namespace mqblk;

class RamTest {
 public:
  using Pdu = NoPdu;
  explicit RamTest(uint64_t bytes) : mem_(bytes) {}

  QueueRqResult<RamTest> queue_rq(Hctx<RamTest>&, Owned<RamTest> rq, bool) {
    Status s = Status::ok;
    if (rq.op() == Op::read)
      std::memcpy(rq.data(), &mem_[rq.offset()], rq.bytes());
    else if (rq.op() == Op::write)
      std::memcpy(&mem_[rq.offset()], rq.data(), rq.bytes());
    else if (rq.op() != Op::flush)
      s = Status::notsupp;
    (void)std::move(rq).end(s);
    return QueueRqResult<RamTest>::accepted();
  }

 private:
  std::vector<std::byte> mem_;
};

// One attribute: size in MB (default 8).
uint64_t parse_size(const std::vector<std::string>& attrs) {
  uint64_t mb = 8;
  for (const auto& a : attrs) {
    std::string_view v(a);
    if (v.substr(0, 5) != "size=")
      throw ConfigError(
          fmt::format("ramtest: unknown attribute '{}' (the only one is size=MB)", a));
    v.remove_prefix(5);
    auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), mb);
    if (ec != std::errc() || p != v.data() + v.size() || mb == 0 || mb > 1024)
      throw ConfigError(fmt::format("ramtest: {}: size must be 1..1024 (MB), e.g. size=8", a));
  }
  return mb << 20;
}

DevicePlan plan(const std::vector<std::string>& attrs, const DeviceOverrides& ov) {
  DevicePlan p;
  p.limits.capacity_bytes = parse_size(attrs);
  p.nr_hw_queues = ov.nr_hw_queues > 0 ? static_cast<unsigned>(ov.nr_hw_queues) : 1;
  p.queue_depth = ov.queue_depth > 0 ? static_cast<unsigned>(ov.queue_depth) : 64;
  p.fills_read_buffers = true;
  return p;
}

std::vector<std::unique_ptr<BlockDevice>> make(const std::vector<std::string>& attrs,
                                               const DeviceOverrides& ov) {
  DevicePlan p = plan(attrs, ov);
  TagSetConfig tags;
  tags.nr_hw_queues = p.nr_hw_queues;
  tags.queue_depth = p.queue_depth;
  std::vector<std::unique_ptr<BlockDevice>> out;
  out.push_back(
      std::make_unique<Device<RamTest>>(tags, p.limits, "ramtest", p.limits.capacity_bytes));
  return out;
}

const DriverRegistration kRamTest{
    DriverInfo{"ramtest",
               "a test RAM disk (tests/drivers/ramtest): one vector, ended inline",
               {AttributeInfo{"size", "8", "MB", "capacity"}},
               true,
               true,
               false},
    &plan, &make};

}  // namespace
