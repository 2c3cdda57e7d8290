// mqblk/detail/clock.hpp - monotonic time in nanoseconds.
#pragma once

#include <cstdint>
#include <ctime>

namespace mqblk::detail {

inline int64_t now_ns() noexcept {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return int64_t{ts.tv_sec} * 1'000'000'000 + ts.tv_nsec;
}

// Sets this thread's timer slack to 1 ns so that sleeps until a completion timer end on
// time (Linux's default slack is 50 us, far above completion_nsec's default of 10 us).
void set_fine_timer_slack() noexcept;

}  // namespace mqblk::detail
