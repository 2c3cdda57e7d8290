// drivers/null/page_store.cpp - sparse page store over a shared memfd / file mapping.
#include "drivers/null/page_store.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <bit>
#include <cerrno>
#include <cstring>
#include <system_error>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include <fmt/format.h>

#include "mqblk/errors.hpp"

namespace mqblk::null {
namespace {

using Word = std::atomic_ref<uint64_t>;

[[noreturn]] void throw_errno(int err, const std::string& what) {
  throw std::system_error(err, std::generic_category(), what);
}

// Bits [lo, hi] (inclusive, 0..63) of a word.
constexpr uint64_t bit_range(unsigned lo, unsigned hi) noexcept {
  uint64_t upto_hi = hi == 63 ? ~uint64_t{0} : (uint64_t{1} << (hi + 1)) - 1;
  return upto_hi & ~((uint64_t{1} << lo) - 1);
}

// The mask of pages [first, last] that fall in word w.
inline uint64_t word_mask(uint64_t w, uint64_t first, uint64_t last) noexcept {
  uint64_t lo = std::max(first, w * 64) - w * 64;
  uint64_t hi = std::min(last, w * 64 + 63) - w * 64;
  return bit_range(static_cast<unsigned>(lo), static_cast<unsigned>(hi));
}

// Writes at least this long go to the mapping with non-temporal stores: the store is far
// larger than the caches, so a long write is not read back from them, and streaming skips
// reading every destination line in before overwriting it (about 1.5-2x faster for 1 MiB
// writes into cold pages here) and leaves the cache to the data in use.
constexpr uint64_t kStreamMin = 256u << 10;

// memcpy with non-temporal stores (x86-64), then a store fence, so that the release that
// publishes the pages orders these stores too. Elsewhere: memcpy.
void stream_copy(std::byte* dst, const std::byte* src, size_t len) noexcept {
#if defined(__SSE2__)
  size_t head = std::min(len, static_cast<size_t>(-reinterpret_cast<uintptr_t>(dst) & 15));
  std::memcpy(dst, src, head);
  dst += head;
  src += head;
  len -= head;
  auto* d = reinterpret_cast<__m128i*>(dst);
  auto* s = reinterpret_cast<const __m128i*>(src);
  for (size_t n = len / 64; n != 0; n--, d += 4, s += 4) {
    __m128i a = _mm_loadu_si128(s), b = _mm_loadu_si128(s + 1);
    __m128i c = _mm_loadu_si128(s + 2), e = _mm_loadu_si128(s + 3);
    _mm_stream_si128(d, a);
    _mm_stream_si128(d + 1, b);
    _mm_stream_si128(d + 2, c);
    _mm_stream_si128(d + 3, e);
  }
  std::memcpy(d, s, len % 64);
  _mm_sfence();
#else
  std::memcpy(dst, src, len);
#endif
}

}  // namespace

std::unique_ptr<PageStore> PageStore::open(const PageStoreOptions& opts) {
  if (opts.capacity_bytes == 0)
    throw ConfigError("null: page store of 0 bytes (give the device a size, e.g. size=1G)");
  if (opts.memory_cap_bytes != 0 && opts.memory_cap_bytes < kPageSize)
    throw ConfigError(
        fmt::format("null: memory_cap={}: smaller than one 4K page (use 0 for no cap, or e.g. "
                    "memory_cap=64M)",
                    opts.memory_cap_bytes));

  std::unique_ptr<PageStore> s(new PageStore());
  s->capacity_ = opts.capacity_bytes;
  s->npages_ = (opts.capacity_bytes + kPageSize - 1) >> kPageShift;
  s->cap_pages_ = opts.memory_cap_bytes >> kPageShift;
  s->path_ = opts.backing_file;
  s->map_len_ = static_cast<size_t>(s->npages_ << kPageShift);

  bool existing = false;
  if (opts.backing_file.empty()) {
    s->fd_ = ::memfd_create("mqblk-null", MFD_CLOEXEC);
    if (s->fd_ < 0) throw_errno(errno, "null: memfd_create for the memory_backed store");
  } else {
    const std::string where = fmt::format("null: backing_file={}", opts.backing_file);
    s->fd_ = ::open(opts.backing_file.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (s->fd_ < 0) throw_errno(errno, where + ": open");
    struct stat st {};
    if (::fstat(s->fd_, &st) != 0) throw_errno(errno, where + ": fstat");
    if (!S_ISREG(st.st_mode))
      throw ConfigError(where + ": not a regular file (use a file on tmpfs, e.g. /dev/shm/null0)");
    if (::flock(s->fd_, LOCK_EX | LOCK_NB) != 0) {
      if (errno == EWOULDBLOCK)
        throw ConfigError(where +
                          ": in use by another device (stop that one first, or use another file)");
      throw_errno(errno, where + ": flock");
    }
    if (st.st_size != 0 && static_cast<uint64_t>(st.st_size) != opts.capacity_bytes)
      throw ConfigError(fmt::format(
          "{}: the file holds {} bytes but the device has {} (give the size it was made "
          "with, or use another file)",
          where, st.st_size, opts.capacity_bytes));
    existing = st.st_size != 0;
  }
  if (!existing && ::ftruncate(s->fd_, static_cast<off_t>(opts.capacity_bytes)) != 0)
    throw_errno(errno, fmt::format("null: ftruncate of the memory_backed store to {} bytes",
                                   opts.capacity_bytes));

  void* p =
      ::mmap(nullptr, s->map_len_, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_NORESERVE, s->fd_, 0);
  if (p == MAP_FAILED)
    throw_errno(errno,
                fmt::format("null: mmap of the {}-byte memory_backed store", opts.capacity_bytes));
  s->base_ = static_cast<std::byte*>(p);

  // The bitmap: anonymous and lazily zeroed, so its memory too follows the data written.
  s->nwords_ = (s->npages_ + 63) / 64;
  s->bits_len_ = static_cast<size_t>(((s->nwords_ * 8) + kPageSize - 1) & ~(kPageSize - 1));
  void* b = ::mmap(nullptr, s->bits_len_, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (b == MAP_FAILED) throw_errno(errno, "null: mmap of the page bitmap");
  s->bits_ = static_cast<uint64_t*>(b);

  if (existing) {
    // Rebuild the bitmap from the file's data extents.
    uint64_t count = 0;
    off_t pos = 0;
    const off_t size = static_cast<off_t>(opts.capacity_bytes);
    while (pos < size) {
      off_t data = ::lseek(s->fd_, pos, SEEK_DATA);
      if (data < 0) {
        if (errno == ENXIO) break;  // no data after pos
        // SEEK_DATA unsupported: count every page as data (correct, just not sparse).
        data = pos;
      }
      off_t hole = ::lseek(s->fd_, data, SEEK_HOLE);
      if (hole < 0) hole = size;
      uint64_t first = static_cast<uint64_t>(data) >> kPageShift;
      uint64_t last = (static_cast<uint64_t>(hole) - 1) >> kPageShift;
      count += s->set_pages(first, last);
      pos = hole;
    }
    s->resident_pages_.store(count, std::memory_order_relaxed);
  }
  return s;
}

PageStore::~PageStore() {
  if (base_ != nullptr) ::munmap(base_, map_len_);
  if (bits_ != nullptr) ::munmap(bits_, bits_len_);
  if (fd_ >= 0) ::close(fd_);  // also drops the flock
}

bool PageStore::test_page(uint64_t page) const noexcept {
  uint64_t w = Word(bits_[page >> 6]).load(std::memory_order_acquire);
  return (w >> (page & 63)) & 1;
}

uint64_t PageStore::count_clear(uint64_t first, uint64_t last) const noexcept {
  uint64_t n = 0;
  for (uint64_t w = first >> 6; w <= last >> 6; ++w) {
    uint64_t mask = word_mask(w, first, last);
    n += static_cast<uint64_t>(
        std::popcount(mask & ~Word(bits_[w]).load(std::memory_order_relaxed)));
  }
  return n;
}

uint64_t PageStore::set_pages(uint64_t first, uint64_t last) noexcept {
  uint64_t newly = 0;
  for (uint64_t w = first >> 6; w <= last >> 6; ++w) {
    uint64_t mask = word_mask(w, first, last);
    Word word(bits_[w]);
    if ((word.load(std::memory_order_relaxed) & mask) == mask) continue;
    uint64_t old = word.fetch_or(mask, std::memory_order_acq_rel);
    newly += static_cast<uint64_t>(std::popcount(mask & ~old));
  }
  return newly;
}

Status PageStore::read(uint64_t off, std::byte* dst, uint64_t len) const {
  if (!range_ok(off, len)) return Status::nospc;
  while (len != 0) {
    // One copy (or fill) per run of pages in the same state, not one per page.
    const Extent run = extent_at(off, len);
    const uint64_t chunk = run.length;
    if (dst == base_ + off) {
      // Onto itself: a frontend read into window() (the ublk server's one-copy READ).
    } else if (!run.hole)
      std::memcpy(dst, base_ + off, chunk);
    else
      std::memset(dst, 0, chunk);
    dst += chunk;
    off += chunk;
    len -= chunk;
  }
  return Status::ok;
}

Status PageStore::fill(uint64_t off, const std::byte* src, uint64_t len) {
  if (!range_ok(off, len)) return Status::nospc;
  if (len == 0) return Status::ok;
  const uint64_t first = off >> kPageShift;
  const uint64_t last = (off + len - 1) >> kPageShift;
  uint64_t reserved = 0;
  if (cap_pages_ != 0) {
    // Reserve the pages this write adds before touching anything, so that a write past the
    // cap changes nothing.
    reserved = count_clear(first, last);
    if (reserved != 0) {
      uint64_t cur = resident_pages_.load(std::memory_order_relaxed);
      do {
        if (cur + reserved > cap_pages_) return Status::nospc;
      } while (
          !resident_pages_.compare_exchange_weak(cur, cur + reserved, std::memory_order_relaxed));
    }
  }
  if (src == base_ + off) {
    // Zero-copy: the bytes were received straight into the window.
  } else if (src != nullptr && len >= kStreamMin)
    stream_copy(base_ + off, src, static_cast<size_t>(len));
  else if (src != nullptr)
    std::memcpy(base_ + off, src, len);
  else
    std::memset(base_ + off, 0, len);
  // Publish: a reader that sees a page's bit (acquire) sees the bytes written before it.
  const uint64_t newly = set_pages(first, last);
  // Racing writers or discards on the same pages can make newly differ from reserved;
  // settle so that the counter matches the bitmap.
  if (newly > reserved)
    resident_pages_.fetch_add(newly - reserved, std::memory_order_relaxed);
  else if (reserved > newly)
    resident_pages_.fetch_sub(reserved - newly, std::memory_order_relaxed);
  return Status::ok;
}

Status PageStore::write(uint64_t off, const std::byte* src, uint64_t len) {
  return fill(off, src, len);
}

std::byte* PageStore::window(uint64_t off, uint64_t len) const noexcept {
  if (cap_pages_ != 0 || !range_ok(off, len)) return nullptr;
  return base_ + off;
}

void PageStore::abandon_window(uint64_t off, uint64_t len) noexcept {
  if (!range_ok(off, len) || len == 0) return;
  const uint64_t end = off + len;
  for (uint64_t page = off >> kPageShift; (page << kPageShift) < end; ++page) {
    if (test_page(page)) continue;  // allocated: its bytes are data, a failed write's or not
    const uint64_t a = std::max(off, page << kPageShift);
    const uint64_t b = std::min(end, (page + 1) << kPageShift);
    std::memset(base_ + a, 0, static_cast<size_t>(b - a));
  }
}

void PageStore::punch(uint64_t first, uint64_t end) noexcept {
  const uint64_t off = first << kPageShift;
  const uint64_t len = (end - first) << kPageShift;
  if (::fallocate(fd_, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, static_cast<off_t>(off),
                  static_cast<off_t>(len)) != 0) {
    // No hole punching here: keep the memory, but the pages must read as zeros when a later
    // partial write allocates them again.
    std::memset(base_ + off, 0, static_cast<size_t>(std::min(len, capacity_ - off)));
  }
}

void PageStore::unmap_pages(uint64_t first, uint64_t end) noexcept {
  if (first >= end) return;
  const uint64_t last = end - 1;
  uint64_t freed = 0;
  uint64_t run_start = 0, run_end = 0;  // pending run of freed pages [run_start, run_end)
  for (uint64_t w = first >> 6; w <= last >> 6; ++w) {
    const uint64_t mask = word_mask(w, first, last);
    Word word(bits_[w]);
    if ((word.load(std::memory_order_relaxed) & mask) == 0) continue;
    uint64_t cleared = word.fetch_and(~mask, std::memory_order_acq_rel) & mask;
    freed += static_cast<uint64_t>(std::popcount(cleared));
    while (cleared != 0) {
      const unsigned s = static_cast<unsigned>(std::countr_zero(cleared));
      const uint64_t shifted = cleared >> s;
      const unsigned n = static_cast<unsigned>(std::countr_one(shifted));
      const uint64_t p = w * 64 + s;
      if (p == run_end && run_end != run_start) {
        run_end = p + n;
      } else {
        if (run_end != run_start) punch(run_start, run_end);
        run_start = p;
        run_end = p + n;
      }
      cleared &= ~bit_range(s, s + n - 1);
    }
  }
  if (run_end != run_start) punch(run_start, run_end);
  if (freed != 0) resident_pages_.fetch_sub(freed, std::memory_order_relaxed);
}

Status PageStore::discard(uint64_t off, uint64_t len) {
  if (!range_ok(off, len)) return Status::nospc;
  if (len == 0) return Status::ok;
  const uint64_t end = off + len;
  auto covered = [&](uint64_t page) {
    return (page << kPageShift) >= off && std::min((page + 1) << kPageShift, capacity_) <= end;
  };
  auto zero_part = [&](uint64_t page, uint64_t a, uint64_t b) {
    if (test_page(page)) std::memset(base_ + a, 0, static_cast<size_t>(b - a));
  };
  const uint64_t p_first = off >> kPageShift;
  const uint64_t p_last = (end - 1) >> kPageShift;
  uint64_t full_first = p_first;
  uint64_t full_end = p_last + 1;
  if (!covered(p_first)) {
    zero_part(p_first, off, std::min(end, (p_first + 1) << kPageShift));
    full_first = p_first + 1;
  }
  if (p_last >= full_first && !covered(p_last)) {
    zero_part(p_last, p_last << kPageShift, end);
    full_end = p_last;
  }
  unmap_pages(full_first, full_end);
  return Status::ok;
}

Status PageStore::write_zeroes(uint64_t off, uint64_t len, bool unmap) {
  return unmap ? discard(off, len) : fill(off, nullptr, len);
}

Status PageStore::flush() {
  if (path_.empty()) return Status::ok;
  return ::msync(base_, map_len_, MS_SYNC) == 0 ? Status::ok : Status::ioerr;
}

Extent PageStore::extent_at(uint64_t off, uint64_t max_len) const {
  if (off >= capacity_ || max_len == 0) return Extent{};
  const uint64_t end = off + std::min(max_len, capacity_ - off);
  const bool data = test_page(off >> kPageShift);
  const uint64_t want = data ? ~uint64_t{0} : 0;
  uint64_t q = (off >> kPageShift) + 1;  // first page not yet known to match
  while ((q << kPageShift) < end) {
    const uint64_t w = q >> 6;
    const uint64_t diff = (Word(bits_[w]).load(std::memory_order_acquire) ^ want) >> (q & 63);
    if (diff == 0) {
      q = (w + 1) * 64;
    } else {
      q += static_cast<uint64_t>(std::countr_zero(diff));
      break;
    }
  }
  Extent e;
  e.length = std::min(q << kPageShift, end) - off;
  e.hole = !data;
  e.zero = !data;
  return e;
}

uint64_t PageStore::resident_bytes() const noexcept {
  return resident_pages_.load(std::memory_order_relaxed) << kPageShift;
}

}  // namespace mqblk::null
