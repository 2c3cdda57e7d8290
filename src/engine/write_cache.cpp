// The engine's volatile write cache: see mqblk/write_cache.hpp for its rules and what
// survives a power cut.
#include "mqblk/write_cache.hpp"

#include <algorithm>
#include <cstring>

namespace mqblk {
namespace {

constexpr uint64_t kSect = kSectorSize;

// Calls f(segment pointer, bytes, bytes before them) for the bytes [pos, pos + len) of a
// segment list.
template <class F>
void for_segment_bytes(const IoSegment* segs, unsigned nr_segs, uint64_t pos, uint64_t len, F&& f) {
  uint64_t done = 0;
  for (unsigned i = 0; i < nr_segs && done < len; ++i) {
    const uint64_t sl = segs[i].len;
    if (pos >= sl) {
      pos -= sl;
      continue;
    }
    const uint64_t n = std::min(sl - pos, len - done);
    f(segs[i].buf + pos, n, done);
    done += n;
    pos = 0;
  }
}

void copy_from_segs(std::byte* dst, const IoSegment* segs, unsigned nr_segs, uint64_t pos,
                    uint64_t len) {
  for_segment_bytes(segs, nr_segs, pos, len,
                    [dst](std::byte* p, uint64_t n, uint64_t at) { std::memcpy(dst + at, p, n); });
}

void copy_to_segs(const IoSegment* segs, unsigned nr_segs, uint64_t pos, const std::byte* src,
                  uint64_t len) {
  for_segment_bytes(segs, nr_segs, pos, len,
                    [src](std::byte* p, uint64_t n, uint64_t at) { std::memcpy(p, src + at, n); });
}

// The bits of the sectors of page `page` that [off, off + len) covers.
uint8_t covered_bits(uint64_t page, uint64_t off, uint64_t len) {
  const uint64_t ps = page * WriteCache::kPage, pe = ps + WriteCache::kPage;
  const uint64_t a = std::max(ps, off), b = std::min(pe, off + len);
  if (a >= b) return 0;
  const unsigned s = static_cast<unsigned>((a - ps) / kSect);
  const unsigned e = static_cast<unsigned>((b - ps + kSect - 1) / kSect);
  return static_cast<uint8_t>(((1u << e) - 1) & ~((1u << s) - 1));
}

unsigned segments_of(uint8_t valid) {
  unsigned n = 0;
  for (unsigned s = 0; s < WriteCache::kSectorsPerPage; ++s)
    n += (valid >> s & 1) && (s == 0 || !(valid >> (s - 1) & 1));
  return n;
}

}  // namespace

void cache_read_end(void* ctx, uint64_t user_data, Status s, uint64_t result) noexcept {
  // The slot's user_data word carries the record (set by Hctx::cache_dispatch).
  auto* t = reinterpret_cast<CacheTag*>(user_data);  // NOLINT(performance-no-int-to-ptr)
  // A partial read (badblocks_partial_io) transferred `result` bytes before failing.
  const uint64_t n = s == Status::ok ? t->len : (result <= t->len ? result : 0);
  t->cache->finish_read(t->gen, t->off, t->len, n, t->segs, t->nr_segs);
  t->end_io(ctx, t->user_data, s, result);
}

WriteCache::WriteCache(uint64_t cache_bytes, const DiskLimits& limits, unsigned nr_hw_queues,
                       unsigned depth)
    : nslots_(std::max<uint64_t>(cache_bytes / kPage, 1)),
      max_run_(std::max<uint64_t>(limits.max_request_bytes() / kPage * kPage, kPage)),
      depth_(depth),
      tags_(std::make_unique<CacheTag[]>(size_t{nr_hw_queues} * depth)) {
  mem_.resize(nslots_ * kPage);
  free_.reserve(nslots_);
  for (uint64_t s = nslots_; s-- > 0;) free_.push_back(static_cast<uint32_t>(s));
}

bool WriteCache::overlaps_writing(uint64_t off, uint64_t len) const {
  if (len == 0) return false;
  const uint64_t last = (off + len - 1) / kPage;
  for (auto it = index_.lower_bound(off / kPage); it != index_.end() && it->first <= last; ++it)
    if (it->second.writing) return true;
  return false;
}

void WriteCache::mark_dirty(uint64_t page, Page& p) {
  if (p.seq == 0)
    ++dirty_;
  else if (p.writing == 0 || p.seq != p.wb_seq)
    order_.erase(p.seq);  // waiting in order_ under its old number
  p.seq = ++seq_;
  order_.emplace(p.seq, page);
}

void WriteCache::maybe_free(Index::iterator it) noexcept {
  const Page& p = it->second;
  if (p.pins || p.writing || p.seq) return;
  free_.push_back(p.slot);
  index_.erase(it);
}

void WriteCache::copy_in(uint64_t off, uint32_t len, const IoSegment* segs, unsigned nr_segs,
                         bool only_cached) {
  uint64_t pos = 0;
  while (pos < len) {
    const uint64_t o = off + pos, page = o / kPage, in = o % kPage;
    const uint64_t n = std::min<uint64_t>(len - pos, kPage - in);
    auto it = index_.find(page);
    if (it == index_.end() && !only_cached) {
      Page p;
      p.slot = free_.back();
      free_.pop_back();
      p.born = ++gen_;
      it = index_.emplace(page, p).first;
    }
    if (it != index_.end()) {
      Page& p = it->second;
      copy_from_segs(mem(p) + in, segs, nr_segs, pos, n);
      p.valid |= covered_bits(page, o, n);
      if (!only_cached) mark_dirty(page, p);
    }
    pos += n;
  }
}

WriteCache::Verdict WriteCache::write(uint64_t off, uint32_t len, const IoSegment* segs,
                                      unsigned nr_segs) {
  std::lock_guard lk(lock_);
  const uint64_t first = off / kPage, last = (off + len - 1) / kPage;
  if (last - first + 1 > nslots_) {  // larger than the whole cache: through, as FUA
    if (overlaps_writing(off, len)) return Verdict::retry;
    copy_in(off, len, segs, nr_segs, true);
    return Verdict::pass;
  }
  uint64_t need = 0;
  for (uint64_t p = first; p <= last; ++p) need += !index_.count(p);
  if (need > free_.size()) return Verdict::writeback;
  copy_in(off, len, segs, nr_segs, false);
  return Verdict::done;
}

WriteCache::Verdict WriteCache::write_through(uint64_t off, uint32_t len, const IoSegment* segs,
                                              unsigned nr_segs) {
  std::lock_guard lk(lock_);
  if (overlaps_writing(off, len)) return Verdict::retry;
  copy_in(off, len, segs, nr_segs, true);
  return Verdict::pass;
}

WriteCache::Verdict WriteCache::invalidate(uint64_t off, uint64_t len) {
  std::lock_guard lk(lock_);
  if (len == 0) return Verdict::pass;
  if (overlaps_writing(off, len)) return Verdict::retry;
  const uint64_t last = (off + len - 1) / kPage;
  for (auto it = index_.lower_bound(off / kPage); it != index_.end() && it->first <= last;) {
    auto next = std::next(it);
    Page& p = it->second;
    p.valid &= static_cast<uint8_t>(~covered_bits(it->first, off, len));
    if (p.valid == 0) {
      if (p.seq) {
        order_.erase(p.seq);
        p.seq = 0;
        --dirty_;
      }
      maybe_free(it);
    }
    it = next;
  }
  return Verdict::pass;
}

uint64_t WriteCache::begin_read(uint64_t off, uint64_t len) {
  std::lock_guard lk(lock_);
  if (len == 0) return 0;
  const uint64_t last = (off + len - 1) / kPage;
  bool any = false;
  for (auto it = index_.lower_bound(off / kPage); it != index_.end() && it->first <= last; ++it) {
    ++it->second.pins;
    any = true;
  }
  return any ? gen_ : 0;
}

void WriteCache::finish_read(uint64_t gen, uint64_t off, uint64_t len, uint64_t copy,
                             const IoSegment* segs, unsigned nr_segs) noexcept {
  std::lock_guard lk(lock_);
  const uint64_t last = (off + len - 1) / kPage;
  for (auto it = index_.lower_bound(off / kPage); it != index_.end() && it->first <= last;) {
    auto next = std::next(it);
    Page& p = it->second;
    // Pages born after the read began were not pinned by it (nor was anything before a
    // power cut that dropped them: the cut ends every page's life).
    if (p.born <= gen) {
      const uint8_t bits = p.valid & covered_bits(it->first, off, copy);
      for (unsigned s = 0; s < kSectorsPerPage; ++s) {
        if (!(bits >> s & 1)) continue;
        const uint64_t at = it->first * kPage + s * kSect;
        copy_to_segs(segs, nr_segs, at - off, mem(p) + s * kSect, kSect);
      }
      --p.pins;
      maybe_free(it);
    }
    it = next;
  }
}

uint64_t WriteCache::flush_target() {
  std::lock_guard lk(lock_);
  return seq_;
}

bool WriteCache::flushed(uint64_t target) {
  std::lock_guard lk(lock_);
  return (order_.empty() || order_.begin()->first > target) &&
         (inflight_.empty() || *inflight_.begin() > target);
}

void WriteCache::take_run(Index::iterator it, std::vector<CacheWriteback*>& out, unsigned max_runs,
                          unsigned max_pages, bool eviction) {
  CacheWriteback* cur = nullptr;
  uint64_t cur_end = 0;
  unsigned pages = 0;
  uint64_t prev = 0;
  for (; it != index_.end() && pages < max_pages; ++it) {
    Page& p = it->second;
    if (p.seq == 0 || p.writing || p.valid == 0) break;
    if (pages && it->first != prev + 1) break;
    // Whole pages only (a page partly written back would be marked clean): each segment
    // of it may start a write-back.
    if (out.size() + segments_of(p.valid) > max_runs) break;
    uint16_t runs = 0;
    for (unsigned s = 0; s < kSectorsPerPage;) {
      if (!(p.valid >> s & 1)) {
        ++s;
        continue;
      }
      unsigned e = s;
      while (e < kSectorsPerPage && (p.valid >> e & 1)) ++e;
      const uint64_t at = it->first * kPage + s * kSect, n = (e - s) * kSect;
      if (!cur || cur_end != at || cur->data.size() + n > max_run_) {
        cur = new CacheWriteback;
        cur->cache = this;
        cur->offset = at;
        cur->eviction = eviction;
        out.push_back(cur);
      }
      cur->data.insert(cur->data.end(), mem(p) + s * kSect, mem(p) + e * kSect);
      cur->pages.push_back({it->first, p.born});
      cur_end = at + n;
      ++runs;
      s = e;
    }
    order_.erase(p.seq);
    p.writing = runs;
    p.wb_seq = p.seq;
    p.wb_failed = false;
    inflight_.insert(p.seq);
    prev = it->first;
    ++pages;
    if (!(p.valid >> (kSectorsPerPage - 1) & 1)) cur = nullptr;  // a hole ends the run
  }
}

std::vector<CacheWriteback*> WriteCache::take_flush(uint64_t target, unsigned max) {
  std::vector<CacheWriteback*> out;
  std::lock_guard lk(lock_);
  for (auto o = order_.begin(); o != order_.end() && o->first <= target && out.size() < max;) {
    const uint64_t seq = o->first;
    auto it = index_.find(o->second);
    if (it->second.writing) {  // an older copy is being written: after it
      ++o;
      continue;
    }
    take_run(it, out, max, UINT32_MAX, false);
    o = order_.upper_bound(seq);
  }
  return out;
}

std::vector<CacheWriteback*> WriteCache::take_eviction(uint64_t off, uint64_t len, unsigned max) {
  std::vector<CacheWriteback*> out;
  std::lock_guard lk(lock_);
  const uint64_t first = off / kPage, last = (off + len - 1) / kPage;
  uint64_t need = 0;
  for (uint64_t p = first; p <= last; ++p) need += !index_.count(p);
  need = need > free_.size() ? need - free_.size() : 0;
  // Pages already on their way out count towards the room this write needs.
  need = need > inflight_.size() ? need - inflight_.size() : 0;
  // Oldest first, one page per write-back, as null_blk evicts page by page.
  for (auto o = order_.begin(); o != order_.end() && need && out.size() < max;) {
    const uint64_t seq = o->first, page = o->second;
    auto it = index_.find(page);
    if (it->second.writing || (page >= first && page <= last)) {
      ++o;
      continue;
    }
    const size_t before = out.size();
    take_run(it, out, max, 1, true);
    if (out.size() == before) break;
    --need;
    o = order_.upper_bound(seq);
  }
  return out;
}

void WriteCache::writeback_done(CacheWriteback* wb, Status s) noexcept {
  {
    std::lock_guard lk(lock_);
    for (const auto& ref : wb->pages) {
      auto it = index_.find(ref.page);
      if (it == index_.end() || it->second.born != ref.born) continue;  // dropped by a cut
      Page& p = it->second;
      if (s != Status::ok) p.wb_failed = true;
      if (--p.writing) continue;
      inflight_.erase(p.wb_seq);
      if (p.seq == p.wb_seq) {  // not written since it was copied
        if (p.wb_failed) {
          order_.emplace(p.seq, ref.page);  // still dirty: the next flush tries again
        } else {
          p.seq = 0;
          --dirty_;
          evicted_ += wb->eviction;
        }
      }
      p.wb_failed = false;
      maybe_free(it);
    }
  }
  delete wb;
}

void WriteCache::drop() noexcept {
  std::lock_guard lk(lock_);
  index_.clear();
  order_.clear();
  inflight_.clear();
  free_.clear();
  for (uint64_t s = nslots_; s-- > 0;) free_.push_back(static_cast<uint32_t>(s));
  dirty_ = 0;
}

uint64_t WriteCache::dirty_bytes() {
  std::lock_guard lk(lock_);
  return dirty_ * kPage;
}

uint64_t WriteCache::evicted_pages() {
  std::lock_guard lk(lock_);
  return evicted_;
}

}  // namespace mqblk
