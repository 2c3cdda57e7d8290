// mqblk/detail/completion_queue.hpp - where a submission context collects the completions
// of its I/Os until reap() hands them out.
//
// Invariants: capacity >= the submitter's maximum outstanding I/Os, so pushes never fail.
// The local ring is touched only by the thread currently using the IoQueue (completions
// ended inline or in its completion context). The remote ring is a bounded lock-free
// multi-producer queue (per-cell sequence numbers, after Vyukov) for completions ended on
// other threads; the first remote push after a drain writes the eventfd.
#pragma once

#include <atomic>
#include <cstdint>
#include <cstring>
#include <memory>

#include "mqblk/block_device.hpp"

namespace mqblk::detail {

class CompletionQueue {
 public:
  explicit CompletionQueue(uint32_t capacity);
  ~CompletionQueue();
  CompletionQueue(const CompletionQueue&) = delete;
  CompletionQueue& operator=(const CompletionQueue&) = delete;

  void push_local(uint64_t user_data, Status s, uint64_t result) noexcept {
    local_[tail_++ & mask_] = IoCompletion{user_data, s, result};
  }
  void push_remote(uint64_t user_data, Status s, uint64_t result) noexcept;

  // Another thread is about to publish something this queue's user will consume (a
  // remote completion, a softirq or timer entry) and then signal(): the destructor waits
  // for it to leave, so the eventfd is never written after the queue is gone.
  void producer_enter() noexcept { producers_.fetch_add(1, std::memory_order_acq_rel); }
  void producer_exit() noexcept { producers_.fetch_sub(1, std::memory_order_release); }

  // Moves up to max completions into out.
  unsigned pop(IoCompletion* out, unsigned max) noexcept {
    unsigned n = 0;
    uint64_t avail = tail_ - head_;
    if (avail) {
      // At most two contiguous runs of the ring: copy them whole.
      n = static_cast<unsigned>(avail < max ? avail : max);
      uint64_t start = head_ & mask_;
      uint64_t first = mask_ + 1 - start < n ? mask_ + 1 - start : n;
      std::memcpy(out, &local_[start], first * sizeof(IoCompletion));
      if (first < n) std::memcpy(out + first, &local_[0], (n - first) * sizeof(IoCompletion));
      head_ += n;
    }
    if (n < max && remote_pending()) n += pop_remote(out + n, max - n);
    return n;
  }
  bool empty() const noexcept { return head_ == tail_ && !remote_pending(); }
  bool remote_pending() const noexcept {
    return remote_[rhead_ & mask_].seq.load(std::memory_order_acquire) == rhead_ + 1;
  }

  int event_fd() const noexcept { return efd_; }
  // Clears the eventfd's count and re-arms signal(); called before sleeping on it, and by
  // reap() when a signal is pending (so an event loop may read the eventfd itself).
  void drain_event() noexcept;
  bool signalled() const noexcept { return signalled_.load(std::memory_order_acquire); }
  // Wakes the owner (write to the eventfd) unless a wake-up is already pending.
  void signal() noexcept;

 private:
  unsigned pop_remote(IoCompletion* out, unsigned max) noexcept;

  struct Cell {
    std::atomic<uint64_t> seq;
    IoCompletion c;
  };
  uint32_t mask_;
  std::unique_ptr<IoCompletion[]> local_;
  uint64_t head_ = 0, tail_ = 0;
  std::unique_ptr<Cell[]> remote_;
  alignas(64) std::atomic<uint64_t> rtail_{0};
  alignas(64) uint64_t rhead_ = 0;
  std::atomic<bool> signalled_{false};
  std::atomic<int> producers_{0};
  int efd_ = -1;
};

}  // namespace mqblk::detail
