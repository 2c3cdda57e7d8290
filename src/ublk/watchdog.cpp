#include "ublk/watchdog.hpp"

#include <unistd.h>

#include <csignal>
#include <cstdio>

namespace mqblk::ublk {
namespace {
// SIGUSR2 with an empty handler installed without SA_RESTART: its only job is to make a
// blocked system call return EINTR.
void noop_handler(int) {}
void install_handler_once() {
  static std::once_flag once;
  std::call_once(once, [] {
    struct sigaction sa {};
    sa.sa_handler = noop_handler;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = 0;
    sigaction(SIGUSR2, &sa, nullptr);
  });
}
}  // namespace

Watchdog::Watchdog(std::chrono::milliseconds timeout, std::string what,
                   std::chrono::milliseconds grace)
    : target_(pthread_self()), what_(std::move(what)) {
  install_handler_once();
  thread_ = std::thread([this, timeout, grace] { run(timeout, grace); });
}

Watchdog::~Watchdog() {
  {
    std::lock_guard lk(mu_);
    done_ = true;
  }
  cv_.notify_all();
  thread_.join();
}

bool Watchdog::expired() const {
  std::lock_guard lk(mu_);
  return expired_;
}

void Watchdog::run(std::chrono::milliseconds timeout, std::chrono::milliseconds grace) {
  std::unique_lock lk(mu_);
  if (cv_.wait_for(lk, timeout, [this] { return done_; })) return;
  expired_ = true;
  auto give_up = std::chrono::steady_clock::now() + grace;
  while (!done_) {
    pthread_kill(target_, SIGUSR2);
    if (std::chrono::steady_clock::now() >= give_up) {
      std::fprintf(stderr,
                   "mqblk: %s did not return %lld ms after its timeout and ignores "
                   "signals; exiting (check `dmesg` for a stuck ublk device)\n",
                   what_.c_str(), static_cast<long long>(grace.count()));
      std::fflush(stderr);
      _exit(124);
    }
    cv_.wait_for(lk, std::chrono::milliseconds(100), [this] { return done_; });
  }
}

}  // namespace mqblk::ublk
