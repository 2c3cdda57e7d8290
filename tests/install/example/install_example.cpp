// A small driver built against an installed mqblk (tests/install): a RAM disk that ends
// each request in queue_rq, written, read back and checked through the engine; then a
// built-in driver (null) made by name, which works only if the installed library kept
// the drivers' registrations (linked whole). Prints one line and exits 0 when all holds.
#include <cstdio>
#include <cstring>
#include <exception>
#include <vector>

#include "mqblk/device.hpp"
#include "mqblk/registry.hpp"

using namespace mqblk;

// Invariant: mem_ holds the disk's bytes; every request lies inside it (the engine checks
// offsets against the disk's capacity before queue_rq). queue_rq runs on the submitting
// thread and ends the request there.
class MemDisk {
 public:
  using Pdu = NoPdu;
  explicit MemDisk(uint64_t bytes) : mem_(bytes) {}

  QueueRqResult<MemDisk> queue_rq(Hctx<MemDisk>&, Owned<MemDisk> rq, bool /*last*/) {
    Status st = Status::ok;
    switch (rq.op()) {
      case Op::read: std::memcpy(rq.data(), &mem_[rq.offset()], rq.bytes()); break;
      case Op::write: std::memcpy(&mem_[rq.offset()], rq.data(), rq.bytes()); break;
      case Op::flush: break;
      default: st = Status::notsupp;
    }
    std::move(rq).end(st);
    return QueueRqResult<MemDisk>::accepted();
  }

 private:
  std::vector<std::byte> mem_;
};

int check(BlockDevice& dev, const char* what) {
  constexpr unsigned kBlocks = 16;
  std::vector<std::byte> out(4096), back(4096);
  for (unsigned i = 0; i < kBlocks; ++i) {
    std::memset(out.data(), 'A' + static_cast<int>(i), out.size());
    if (sync_write(dev, uint64_t{i} * 3 * 4096, out.data(), 4096) != Status::ok)
      return std::fprintf(stderr, "%s: write %u failed\n", what, i), 1;
  }
  for (unsigned i = 0; i < kBlocks; ++i) {
    std::memset(out.data(), 'A' + static_cast<int>(i), out.size());
    if (sync_read(dev, uint64_t{i} * 3 * 4096, back.data(), 4096) != Status::ok)
      return std::fprintf(stderr, "%s: read %u failed\n", what, i), 1;
    if (std::memcmp(out.data(), back.data(), 4096) != 0)
      return std::fprintf(stderr, "%s: block %u reads back different data\n", what, i), 1;
  }
  return 0;
}

int main() {
  try {
    DiskLimits limits;
    limits.capacity_bytes = 1 << 20;
    limits.logical_block_size = limits.physical_block_size = 4096;
    TagSetConfig tags;
    tags.queue_depth = 8;
    Device<MemDisk> mine(tags, limits, "memdisk", limits.capacity_bytes);
    if (check(mine, "memdisk") != 0) return 1;
    auto null = make_device("null", {"size=1", "memory_backed=1"});
    if (check(*null, "null") != 0) return 1;
    std::printf("install example: 16 writes and 16 reads verified on memdisk and on null\n");
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "install example: %s\n", e.what());
    return 1;
  }
}
