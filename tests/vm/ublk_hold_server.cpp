// A ublk server (mqblk_ublk's run_server) whose driver never lets go of a read of the
// block at --hold-offset: for the VM test of the server's stop with requests held
// (ublk_held.sh). Every other request is answered at once (reads with zeros).
//
//   ublk_hold_server [--hold-offset BYTES] [--held-wait-ms MS] [-r]
//
// Prints the device path once it serves, then runs until SIGTERM. The request timeout is
// 1 s and the hung-request reports come after 0.5 s of teardown and every 1 s, so that a
// short test sees all of it.
#include <signal.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "mqblk/device.hpp"
#include "mqblk/registry.hpp"
#include "ublk/commands.hpp"
#include "ublk/server.hpp"

namespace {

using namespace mqblk;

class HoldDriver {
 public:
  using Pdu = NoPdu;
  HoldDriver(uint64_t hold_offset, bool fail_reads)
      : hold_offset_(hold_offset), fail_reads_(fail_reads) {}

  QueueRqResult<HoldDriver> queue_rq(Hctx<HoldDriver>&, Owned<HoldDriver> rq, bool /*last*/) {
    if (fail_reads_ && rq.op() == Op::read) {
      (void)std::move(rq).end(Status::ioerr);
      return QueueRqResult<HoldDriver>::accepted();
    }
    if (rq.op() == Op::read && rq.offset() == hold_offset_) {
      std::lock_guard lk(m_);
      held_.push_back(std::move(rq));  // never ended: the driver bug this test is about
      return QueueRqResult<HoldDriver>::accepted();
    }
    if (rq.op() == Op::read) std::memset(rq.data(), 0, rq.bytes());
    (void)std::move(rq).end(Status::ok);
    return QueueRqResult<HoldDriver>::accepted();
  }

 private:
  const uint64_t hold_offset_;
  const bool fail_reads_;
  std::mutex m_;
  std::vector<Owned<HoldDriver>> held_;
};

DiskLimits hold_limits() {
  DiskLimits lim;
  lim.capacity_bytes = 16 << 20;
  lim.logical_block_size = lim.physical_block_size = 4096;
  return lim;
}

DevicePlan plan_hold(const std::vector<std::string>&, const DeviceOverrides&) {
  DevicePlan p;
  p.limits = hold_limits();
  p.nr_hw_queues = 1;
  p.queue_depth = 16;
  return p;
}

std::vector<std::unique_ptr<BlockDevice>> make_hold(const std::vector<std::string>&,
                                                    const DeviceOverrides&) {
  TagSetConfig cfg;
  cfg.nr_hw_queues = 1;
  cfg.queue_depth = 16;
  std::vector<std::unique_ptr<BlockDevice>> out;
  out.push_back(std::make_unique<Device<HoldDriver>>(cfg, hold_limits(), "hold", 1 << 20, false));
  return out;
}

DriverInfo hold_info() {
  DriverInfo i;
  i.name = "hold";
  i.help = "test driver of ublk_hold_server";
  i.idempotent_writes = false;  // what `add -i 1` must refuse
  return i;
}

const DriverRegistration kHold{hold_info(), &plan_hold, &make_hold};

}  // namespace

int main(int argc, char** argv) {
  if (argc == 2 && std::string(argv[1]) == "--add-reissue") {
    ublk::AddOptions o;
    o.reissue = 1;
    o.driver = "hold";
    return ublk::cmd_add(o);
  }
  uint64_t hold_offset = 1 << 20;
  int64_t held_wait_ms = 3000;
  bool recovery = false;
  bool fail_reads = false;
  unsigned queues = 1;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--hold-offset" && i + 1 < argc) {
      hold_offset = std::strtoull(argv[++i], nullptr, 0);
    } else if (a == "--held-wait-ms" && i + 1 < argc) {
      held_wait_ms = std::strtoll(argv[++i], nullptr, 0);
    } else if (a == "-r") {
      recovery = true;
    } else if (a == "--fail-reads") {
      fail_reads = true;
    } else if (a == "--queues" && i + 1 < argc) {
      queues = static_cast<unsigned>(std::strtoul(argv[++i], nullptr, 0));
    } else {
      std::fprintf(stderr,
                   "usage: ublk_hold_server [--hold-offset BYTES] [--held-wait-ms MS] [-r] "
                   "[--queues N] [--fail-reads]\n");
      return 2;
    }
  }
  // Blocked before the device's threads exist, so that only the server takes them.
  sigset_t stop;
  sigemptyset(&stop);
  sigaddset(&stop, SIGTERM);
  sigaddset(&stop, SIGINT);
  sigaddset(&stop, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &stop, nullptr);

  TagSetConfig cfg;
  cfg.nr_hw_queues = queues;
  cfg.queue_depth = 16;
  cfg.timeout_ns = 1'000'000'000;
  cfg.hung_report_ns = 500'000'000;
  cfg.hung_repeat_ns = 1'000'000'000;
  DiskLimits lim = hold_limits();
  std::unique_ptr<BlockDevice> dev;
  try {
    dev = std::make_unique<Device<HoldDriver>>(cfg, lim, "hold", hold_offset, fail_reads);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "ublk_hold_server: %s\n", e.what());
    return 1;
  }
  ublk::ServerSpec spec;
  spec.driver = "hold";
  spec.recovery = recovery;
  spec.held_wait_ns = held_wait_ms * 1'000'000;
  ublk::ServerHooks hooks;
  hooks.ready = [](const std::string& path) {
    std::printf("%s\n", path.c_str());
    std::fflush(stdout);
  };
  return ublk::run_server(spec, hooks, std::move(dev));
}
