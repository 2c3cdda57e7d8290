// ublk/control.hpp - the ublk control commands, each with a deadline.
//
// Commands go to /dev/ublk-control as IORING_OP_URING_CMD on a private SQE128 ring, one at
// a time. Every command runs under a Watchdog (see watchdog.hpp) so none can hang forever:
// past its timeout it fails with ETIMEDOUT and a message naming the command and device.
#pragma once

#include <sched.h>
#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <memory>

#include "ublk/abi.hpp"
#include "ublk/error.hpp"

struct io_uring;

namespace mqblk::ublk {

inline constexpr const char* kControlPath = "/dev/ublk-control";

// Invariant: owns one open /dev/ublk-control and one io_uring; not shared between threads.
class Control {
 public:
  // Throws UblkError with the one-line "ublk is not available ... use `mqblk nbd`" message
  // when /dev/ublk-control is missing or not permitted, or io_uring is unavailable.
  Control();
  ~Control();
  Control(const Control&) = delete;
  Control& operator=(const Control&) = delete;

  // The kernel's supported feature bits (abi::kF*).
  uint64_t get_features();

  // info.dev_id = kAnyDevice lets the kernel choose; returns the info the kernel stored.
  abi::DevInfo add_dev(const abi::DevInfo& info);
  void set_params(uint32_t dev_id, const abi::Params& params);
  abi::Params get_params(uint32_t dev_id);
  // Returns once the kernel saw every queue's FETCH_REQs and added /dev/ublkbN.
  void start_dev(uint32_t dev_id, pid_t daemon_pid);
  void stop_dev(uint32_t dev_id);
  // Removes the device. DEL_DEV waits until every opener of /dev/ublkbN and /dev/ublkcN
  // has closed it (a process still holding a dead disk open would stall `del`), so the
  // asynchronous form is used where the kernel has it (6.9+) and DEL_DEV otherwise.
  void del_dev(uint32_t dev_id);
  // Throws UblkError with err() == ENODEV when there is no such device.
  abi::DevInfo get_dev_info(uint32_t dev_id);
  cpu_set_t get_queue_affinity(uint32_t dev_id, uint16_t queue);
  void start_user_recovery(uint32_t dev_id);
  void end_user_recovery(uint32_t dev_id, pid_t daemon_pid);

  void set_timeout(std::chrono::milliseconds t) { timeout_ = t; }
  // For devices added with UBLK_F_UNPRIVILEGED_DEV the kernel checks the caller's access to
  // /dev/ublkcN for every command about the device: the path goes first in the command's
  // buffer (dev_path_len). On: every command but ADD_DEV and GET_FEATURES carries it.
  // get_dev_info always sends it (GET_DEV_INFO2), since the caller may not know yet.
  void set_unprivileged(bool on) { unprivileged_ = on; }

 private:
  // Sends one command; returns the CQE result (>= 0) or throws UblkError.
  int run(uint32_t cmd_op, abi::CtrlCmd& cmd, const char* name);
  int run_raw(uint32_t cmd_op, abi::CtrlCmd& cmd, const char* name);

  bool unprivileged_ = false;
  int fd_ = -1;
  std::unique_ptr<io_uring> ring_;
  std::chrono::milliseconds timeout_{std::chrono::seconds(10)};
};

// The one-line explanation used when ublk cannot be used here, naming the alternatives.
std::string unavailable_message(const std::string& why);

}  // namespace mqblk::ublk
