// mqblk/detail/sbitmap.hpp - scalable tag bitmap, in the spirit of Linux lib/sbitmap.c.
//
// Invariants: bit t is set exactly while tag t is allocated. Each word is on its own cache
// line so that threads allocating from different words do not share lines, and, as
// sbitmap_calculate_shift does, a small bitmap uses fewer bits per word (at least 4 words
// when depth >= 4: depth 64 is 4 words of 16) so that even a small tag space spreads over
// several lines. A caller-held hint (one per submission context, like sbitmap's per-CPU
// hint, first given out by initial_hint() round robin) makes a thread keep allocating
// from its own word, close to the tags it freed last. get() and put() are lock-free and
// may be called from any thread.
#pragma once

#include <atomic>
#include <bit>
#include <cstdint>
#include <memory>

namespace mqblk::detail {

class Sbitmap {
 public:
  static constexpr uint32_t kNone = UINT32_MAX;

  // Tags first..depth-1 (first > 0: a range of slots beyond another bitmap's, as the
  // reserved tags are; the tags below first are never given out).
  explicit Sbitmap(uint32_t depth, uint32_t first = 0)
      : depth_(depth),
        shift_(shift_for(depth)),
        nr_words_((depth + (1u << shift_) - 1) >> shift_),
        words_(new Word[nr_words_]) {
    const uint32_t per_word = 1u << shift_;
    for (uint32_t i = 0; i < nr_words_; ++i) {
      // per_word is a power of two: the last word's share is depth's low bits.
      const uint32_t tail = depth & (per_word - 1);
      uint32_t bits_in_word = (i + 1 == nr_words_ && tail != 0) ? tail : per_word;
      // Bits beyond the word's share of depth are permanently set so that get() never
      // returns them.
      uint64_t unusable = bits_in_word == 64 ? 0 : ~((uint64_t{1} << bits_in_word) - 1);
      for (uint32_t b = 0; b < per_word && (i << shift_) + b < first; ++b)
        unusable |= uint64_t{1} << b;
      words_[i].bits.store(unusable, std::memory_order_relaxed);
      words_[i].unusable = unusable;
    }
  }

  uint32_t depth() const noexcept { return depth_; }

  // A starting hint for a new submission context: the words round robin, so that
  // contexts sharing this bitmap start on different cache lines.
  uint32_t initial_hint() noexcept {
    return next_hint_.fetch_add(1, std::memory_order_relaxed) % nr_words_;
  }

  // Allocates a free tag, preferring the word of hint (which must start at 0 and is only
  // ever set here, so it is always a valid word index); kNone when all are taken.
  // Sequentially consistent so that freeze (set a flag, then read the bitmap) and submit
  // (allocate, then read the flag) cannot both miss each other.
  uint32_t get(uint32_t& hint) noexcept {
    // Fast path: the first free bit of the hint word. Written as fetch_or(1 << bit) &
    // (1 << bit) so that the compiler emits one `lock bts` rather than a CAS loop.
    {
      auto& word = words_[hint].bits;
      uint64_t free = ~word.load(std::memory_order_relaxed);
      if (__builtin_expect(free != 0, 1)) {
        uint32_t bit = static_cast<uint32_t>(std::countr_zero(free));
        uint64_t mask = uint64_t{1} << bit;
        if (!(word.fetch_or(mask, std::memory_order_seq_cst) & mask)) return (hint << shift_) + bit;
      }
    }
    uint32_t w = hint;
    for (uint32_t n = 0; n < nr_words_; ++n) {
      auto& word = words_[w].bits;
      uint64_t cur = word.load(std::memory_order_relaxed);
      while (~cur != 0) {
        uint32_t bit = static_cast<uint32_t>(std::countr_zero(~cur));
        uint64_t mask = uint64_t{1} << bit;
        cur = word.fetch_or(mask, std::memory_order_seq_cst);
        if (!(cur & mask)) {
          hint = w;
          return (w << shift_) + bit;
        }
      }
      if (++w == nr_words_) w = 0;
    }
    return kNone;
  }

  // A free tag at or after `from` first (a cold path: the reserved tags' bitmap).
  uint32_t get_near(uint32_t from) noexcept {
    uint32_t hint = from < depth_ ? from >> shift_ : 0;
    return get(hint);
  }

  // Claims a specific tag (a tag chosen outside, e.g. by the kernel for ublk). False if
  // it is out of range or already allocated.
  bool get_exact(uint32_t tag) noexcept {
    if (tag >= depth_) return false;
    uint64_t mask = bit_of(tag);
    return !(words_[tag >> shift_].bits.fetch_or(mask, std::memory_order_seq_cst) & mask);
  }

  void put(uint32_t tag) noexcept {
    words_[tag >> shift_].bits.fetch_and(~bit_of(tag), std::memory_order_seq_cst);
  }

  bool test(uint32_t tag) const noexcept {
    return tag < depth_ &&
           (words_[tag >> shift_].bits.load(std::memory_order_acquire) & bit_of(tag));
  }

  uint32_t weight() const noexcept {
    uint32_t n = 0;
    for (uint32_t i = 0; i < nr_words_; ++i)
      n += static_cast<uint32_t>(
          std::popcount(words_[i].bits.load(std::memory_order_seq_cst) & ~words_[i].unusable));
    return n;
  }

 private:
  struct alignas(64) Word {
    std::atomic<uint64_t> bits{0};
    uint64_t unusable = 0;
  };
  // log2 of the bits used per word: 6 (64), or less for a small depth (sbitmap's rule).
  static uint32_t shift_for(uint32_t depth) noexcept {
    uint32_t shift = 6;
    if (depth >= 4)
      while ((4u << shift) > depth) --shift;
    return shift;
  }
  uint64_t bit_of(uint32_t tag) const noexcept { return uint64_t{1} << (tag & bit_mask_); }

  uint32_t depth_;
  uint32_t shift_;
  uint32_t bit_mask_ = (1u << shift_) - 1;  // tag & bit_mask_: its bit in its word
  uint32_t nr_words_;
  std::unique_ptr<Word[]> words_;
  std::atomic<uint32_t> next_hint_{0};
};

}  // namespace mqblk::detail
