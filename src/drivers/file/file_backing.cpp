// drivers/file/file_backing.cpp - opening and probing the file behind a file device.
#include "drivers/file/file_backing.hpp"

#include <fcntl.h>
#include <fmt/format.h>
#include <linux/falloc.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <algorithm>
#include <bit>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>

namespace mqblk::file {
namespace {

[[noreturn]] void fail(const FileConfig& c, const std::string& what) {
  throw ConfigError(fmt::format("file: path={}: {}", c.path, what));
}

uint64_t read_sysfs_u64(const std::string& path) {
  std::ifstream f(path);
  uint64_t v = 0;
  if (!(f >> v)) return 0;
  return v;
}

// A block device's queue attribute: the disk's own, or the parent disk's for a partition.
uint64_t queue_attr(dev_t dev, const char* name) {
  std::string base = fmt::format("/sys/dev/block/{}:{}/", major(dev), minor(dev));
  if (access((base + "queue").c_str(), F_OK) == 0) return read_sysfs_u64(base + "queue/" + name);
  return read_sysfs_u64(base + "../queue/" + name);
}

uint32_t pow2_floor(uint64_t v) {
  return v == 0 ? 0 : static_cast<uint32_t>(std::bit_floor(std::min<uint64_t>(v, 1u << 20)));
}

}  // namespace

Backing::Backing(const FileConfig& cfg, bool create) {
  try {
    open_files(cfg, create);
    probe_limits(cfg, create);
  } catch (...) {
    if (fd_buffered_ >= 0 && fd_buffered_ != fd_) close(fd_buffered_);
    if (fd_ >= 0) close(fd_);
    if (created_) unlink(cfg.path.c_str());
    throw;
  }
}

Backing::~Backing() {
  if (fd_buffered_ >= 0 && fd_buffered_ != fd_) close(fd_buffered_);
  if (fd_ >= 0) close(fd_);
}

void Backing::open_files(const FileConfig& cfg, bool create) {
  struct stat st {};
  if (stat(cfg.path.c_str(), &st) != 0) {
    if (errno != ENOENT) fail(cfg, fmt::format("cannot stat it: {}", errno_text(errno)));
    if (cfg.size_bytes == 0)
      fail(cfg, "no such file (create it, or give size=BYTES to have it created)");
    if (cfg.readonly) fail(cfg, "no such file, and readonly=1 cannot create it (drop readonly=1)");
    exists_ = false;
  } else {
    exists_ = true;
    if (S_ISBLK(st.st_mode))
      block_device_ = true;
    else if (!S_ISREG(st.st_mode))
      fail(cfg, "not a regular file or block device (give a file or /dev/... block device)");
    file_size_ = static_cast<uint64_t>(st.st_size);
  }
  if (!exists_ && !create) return;  // planning a file make will create

  const int access_mode = cfg.readonly ? O_RDONLY : O_RDWR;
  int flags = access_mode | O_CLOEXEC;
  if (!exists_) {
    fd_buffered_ = open(cfg.path.c_str(), flags | O_CREAT | O_EXCL, 0644);
    if (fd_buffered_ < 0) fail(cfg, fmt::format("cannot create it: {}", errno_text(errno)));
    created_ = true;
    exists_ = true;
  } else {
    fd_buffered_ = open(cfg.path.c_str(), flags);
    if (fd_buffered_ < 0) {
      const int e = errno;
      fail(cfg, fmt::format("cannot open it {}: {}{}", cfg.readonly ? "read-only" : "read-write",
                            errno_text(e), e == EACCES || e == EROFS ? " (try readonly=1)" : ""));
    }
  }
  fd_ = fd_buffered_;
  if (cfg.direct == DirectMode::off) return;

  int dfd = open(cfg.path.c_str(), flags | O_DIRECT);
  if (dfd < 0) {
    if (cfg.direct == DirectMode::on)
      fail(cfg, fmt::format("direct=1 but its file system refuses O_DIRECT ({}): use direct=0 "
                            "(buffered) or direct=auto",
                            errno_text(errno)));
    return;  // auto: buffered
  }
  struct statx sx {};
  uint32_t off_align = 0, mem_align = 0;
  if (statx(dfd, "", AT_EMPTY_PATH, STATX_DIOALIGN, &sx) == 0 && (sx.stx_mask & STATX_DIOALIGN)) {
    off_align = sx.stx_dio_offset_align;
    mem_align = sx.stx_dio_mem_align;
  } else if (block_device_) {
    int lbs = 0;
    if (ioctl(dfd, BLKSSZGET, &lbs) == 0) off_align = mem_align = static_cast<uint32_t>(lbs);
  } else {
    off_align = mem_align = 4096;  // no report: the safest alignment
  }
  if (off_align == 0 || off_align > 4096) {  // O_DIRECT opens but cannot be used here
    close(dfd);
    if (cfg.direct == DirectMode::on)
      fail(cfg, off_align == 0 ? "direct=1 but its file system does not support O_DIRECT for "
                                 "it: use direct=0 (buffered) or direct=auto"
                               : fmt::format("direct=1 but O_DIRECT needs {}-byte alignment, more "
                                             "than a 4096-byte block: use direct=0",
                                             off_align));
    return;
  }
  fd_ = dfd;
  direct_ = true;
  dio_offset_align_ = std::max<uint32_t>(off_align, 512);
  mem_align_mask_ = std::max<uint32_t>(mem_align, 1) - 1;
}

void Backing::probe_limits(const FileConfig& cfg, bool create) {
  DiskLimits& l = limits_;
  uint32_t min_lbs = 512, pbs = 4096;
  uint64_t dev_size = file_size_;
  bool discard = false, write_zeroes = false;
  uint32_t discard_granularity = 0;
  const int fd = fd_;  // -1 only when planning a file that does not exist yet

  if (block_device_ && fd >= 0) {
    int lbs = 0;
    unsigned int phys = 0;
    uint64_t bytes = 0;
    if (ioctl(fd, BLKGETSIZE64, &bytes) != 0)
      fail(cfg, fmt::format("BLKGETSIZE64: {}", errno_text(errno)));
    dev_size = bytes;
    if (ioctl(fd, BLKSSZGET, &lbs) == 0 && lbs > 0) min_lbs = static_cast<uint32_t>(lbs);
    if (ioctl(fd, BLKPBSZGET, &phys) == 0 && phys > 0) pbs = phys;
    int ro = 0;
    if (!cfg.readonly && ioctl(fd, BLKROGET, &ro) == 0 && ro)
      fail(cfg, "the block device is read-only: give readonly=1");
    struct stat st {};
    fstat(fd, &st);
    discard = !cfg.readonly && queue_attr(st.st_rdev, "discard_max_bytes") > 0;
    discard_granularity = static_cast<uint32_t>(queue_attr(st.st_rdev, "discard_granularity"));
    write_zeroes = !cfg.readonly;  // fallocate ZERO_RANGE: the kernel writes zeroes if it must
  } else {
    struct stat st {};
    if (fd >= 0 && fstat(fd, &st) == 0 && st.st_blksize > 0) pbs = pow2_floor(st.st_blksize);
    if (!cfg.readonly) {
      if (fd < 0) {
        discard = write_zeroes = true;  // planning a file to create: make probes it
      } else {
        // Punching past the end with KEEP_SIZE changes nothing, and says whether the file
        // system punches holes at all.
        off_t past = static_cast<off_t>(std::max(file_size_, cfg.size_bytes) + (1u << 20));
        discard = write_zeroes =
            fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, past, 4096) == 0;
      }
    }
  }
  if (direct_) min_lbs = std::max(min_lbs, dio_offset_align_);
  if (cfg.blocksize && cfg.blocksize < min_lbs)
    fail(cfg, fmt::format("blocksize={} is smaller than the {} bytes it needs{} (give "
                          "blocksize={}{})",
                          cfg.blocksize, min_lbs, direct_ ? " for O_DIRECT" : "", min_lbs,
                          direct_ ? " or direct=0" : ""));
  const uint32_t lbs = cfg.blocksize ? cfg.blocksize : min_lbs;
  l.logical_block_size = lbs;
  l.physical_block_size = std::max(lbs, pbs);

  // Size: size= larger grows a file (never a block device), smaller serves a prefix.
  uint64_t cap = 0;
  if (cfg.size_bytes) {
    if (cfg.size_bytes % lbs)
      throw ConfigError(
          fmt::format("file: size={}: not a multiple of the block size {} (give "
                      "e.g. size={})",
                      cfg.size_bytes, lbs, cfg.size_bytes / lbs * lbs + lbs));
    cap = cfg.size_bytes;
    if (cap > dev_size && exists_ && fd >= 0 && !created_) {
      if (block_device_)
        fail(cfg, fmt::format("size={} is larger than the block device's {} bytes (give at most "
                              "size={})",
                              cap, dev_size, dev_size));
      if (cfg.readonly)
        fail(cfg, fmt::format("size={} is larger than the file's {} bytes, and readonly=1 "
                              "cannot grow it (drop readonly=1 or give at most size={})",
                              cap, dev_size, dev_size / lbs * lbs));
    }
    if (cap > dev_size && block_device_)
      fail(cfg, fmt::format("size={} is larger than the block device's {} bytes", cap, dev_size));
  } else {
    if (dev_size == 0) fail(cfg, "the file is empty: give size=BYTES to grow it (size=1G)");
    cap = dev_size / lbs * lbs;
    if (cap == 0)
      fail(cfg, fmt::format("its {} bytes are less than one {}-byte block: give size=BYTES to "
                            "grow it",
                            dev_size, lbs));
  }
  if (create && !block_device_ && cap > file_size_) {
    if (ftruncate(fd, static_cast<off_t>(cap)) != 0)
      fail(cfg, fmt::format("cannot grow it to {} bytes: {}", cap, errno_text(errno)));
  }
  if (created_)
    note_ = fmt::format("created {} ({} bytes, sparse)", cfg.path, cap);
  else if (cap > file_size_)
    note_ = fmt::format("grew {} from {} to {} bytes (sparse)", cfg.path, file_size_, cap);
  else if (cap < dev_size)
    note_ = fmt::format("serving the first {} of the {} bytes of {}", cap, dev_size, cfg.path);
  l.capacity_bytes = cap;

  l.max_sectors = 2048;  // 1 MiB per request
  if (discard) {
    l.discard_granularity = std::max<uint32_t>(discard_granularity, l.physical_block_size);
    l.max_discard_sectors = UINT32_MAX >> kSectorShift;
  }
  if (write_zeroes) l.max_write_zeroes_sectors = UINT32_MAX >> kSectorShift;
  l.volatile_write_cache = true;  // the page cache, and the disk's own cache below it
  l.fua = true;
  l.read_only = cfg.readonly;
  l.rotational = false;
}

Extent Backing::block_status(uint64_t offset, uint64_t max_len) const noexcept {
  const uint64_t cap = limits_.capacity_bytes;
  if (offset >= cap) return Extent{max_len, false, false};
  max_len = std::min(max_len, cap - offset);
  if (block_device_ || fd_ < 0) return Extent{max_len, false, false};
  const off_t data = lseek(fd_, static_cast<off_t>(offset), SEEK_DATA);
  if (data < 0) {
    if (errno == ENXIO) return Extent{max_len, true, true};  // a hole up to the end
    return Extent{max_len, false, false};                    // cannot tell: data
  }
  if (static_cast<uint64_t>(data) > offset)
    return Extent{std::min<uint64_t>(static_cast<uint64_t>(data) - offset, max_len), true, true};
  const off_t hole = lseek(fd_, static_cast<off_t>(offset), SEEK_HOLE);
  if (hole < 0 || static_cast<uint64_t>(hole) <= offset) return Extent{max_len, false, false};
  return Extent{std::min<uint64_t>(static_cast<uint64_t>(hole) - offset, max_len), false, false};
}

}  // namespace mqblk::file
