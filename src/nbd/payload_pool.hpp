// nbd/payload_pool.hpp - the bounded memory that READ and WRITE payloads live in.
//
// One pool per I/O thread, used only by that thread: no locks. Buffers come in power-of-two
// size classes from 4 KiB to 32 MiB, 4 KiB aligned (O_DIRECT-friendly for future drivers),
// and go back to a per-class free list when the reply has been sent, so that the steady
// state allocates nothing.
//
// Invariants: bytes_held() (buffers in use plus cached on free lists) never exceeds cap();
// get() returns nullptr instead of passing the cap, after first releasing cached buffers of
// other classes; the caller then stops reading its socket until a buffer comes back
// (back-pressure). cap() >= the largest class, so a lone request always fits.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <vector>

namespace mqblk::nbd {

class PayloadPool {
 public:
  static constexpr unsigned kMinShift = 12;  // 4 KiB
  static constexpr unsigned kClasses = 14;   // up to 32 MiB
  static constexpr size_t kMaxBuffer = size_t{1} << (kMinShift + kClasses - 1);

  explicit PayloadPool(size_t cap);
  ~PayloadPool();
  PayloadPool(const PayloadPool&) = delete;
  PayloadPool& operator=(const PayloadPool&) = delete;

  // A buffer of at least len (<= kMaxBuffer) bytes and its class, or nullptr at the cap.
  std::byte* get(size_t len, unsigned& cls);
  void put(std::byte* buf, unsigned cls) noexcept;

  static size_t class_size(unsigned cls) noexcept { return size_t{1} << (kMinShift + cls); }
  static unsigned class_of(size_t len) noexcept;

  size_t cap() const noexcept { return cap_; }
  size_t bytes_held() const noexcept { return held_; }
  size_t bytes_in_use() const noexcept { return in_use_; }

 private:
  bool trim_free(size_t need) noexcept;

  size_t cap_;
  size_t held_ = 0;
  size_t in_use_ = 0;
  std::array<std::vector<std::byte*>, kClasses> free_;
};

}  // namespace mqblk::nbd
