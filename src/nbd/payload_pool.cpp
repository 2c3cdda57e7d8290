#include "nbd/payload_pool.hpp"

#include <algorithm>
#include <cstdlib>
#include <cstring>

#if defined(__SANITIZE_ADDRESS__)
#define MQBLK_NBD_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define MQBLK_NBD_ASAN 1
#endif
#endif
#ifdef MQBLK_NBD_ASAN
#include <sanitizer/asan_interface.h>
#endif

namespace mqblk::nbd {

namespace {
// Under ASan a buffer on a free list is poisoned: a driver that writes into a payload
// buffer after its request came back (the buffer went back to the pool, not to the heap)
// is reported as a use-after-poison instead of corrupting the next request's data.
void poison(std::byte* b, size_t len) noexcept {
#ifdef MQBLK_NBD_ASAN
  ASAN_POISON_MEMORY_REGION(b, len);
#else
  (void)b;
  (void)len;
#endif
}
void unpoison(std::byte* b, size_t len) noexcept {
#ifdef MQBLK_NBD_ASAN
  ASAN_UNPOISON_MEMORY_REGION(b, len);
#else
  (void)b;
  (void)len;
#endif
}
}  // namespace

PayloadPool::PayloadPool(size_t cap) : cap_(std::max(cap, kMaxBuffer)) {
  // Small classes are the hot ones: reserve their free lists so that pushes never allocate.
  for (auto& f : free_) f.reserve(64);
}

PayloadPool::~PayloadPool() {
  for (unsigned c = 0; c < kClasses; ++c)
    for (std::byte* b : free_[c]) {
      unpoison(b, class_size(c));
      std::free(b);
    }
}

unsigned PayloadPool::class_of(size_t len) noexcept {
  unsigned cls = 0;
  while (cls + 1 < kClasses && class_size(cls) < len) cls++;
  return cls;
}

bool PayloadPool::trim_free(size_t need) noexcept {
  // Free cached buffers, largest first, until `need` more bytes fit under the cap.
  for (unsigned c = kClasses; c-- > 0 && held_ + need > cap_;) {
    auto& f = free_[c];
    while (!f.empty() && held_ + need > cap_) {
      unpoison(f.back(), class_size(c));
      std::free(f.back());
      f.pop_back();
      held_ -= class_size(c);
    }
  }
  return held_ + need <= cap_;
}

std::byte* PayloadPool::get(size_t len, unsigned& cls) {
  if (len > kMaxBuffer) return nullptr;
  cls = class_of(len);
  auto& f = free_[cls];
  size_t sz = class_size(cls);
  if (!f.empty()) {
    std::byte* b = f.back();
    f.pop_back();
    unpoison(b, sz);
    in_use_ += sz;
    return b;
  }
  if (held_ + sz > cap_ && !trim_free(sz)) return nullptr;
  auto* b = static_cast<std::byte*>(std::aligned_alloc(4096, sz));
  if (!b) return nullptr;
  // Fresh memory starts zeroed so that a driver that does not fill reads (null without
  // memory_backed) never hands out heap garbage; recycled buffers hold only payloads of
  // this export.
  std::memset(b, 0, sz);
  held_ += sz;
  in_use_ += sz;
  return b;
}

void PayloadPool::put(std::byte* buf, unsigned cls) noexcept {
  in_use_ -= class_size(cls);
  auto& f = free_[cls];
  // push_back may allocate only while a free list grows past its reservation.
  try {
    f.push_back(buf);
    poison(buf, class_size(cls));
  } catch (...) {
    std::free(buf);
    held_ -= class_size(cls);
  }
}

}  // namespace mqblk::nbd
