// ublk/watchdog.hpp - a deadline for a blocking system call, enforced from another thread.
//
// A ublk control command runs inside io_uring_enter (the uring_cmd is issued inline), so
// an io_uring link timeout cannot interrupt it. What can: a signal to the blocked thread,
// which makes the kernel's interruptible waits (START_DEV, DEL_DEV, END_USER_RECOVERY)
// return -EINTR. The watchdog sends one every 100 ms past the deadline until disarmed,
// and as a last resort, when the call ignores signals for `grace` more, ends the process
// with a one-line message: a tool that hangs forever is worse than one that exits.
#pragma once

#include <pthread.h>

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <string>
#include <thread>

namespace mqblk::ublk {

// Invariant: while a Watchdog lives, the thread that created it is the one it signals;
// expired() is true once the deadline passed (the call's error is then a timeout).
class Watchdog {
 public:
  Watchdog(std::chrono::milliseconds timeout, std::string what,
           std::chrono::milliseconds grace = std::chrono::seconds(5));
  ~Watchdog();
  Watchdog(const Watchdog&) = delete;
  Watchdog& operator=(const Watchdog&) = delete;

  bool expired() const;

 private:
  void run(std::chrono::milliseconds timeout, std::chrono::milliseconds grace);

  pthread_t target_;
  std::string what_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool done_ = false;
  bool expired_ = false;
  std::thread thread_;
};

}  // namespace mqblk::ublk
