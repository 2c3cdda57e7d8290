// drivers/file/file_backing.hpp - the file or block device behind a file device: opened,
// probed for its limits (block sizes, O_DIRECT alignment, discard, size), and asked for
// its holes.
//
// Invariants: capacity is a multiple of the logical block size and, for a regular file, no
// larger than the file (make grows the file first); fd and fd_buffered stay open for the
// life of the Backing and refer to the same file (fd_buffered == fd when not direct).
// Threads: block_status may be called from any thread (it only reads the file's extents).
#pragma once

#include <cstdint>
#include <string>

#include "drivers/file/file_config.hpp"
#include "mqblk/block_device.hpp"
#include "mqblk/disk.hpp"

namespace mqblk::file {

class Backing {
 public:
  // create=false (planning): changes nothing on disk: a missing file or a file that size=
  // would grow is only described. create=true: creates or grows the file as size= asks and
  // prints one line saying so (or that a prefix is served). ConfigError, one line, for
  // what makes no sense; nothing is left behind when it throws (a file it created is
  // removed).
  Backing(const FileConfig& cfg, bool create);
  ~Backing();
  Backing(const Backing&) = delete;
  Backing& operator=(const Backing&) = delete;

  const DiskLimits& limits() const noexcept { return limits_; }
  int fd() const noexcept { return fd_; }
  // For buffers O_DIRECT cannot take (misaligned memory): the same file, buffered.
  int fd_buffered() const noexcept { return fd_buffered_; }
  bool direct() const noexcept { return direct_; }
  bool block_device() const noexcept { return block_device_; }
  // O_DIRECT's memory alignment minus one: a buffer with these address bits set goes
  // through fd_buffered().
  uintptr_t mem_align_mask() const noexcept { return mem_align_mask_; }
  // What was decided, for `describe()`: "direct=1", the size line.
  const std::string& note() const noexcept { return note_; }

  Extent block_status(uint64_t offset, uint64_t max_len) const noexcept;

 private:
  void open_files(const FileConfig& cfg, bool create);
  void probe_limits(const FileConfig& cfg, bool create);

  int fd_ = -1;
  int fd_buffered_ = -1;
  bool direct_ = false;
  bool block_device_ = false;
  bool exists_ = false;     // planning: whether the file exists now
  bool created_ = false;    // make: this Backing created the file (removed on failure)
  uint64_t file_size_ = 0;  // before any growing
  uint32_t dio_offset_align_ = 0;
  uintptr_t mem_align_mask_ = 0;
  DiskLimits limits_;
  std::string note_;
};

}  // namespace mqblk::file
