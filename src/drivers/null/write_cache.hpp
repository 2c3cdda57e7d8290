// drivers/null/write_cache.hpp - null_blk's volatile write-back cache (cache_size), in
// front of a memory_backed device's PageStore, which plays the durable media.
//
// What survives a power cut (drop()), precisely:
//  * everything a FLUSH completed before the cut made durable: every write that had
//    completed when the flush began;
//  * FUA writes: their bytes go to the store before they complete;
//  * pages the cache evicted to make room (written back to the store, oldest first);
//  * discard and write_zeroes, which act on the store at once.
// Everything else (writes completed but not flushed, still in the cache) is lost: those
// blocks read as before the write. A page in the cache is a whole 4 KiB copy (store bytes
// overlaid with the writes), so a partial-page write leaves no gap.
//
// Thread safety: every method may be called from any thread; one mutex serialises them
// (the store calls included, so that an eviction or a flush never races a write to the
// same page). The I/O path allocates map and list nodes when a page enters the cache: this
// is a test feature, not the fast path (a device without cache_size does not use it).
#pragma once

#include <cstddef>
#include <cstdint>
#include <list>
#include <mutex>
#include <unordered_map>
#include <vector>

#include "drivers/null/page_store.hpp"

namespace mqblk::null {

class WriteCache {
 public:
  static constexpr uint64_t kPage = PageStore::kPageSize;

  // cache_bytes: the cache's size, at least one page (rounded down to pages).
  WriteCache(PageStore& store, uint64_t cache_bytes);

  Status read(uint64_t off, std::byte* dst, uint64_t len);
  // fua: the bytes reach the store before this returns (and the cached copy is updated).
  Status write(uint64_t off, const std::byte* src, uint64_t len, bool fua);
  // Writes every cached page back to the store, empties the cache, flushes the store.
  Status flush();
  Status discard(uint64_t off, uint64_t len);
  Status write_zeroes(uint64_t off, uint64_t len, bool unmap);
  // The power cut: forgets every cached page without writing it back.
  void drop();

  // e, the store's extent at off, shortened so that no cached page hides in a hole: a
  // cached page reads as data.
  Extent clip(uint64_t off, Extent e);

  uint64_t dirty_bytes();  // cached (unflushed) pages x 4 KiB
  uint64_t size_bytes() const noexcept { return nslots_ * kPage; }
  uint64_t evicted_pages();

 private:
  struct Entry {
    uint32_t slot;
    std::list<uint64_t>::iterator age;  // its place in order_ (oldest first)
  };
  std::byte* page_mem(uint32_t slot) noexcept { return &mem_[uint64_t{slot} * kPage]; }
  uint64_t page_len(uint64_t page) const noexcept;  // kPage, less at the end of the store
  Status write_back(uint64_t page, const Entry& e);
  // The cached copy of page, entering it (evicting the oldest if full); null on error.
  std::byte* slot_for(uint64_t page, Status& st);
  void zero_cached(uint64_t off, uint64_t len);  // under lock_

  PageStore& store_;
  const uint64_t nslots_;
  std::mutex lock_;
  std::vector<std::byte> mem_;
  std::vector<uint32_t> free_;
  std::unordered_map<uint64_t, Entry> index_;
  std::list<uint64_t> order_;
  uint64_t evicted_ = 0;
};

}  // namespace mqblk::null
