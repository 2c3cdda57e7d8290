// cli/latency_histogram.hpp - fixed-size log-linear histogram (HDR-like, 16 sub-buckets per
// power of two: values are kept within 1/16 = 6.25%). Recording allocates nothing.
//
// The buckets (what `mqblk bench --json` prints as lat_ns.bins): values 0..15 have a bucket
// each; above, the power of two [2^e, 2^(e+1)) (e >= 4) is cut into 16 buckets of width
// 2^(e-4). Bucket i holds the values lower(i)..upper(i), both included. fio's clat_ns bins
// are the same scheme with 64 sub-buckets (FIO_IO_U_PLAT_BITS 6) keyed by a bucket's middle;
// ours are keyed by the lowest value.
#pragma once

#include <array>
#include <bit>
#include <cstdint>

namespace mqblk::cli {

class LatencyHistogram {
 public:
  static constexpr unsigned kSubBits = 4;
  static constexpr unsigned kSub = 1u << kSubBits;
  static constexpr unsigned kBuckets = (64 - kSubBits + 1) * kSub;

  void record(uint64_t v) noexcept {
    ++counts_[index(v)];
    ++n_;
    sum_ += v;
    if (v > max_) max_ = v;
    if (v < min_) min_ = v;
  }
  void merge(const LatencyHistogram& o) noexcept {
    for (unsigned i = 0; i < kBuckets; ++i) counts_[i] += o.counts_[i];
    n_ += o.n_;
    sum_ += o.sum_;
    if (o.max_ > max_) max_ = o.max_;
    if (o.min_ < min_) min_ = o.min_;
  }
  uint64_t count() const noexcept { return n_; }
  double mean() const noexcept { return n_ ? static_cast<double>(sum_) / n_ : 0; }
  uint64_t max() const noexcept { return max_; }
  uint64_t min() const noexcept { return n_ ? min_ : 0; }
  uint64_t sum() const noexcept { return sum_; }
  uint64_t bucket(unsigned i) const noexcept { return counts_[i]; }
  // The lowest and highest value bucket i holds.
  static uint64_t lower(unsigned i) noexcept {
    if (i < kSub) return i;
    unsigned shift = i / kSub - 1;
    return (uint64_t{kSub} + (i % kSub)) << shift;
  }
  static uint64_t upper(unsigned i) noexcept {
    if (i < kSub) return i;
    return lower(i) + ((uint64_t{1} << (i / kSub - 1)) - 1);
  }
  // The value at quantile q (0..1): the upper edge of the bucket holding it.
  uint64_t quantile(double q) const noexcept {
    if (!n_) return 0;
    uint64_t want = static_cast<uint64_t>(q * static_cast<double>(n_ - 1)) + 1, seen = 0;
    for (unsigned i = 0; i < kBuckets; ++i) {
      seen += counts_[i];
      if (seen >= want) return upper(i) < max_ ? upper(i) : max_;
    }
    return max_;
  }

 private:
  static unsigned index(uint64_t v) noexcept {
    if (v < kSub) return static_cast<unsigned>(v);
    unsigned e = 63 - static_cast<unsigned>(std::countl_zero(v));  // >= kSubBits
    unsigned shift = e - kSubBits;
    return (shift + 1) * kSub + static_cast<unsigned>((v >> shift) & (kSub - 1));
  }
  std::array<uint64_t, kBuckets> counts_{};
  uint64_t n_ = 0, sum_ = 0, max_ = 0, min_ = UINT64_MAX;
};

}  // namespace mqblk::cli
