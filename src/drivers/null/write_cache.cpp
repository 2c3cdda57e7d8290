// The null device's volatile write cache: see write_cache.hpp for what survives a cut.
#include "drivers/null/write_cache.hpp"

#include <algorithm>
#include <cstring>

namespace mqblk::null {

WriteCache::WriteCache(PageStore& store, uint64_t cache_bytes)
    : store_(store), nslots_(std::max<uint64_t>(cache_bytes / kPage, 1)) {
  mem_.resize(nslots_ * kPage);
  free_.reserve(nslots_);
  for (uint64_t s = nslots_; s-- > 0;) free_.push_back(static_cast<uint32_t>(s));
  index_.reserve(nslots_);
}

uint64_t WriteCache::page_len(uint64_t page) const noexcept {
  return std::min(kPage, store_.capacity() - page * kPage);
}

Status WriteCache::write_back(uint64_t page, const Entry& e) {
  return store_.write(page * kPage, page_mem(e.slot), page_len(page));
}

std::byte* WriteCache::slot_for(uint64_t page, Status& st) {
  st = Status::ok;
  if (auto it = index_.find(page); it != index_.end()) return page_mem(it->second.slot);
  if (free_.empty()) {
    const uint64_t victim = order_.front();
    auto vit = index_.find(victim);
    st = write_back(victim, vit->second);
    if (st != Status::ok) return nullptr;
    free_.push_back(vit->second.slot);
    order_.pop_front();
    index_.erase(vit);
    ++evicted_;
  }
  const uint32_t slot = free_.back();
  std::byte* mem = page_mem(slot);
  st = store_.read(page * kPage, mem, page_len(page));
  if (st != Status::ok) return nullptr;
  free_.pop_back();
  order_.push_back(page);
  index_.emplace(page, Entry{slot, std::prev(order_.end())});
  return mem;
}

Status WriteCache::read(uint64_t off, std::byte* dst, uint64_t len) {
  if (off > store_.capacity() || len > store_.capacity() - off) return Status::nospc;
  std::lock_guard lk(lock_);
  while (len) {
    const uint64_t page = off / kPage, in = off % kPage;
    const uint64_t n = std::min(len, kPage - in);
    if (auto it = index_.find(page); it != index_.end()) {
      std::memcpy(dst, page_mem(it->second.slot) + in, n);
    } else {
      Status st = store_.read(off, dst, n);
      if (st != Status::ok) return st;
    }
    dst += n;
    off += n;
    len -= n;
  }
  return Status::ok;
}

Status WriteCache::write(uint64_t off, const std::byte* src, uint64_t len, bool fua) {
  if (off > store_.capacity() || len > store_.capacity() - off) return Status::nospc;
  std::lock_guard lk(lock_);
  if (fua) {
    Status st = store_.write(off, src, len);
    if (st != Status::ok) return st;
  }
  while (len) {
    const uint64_t page = off / kPage, in = off % kPage;
    const uint64_t n = std::min(len, kPage - in);
    if (fua) {
      // Durable already: only keep a cached copy coherent.
      if (auto it = index_.find(page); it != index_.end())
        std::memcpy(page_mem(it->second.slot) + in, src, n);
    } else {
      Status st;
      std::byte* mem = slot_for(page, st);
      if (!mem) return st;
      std::memcpy(mem + in, src, n);
    }
    src += n;
    off += n;
    len -= n;
  }
  return Status::ok;
}

Status WriteCache::flush() {
  std::lock_guard lk(lock_);
  // Oldest first, each page removed once written: a failure leaves the rest cached.
  while (!order_.empty()) {
    const uint64_t page = order_.front();
    auto it = index_.find(page);
    Status st = write_back(page, it->second);
    if (st != Status::ok) return st;
    free_.push_back(it->second.slot);
    index_.erase(it);
    order_.pop_front();
  }
  return store_.flush();
}

void WriteCache::zero_cached(uint64_t off, uint64_t len) {
  const uint64_t end = off + len;
  if (index_.size() < len / kPage) {
    for (auto& [page, e] : index_) {
      const uint64_t ps = page * kPage, pe = ps + kPage;
      if (pe <= off || ps >= end) continue;
      const uint64_t a = std::max(ps, off), b = std::min(pe, end);
      std::memset(page_mem(e.slot) + (a - ps), 0, b - a);
    }
    return;
  }
  for (uint64_t o = off; o < end;) {
    const uint64_t page = o / kPage, in = o % kPage;
    const uint64_t n = std::min(end - o, kPage - in);
    if (auto it = index_.find(page); it != index_.end())
      std::memset(page_mem(it->second.slot) + in, 0, n);
    o += n;
  }
}

Status WriteCache::discard(uint64_t off, uint64_t len) {
  std::lock_guard lk(lock_);
  Status st = store_.discard(off, len);
  if (st == Status::ok) zero_cached(off, len);
  return st;
}

Status WriteCache::write_zeroes(uint64_t off, uint64_t len, bool unmap) {
  std::lock_guard lk(lock_);
  Status st = store_.write_zeroes(off, len, unmap);
  if (st == Status::ok) zero_cached(off, len);
  return st;
}

void WriteCache::drop() {
  std::lock_guard lk(lock_);
  for (auto& [page, e] : index_) free_.push_back(e.slot);
  index_.clear();
  order_.clear();
}

Extent WriteCache::clip(uint64_t off, Extent e) {
  if (!e.hole || e.length == 0) return e;
  std::lock_guard lk(lock_);
  if (index_.empty()) return e;
  const uint64_t first = off / kPage, last = (off + e.length - 1) / kPage;
  uint64_t hit = UINT64_MAX;
  if (index_.size() < last - first + 1) {
    for (const auto& [page, en] : index_)
      if (page >= first && page <= last) hit = std::min(hit, page);
  } else {
    for (uint64_t p = first; p <= last; ++p)
      if (index_.count(p)) {
        hit = p;
        break;
      }
  }
  if (hit == UINT64_MAX) return e;
  if (hit == first) {  // a cached page at off: data, up to the end of that page
    Extent d;
    d.length = std::min(e.length, (first + 1) * kPage - off);
    return d;
  }
  e.length = hit * kPage - off;
  return e;
}

uint64_t WriteCache::dirty_bytes() {
  std::lock_guard lk(lock_);
  return index_.size() * kPage;
}

uint64_t WriteCache::evicted_pages() {
  std::lock_guard lk(lock_);
  return evicted_;
}

}  // namespace mqblk::null
