// Small out-of-line pieces of the engine: assertions, timer slack, waiting on an fd, and
// the synchronous helpers.
#include <poll.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>

#include "mqblk/block_device.hpp"
#include "mqblk/detail/assert.hpp"
#include "mqblk/detail/clock.hpp"
#include "mqblk/device.hpp"

namespace mqblk {
namespace detail {

void assert_fail(const char* what, const char* file, int line) noexcept {
  std::fprintf(stderr, "mqblk: ownership violation: %s (%s:%d)\n", what, file, line);
  std::abort();
}

void set_fine_timer_slack() noexcept {
  static thread_local bool done = false;
  if (!done) {
    prctl(PR_SET_TIMERSLACK, 1UL, 0, 0, 0);
    done = true;
  }
}

void wait_fd_until(int fd, int64_t deadline_ns) noexcept { wait_fds_until(fd, -1, deadline_ns); }

void wait_fds_until(int fd, int fd2, int64_t deadline_ns) noexcept {
  set_fine_timer_slack();
  pollfd p[2] = {{fd, POLLIN, 0}, {fd2, POLLIN, 0}};
  const nfds_t n = fd2 >= 0 ? 2 : 1;
  if (deadline_ns < 0) {
    ppoll(p, n, nullptr, nullptr);
    return;
  }
  int64_t left = deadline_ns - now_ns();
  if (left <= 0) return;
  timespec ts{static_cast<time_t>(left / 1'000'000'000), static_cast<long>(left % 1'000'000'000)};
  ppoll(p, n, &ts, nullptr);
}

}  // namespace detail

Status sync_io(IoQueue& q, const IoDesc& io) {
  constexpr uint64_t kMagic = 0x5359'4e43'494f'0001ull;
  Status s = q.submit(io, kMagic);
  if (s != Status::ok) return s;
  IoCompletion c;
  for (;;) {
    if (q.wait(&c, 1, 1, -1) == 1 && c.user_data == kMagic) return c.status;
  }
}

unsigned run_callbacks(IoQueue& q, unsigned min, int64_t timeout_ns) {
  IoCompletion c[64];
  unsigned ran = 0;
  do {
    unsigned n = q.wait(c, 64, min > ran ? std::min(min - ran, 64u) : 0, timeout_ns);
    for (unsigned i = 0; i < n; ++i) {
      // user_data is the IoCallback's address (the documented contract), as in io_uring.
      auto* cb = reinterpret_cast<IoCallback*>(  // NOLINT(performance-no-int-to-ptr)
          static_cast<uintptr_t>(c[i].user_data));
      cb->fn(cb, c[i].status);
    }
    ran += n;
    if (n == 0) break;
  } while (ran < min);
  return ran;
}

Status sync_read(BlockDevice& dev, uint64_t offset, void* buf, uint32_t len) {
  auto q = dev.open_queue();
  return sync_io(*q, IoDesc{Op::read, 0, offset, len, static_cast<std::byte*>(buf)});
}

void exit_with_requests_held(const BlockDevice& dev, const char* who, int64_t stop_began_ns,
                             const char* consequence) {
  unsigned held = 0;
  uint64_t longest = 0;
  for (const QueueStats& q : dev.stats()) {
    held += q.in_flight;
    longest = std::max(longest, q.hung_longest_ns);
  }
  std::fprintf(stderr,
               "%s: the driver still holds %u request(s) (the oldest for %.1f s) %.1f s after the "
               "server began to stop; exiting with status %d without freeing memory it can "
               "still write%s%s%s\n",
               who, held, static_cast<double>(longest) / 1e9,
               static_cast<double>(detail::now_ns() - stop_began_ns) / 1e9, kExitRequestsHeld,
               consequence ? " (" : "", consequence ? consequence : "", consequence ? ")" : "");
  std::fflush(stdout);
  std::fflush(stderr);
  ::_exit(kExitRequestsHeld);
}

Status sync_write(BlockDevice& dev, uint64_t offset, const void* buf, uint32_t len) {
  auto q = dev.open_queue();
  return sync_io(
      *q, IoDesc{Op::write, 0, offset, len, static_cast<std::byte*>(const_cast<void*>(buf))});
}

}  // namespace mqblk
