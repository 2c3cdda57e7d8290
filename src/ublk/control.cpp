#include "ublk/control.hpp"

#include <fcntl.h>
#include <liburing.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>
#include <vector>

#include "ublk/watchdog.hpp"

namespace mqblk::ublk {

std::string errno_text(int err) {
  char buf[128];
  // GNU strerror_r returns the message (maybe not in buf).
  return strerror_r(err, buf, sizeof buf);
}

std::string unavailable_message(const std::string& why) {
  return "ublk is not available here: " + why +
         "; load ublk_drv (Linux 6.0+) and run as root, or serve the device without ublk: "
         "`mqblk nbd --socket PATH DRIVER ...` (any NBD client) or in process "
         "(`mqblk bench`, the C++ API)";
}

Control::Control() : ring_(std::make_unique<io_uring>()) {
  fd_ = ::open(kControlPath, O_RDWR | O_CLOEXEC);
  if (fd_ < 0) {
    int e = errno;
    if (e == ENOENT || e == ENODEV || e == ENXIO)
      throw UblkError(unavailable_message(std::string(kControlPath) + " does not exist"), e);
    throw UblkError(
        unavailable_message(std::string("cannot open ") + kControlPath + ": " + errno_text(e)), e);
  }
  int r = io_uring_queue_init(4, ring_.get(), IORING_SETUP_SQE128);
  if (r < 0) {
    ::close(fd_);
    fd_ = -1;
    throw UblkError(unavailable_message("io_uring_setup failed: " + errno_text(-r)), -r);
  }
}

Control::~Control() {
  if (fd_ >= 0) {
    io_uring_queue_exit(ring_.get());
    ::close(fd_);
  }
}

int Control::run(uint32_t cmd_op, abi::CtrlCmd& cmd, const char* name) {
  const unsigned nr = _IOC_NR(cmd_op);
  const bool with_path = (unprivileged_ || nr == abi::kCmdGetDevInfo2) && nr != abi::kCmdAddDev &&
                         nr != abi::kCmdGetFeatures;
  if (!with_path) return run_raw(cmd_op, cmd, name);
  // [ "/dev/ublkcN" | the command's own buffer ]: the kernel checks the path, then skips it.
  const std::string path = "/dev/ublkc" + std::to_string(cmd.dev_id);
  const uint64_t addr = cmd.addr;
  const uint16_t len = cmd.len;
  std::vector<char> buf(path.size() + len);
  std::memcpy(buf.data(), path.data(), path.size());
  // The ABI carries the caller's buffer as a u64 (cmd.addr); it is ours, set by set_buf.
  if (len > 0)
    std::memcpy(buf.data() + path.size(), reinterpret_cast<const void*>(addr),  // NOLINT
                len);
  abi::CtrlCmd c = cmd;
  c.addr = reinterpret_cast<uint64_t>(buf.data());
  c.len = static_cast<uint16_t>(buf.size());
  c.dev_path_len = static_cast<uint16_t>(path.size());
  int r = run_raw(cmd_op, c, name);
  if (len > 0) std::memcpy(reinterpret_cast<void*>(addr), buf.data() + path.size(), len);  // NOLINT
  return r;
}

int Control::run_raw(uint32_t cmd_op, abi::CtrlCmd& cmd, const char* name) {
  io_uring_sqe* sqe = io_uring_get_sqe(ring_.get());
  if (sqe == nullptr) throw UblkError(std::string("ublk ") + name + ": control ring full", EBUSY);
  std::memset(sqe, 0, 2 * sizeof(io_uring_sqe));  // SQE128: both halves
  sqe->opcode = IORING_OP_URING_CMD;
  sqe->fd = fd_;
  sqe->cmd_op = cmd_op;
  std::memcpy(sqe->cmd, &cmd, sizeof cmd);

  std::string what =
      std::string("ublk ") + name + " (device " +
      (cmd.dev_id == abi::kAnyDevice ? std::string("new") : std::to_string(cmd.dev_id)) + ")";
  io_uring_cqe* cqe = nullptr;
  int r;
  bool timed_out;
  {
    Watchdog wd(timeout_, what);
    r = io_uring_submit(ring_.get());
    if (r >= 0) {
      do {
        r = io_uring_wait_cqe(ring_.get(), &cqe);
      } while (r == -EINTR && !wd.expired());
    }
    timed_out = wd.expired();
  }
  if (r < 0 && cqe == nullptr) {
    if (timed_out)
      throw UblkError(what + " timed out after " + std::to_string(timeout_.count()) + " ms",
                      ETIMEDOUT);
    throw UblkError(what + ": io_uring: " + errno_text(-r), -r);
  }
  int res = cqe->res;
  io_uring_cqe_seen(ring_.get(), cqe);
  if (res == -EINTR && timed_out)
    throw UblkError(what + " timed out after " + std::to_string(timeout_.count()) + " ms",
                    ETIMEDOUT);
  if (res < 0) throw UblkError(what + " failed: " + errno_text(-res), -res);
  return res;
}

namespace {
abi::CtrlCmd make_cmd(uint32_t dev_id) {
  abi::CtrlCmd c{};
  c.dev_id = dev_id;
  c.queue_id = abi::kNoQueue;
  return c;
}
template <class T>
void set_buf(abi::CtrlCmd& c, T* buf) {
  c.addr = reinterpret_cast<uint64_t>(buf);
  c.len = sizeof(T);
}
}  // namespace

uint64_t Control::get_features() {
  uint64_t features = 0;
  auto c = make_cmd(0);
  set_buf(c, &features);
  run(abi::kUCmdGetFeatures, c, "GET_FEATURES");
  return features;
}

abi::DevInfo Control::add_dev(const abi::DevInfo& info) {
  abi::DevInfo io = info;
  auto c = make_cmd(info.dev_id);
  set_buf(c, &io);
  run(abi::kUCmdAddDev, c, "ADD_DEV");
  return io;
}

void Control::set_params(uint32_t dev_id, const abi::Params& params) {
  abi::Params p = params;
  p.len = sizeof p;
  auto c = make_cmd(dev_id);
  set_buf(c, &p);
  run(abi::kUCmdSetParams, c, "SET_PARAMS");
}

abi::Params Control::get_params(uint32_t dev_id) {
  abi::Params p{};
  p.len = sizeof p;
  p.types = abi::kParamTypeBasic | abi::kParamTypeDevt;
  auto c = make_cmd(dev_id);
  set_buf(c, &p);
  run(abi::kUCmdGetParams, c, "GET_PARAMS");
  return p;
}

void Control::start_dev(uint32_t dev_id, pid_t daemon_pid) {
  auto c = make_cmd(dev_id);
  c.data[0] = static_cast<uint64_t>(daemon_pid);
  run(abi::kUCmdStartDev, c, "START_DEV");
}

void Control::stop_dev(uint32_t dev_id) {
  auto c = make_cmd(dev_id);
  run(abi::kUCmdStopDev, c, "STOP_DEV");
}

void Control::del_dev(uint32_t dev_id) {
  auto c = make_cmd(dev_id);
  try {
    run(abi::kUCmdDelDevAsync, c, "DEL_DEV_ASYNC");
    return;
  } catch (const UblkError& e) {
    // Kernels before 6.9 reject the unknown command; anything else is a real error.
    if (e.err() != EOPNOTSUPP && e.err() != EINVAL && e.err() != ENOTTY) throw;
  }
  c = make_cmd(dev_id);
  run(abi::kUCmdDelDev, c, "DEL_DEV");
}

abi::DevInfo Control::get_dev_info(uint32_t dev_id) {
  abi::DevInfo info{};
  auto c = make_cmd(dev_id);
  set_buf(c, &info);
  try {
    run(abi::kUCmdGetDevInfo2, c, "GET_DEV_INFO2");
    return info;
  } catch (const UblkError& e) {
    // Older kernels lack GET_DEV_INFO2; an unprivileged device needs it.
    if (e.err() == ENODEV || unprivileged_) throw;
  }
  c = make_cmd(dev_id);
  set_buf(c, &info);
  run(abi::kUCmdGetDevInfo, c, "GET_DEV_INFO");
  return info;
}

cpu_set_t Control::get_queue_affinity(uint32_t dev_id, uint16_t queue) {
  cpu_set_t set;
  CPU_ZERO(&set);
  auto c = make_cmd(dev_id);
  c.queue_id = queue;
  c.data[0] = queue;  // older kernels read the queue from data[0]
  set_buf(c, &set);
  run(abi::kUCmdGetQueueAffinity, c, "GET_QUEUE_AFFINITY");
  return set;
}

void Control::start_user_recovery(uint32_t dev_id) {
  auto c = make_cmd(dev_id);
  run(abi::kUCmdStartUserRecovery, c, "START_USER_RECOVERY");
}

void Control::end_user_recovery(uint32_t dev_id, pid_t daemon_pid) {
  auto c = make_cmd(dev_id);
  c.data[0] = static_cast<uint64_t>(daemon_pid);
  run(abi::kUCmdEndUserRecovery, c, "END_USER_RECOVERY");
}

}  // namespace mqblk::ublk
