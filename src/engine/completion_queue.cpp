#include "mqblk/detail/completion_queue.hpp"

#include <sched.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <bit>
#include <cerrno>
#include <system_error>

namespace mqblk::detail {

CompletionQueue::CompletionQueue(uint32_t capacity)
    : mask_(std::bit_ceil(capacity < 2 ? 2u : capacity) - 1),
      local_(new IoCompletion[mask_ + 1]),
      remote_(new Cell[mask_ + 1]) {
  for (uint64_t i = 0; i <= mask_; ++i) remote_[i].seq.store(i, std::memory_order_relaxed);
  efd_ = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (efd_ < 0) throw std::system_error(errno, std::generic_category(), "eventfd");
}

CompletionQueue::~CompletionQueue() {
  while (producers_.load(std::memory_order_acquire) != 0) sched_yield();
  if (efd_ >= 0) close(efd_);
}

void CompletionQueue::push_remote(uint64_t user_data, Status s, uint64_t result) noexcept {
  producer_enter();
  uint64_t pos = rtail_.load(std::memory_order_relaxed);
  for (;;) {
    Cell& cell = remote_[pos & mask_];
    uint64_t seq = cell.seq.load(std::memory_order_acquire);
    if (seq == pos) {
      if (rtail_.compare_exchange_weak(pos, pos + 1, std::memory_order_relaxed)) {
        cell.c = IoCompletion{user_data, s, result};
        cell.seq.store(pos + 1, std::memory_order_release);
        signal();
        producer_exit();
        return;
      }
    } else {
      // The ring cannot be full (capacity >= outstanding); another producer moved on.
      pos = rtail_.load(std::memory_order_relaxed);
    }
  }
}

unsigned CompletionQueue::pop_remote(IoCompletion* out, unsigned max) noexcept {
  unsigned n = 0;
  while (n < max) {
    Cell& cell = remote_[rhead_ & mask_];
    if (cell.seq.load(std::memory_order_acquire) != rhead_ + 1) break;
    out[n++] = cell.c;
    cell.seq.store(rhead_ + mask_ + 1, std::memory_order_release);
    ++rhead_;
  }
  return n;
}

void CompletionQueue::signal() noexcept {
  if (signalled_.exchange(true, std::memory_order_acq_rel)) return;
  uint64_t one = 1;
  ssize_t r = write(efd_, &one, sizeof one);
  (void)r;
}

void CompletionQueue::drain_event() noexcept {
  signalled_.store(false, std::memory_order_seq_cst);
  uint64_t v;
  ssize_t r = read(efd_, &v, sizeof v);
  (void)r;
}

}  // namespace mqblk::detail
