// drivers/null/page_store.hpp - the sparse memory of a memory_backed null device.
//
// One MAP_SHARED | MAP_NORESERVE mapping of a memfd (default) or of a file given by path
// (on tmpfs, e.g. /dev/shm, the data outlives the process: the ublk recover path reopens
// it), in 4 KiB pages, plus an atomic bitmap of the pages that hold data:
//  - reads of unallocated pages fill zeros without touching the mapping;
//  - writes copy into the mapping, then set the pages' bits (release; reads acquire);
//  - a frontend may instead receive a write's bytes straight into the mapping (window()),
//    then write() with src equal to the window sets the bits without copying (and read()
//    with dst equal to the window copies nothing: the ublk server's one-copy READ); invariant:
//    a page whose bit is clear holds zeros, except bytes of writes in progress (or of one
//    that failed, until abandon_window() zeroes them);
//  - discard and write_zeroes(unmap) punch holes (FALLOC_FL_PUNCH_HOLE) in whole pages and
//    zero the covered bytes of partial pages;
//  - reopening an existing file rebuilds the bitmap from SEEK_DATA / SEEK_HOLE;
//  - resident memory is counted in pages; past memory_cap a write fails with nospc.
//
// Thread safety: any number of threads may call read/write/discard/write_zeroes/extent_at
// concurrently. I/O on overlapping bytes at the same time is the caller's race (as on a
// disk: the data is unspecified), but never corrupts the bitmap or the counters: at rest,
// resident_bytes() == 4 KiB x the number of allocated pages. No allocation, no lock on the
// I/O path. Offsets and lengths are bytes and need no alignment.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "mqblk/block_device.hpp"
#include "mqblk/types.hpp"

namespace mqblk::null {

struct PageStoreOptions {
  uint64_t capacity_bytes = 0;
  uint64_t memory_cap_bytes = 0;  // 0 = no cap; else at most this much data (whole pages)
  std::string backing_file;       // "" = an anonymous memfd
};

class PageStore {
 public:
  static constexpr unsigned kPageShift = 12;
  static constexpr uint64_t kPageSize = uint64_t{1} << kPageShift;

  // Creates the store. A backing_file is created when missing (mode 0600) or empty, and is
  // reopened with its data when its size is capacity_bytes; another size is a ConfigError.
  // The file is locked (flock) while the store lives: a second store on it is refused.
  // Throws ConfigError (bad options, file in use or of the wrong size) or std::system_error
  // (a system call failed); what() is one line.
  static std::unique_ptr<PageStore> open(const PageStoreOptions& opts);

  ~PageStore();
  PageStore(const PageStore&) = delete;
  PageStore& operator=(const PageStore&) = delete;

  // Status::nospc when the range passes capacity() (nothing done), or, for write and
  // write_zeroes(unmap=false), when the new pages would pass memory_cap (nothing done).
  Status read(uint64_t off, std::byte* dst, uint64_t len) const;
  Status write(uint64_t off, const std::byte* src, uint64_t len);
  // Frees whole pages in the range; zeroes the covered bytes of partly covered pages that
  // hold data. Afterwards the range reads zeros.
  Status discard(uint64_t off, uint64_t len);
  // unmap: as discard. !unmap: writes zeros, the pages stay (or become) allocated.
  Status write_zeroes(uint64_t off, uint64_t len, bool unmap);
  // The mapping's bytes [off, off + len) for a zero-copy write (see the class comment), or
  // nullptr when the range passes capacity() or a memory_cap is set (the cap is checked
  // before any byte lands, which a window cannot do).
  std::byte* window(uint64_t off, uint64_t len) const noexcept;
  // Zeroes the bytes of [off, off + len) that lie in unallocated pages: a window write that
  // never completed leaves no stray bytes for a later partial-page write to expose.
  void abandon_window(uint64_t off, uint64_t len) noexcept;

  // File-backed: msync(MS_SYNC) the mapping (a no-op in effect on tmpfs). memfd: ok.
  Status flush();

  // The run of bytes starting at off, up to max_len and capacity(), whose pages are all
  // unallocated (hole=true, zero=true) or all allocated (hole=false, zero=false). Length 0
  // when off >= capacity() or max_len == 0.
  Extent extent_at(uint64_t off, uint64_t max_len) const;

  uint64_t resident_bytes() const noexcept;  // allocated pages x 4 KiB
  uint64_t capacity() const noexcept { return capacity_; }
  uint64_t memory_cap() const noexcept { return cap_pages_ << kPageShift; }
  const std::string& backing_file() const noexcept { return path_; }

 private:
  PageStore() = default;

  bool range_ok(uint64_t off, uint64_t len) const noexcept {
    return off <= capacity_ && len <= capacity_ - off;
  }
  bool test_page(uint64_t page) const noexcept;
  uint64_t count_clear(uint64_t first, uint64_t last) const noexcept;  // pages [first, last]
  uint64_t set_pages(uint64_t first, uint64_t last) noexcept;          // returns newly set
  Status fill(uint64_t off, const std::byte* src, uint64_t len);       // src null: zeros
  void unmap_pages(uint64_t first, uint64_t end) noexcept;             // pages [first, end)
  void punch(uint64_t first, uint64_t end) noexcept;

  uint64_t capacity_ = 0;
  uint64_t npages_ = 0;
  uint64_t cap_pages_ = 0;  // 0 = no cap
  int fd_ = -1;
  std::byte* base_ = nullptr;
  size_t map_len_ = 0;
  uint64_t* bits_ = nullptr;  // accessed only through std::atomic_ref
  size_t bits_len_ = 0;       // bytes mapped for bits_
  uint64_t nwords_ = 0;
  std::string path_;
  // Allocated pages, including pages reserved by writes in progress.
  alignas(64) std::atomic<uint64_t> resident_pages_{0};
};

}  // namespace mqblk::null
