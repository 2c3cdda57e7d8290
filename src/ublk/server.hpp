// ublk/server.hpp - a ublk server process: one device, one thread per queue.
//
// Lifecycle (add): plan_device (bad attributes fail here, before the kernel sees
// anything) -> ADD_DEV (the kernel may accept fewer queues: one per CPU) -> make_device
// with the accepted queue count -> SET_PARAMS -> save run_dir()/ID.json -> queue threads
// FETCH every tag -> START_DEV -> /dev/ublkbN answers a read -> ready. Recover: the same
// with START_USER_RECOVERY instead of ADD_DEV/SET_PARAMS and END_USER_RECOVERY instead of
// START_DEV. Threads: run_server's caller runs the control path and the stats loop; each
// queue has its own thread (see queue.hpp); ServerHooks are called on the caller's thread.
// Exit (SIGTERM/SIGINT/SIGHUP, e.g. from `mqblk del`): new requests fail -> shutdown()
// cancels what the engine holds and waits for its driver to let go (the queue threads
// commit each request as it comes back) -> STOP_DEV -> threads finish -> report per queue
// -> close /dev/ublkcN -> DEL_DEV. A driver that still holds requests after held_wait_ns
// may still write into the queues' buffers: the server then reports and leaves with
// _exit(kExitRequestsHeld), unmapping and freeing nothing, and the kernel fails the
// device's I/O (or, with -r 1, keeps the device for `recover`).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "mqblk/block_device.hpp"

namespace mqblk::ublk {

// How long a stopping server waits for its driver to let go of the requests it holds
// once they have been cancelled. Reports of each held request come meanwhile (after the
// device's TagSetConfig::hung_report_ns, 10 s, and every hung_repeat_ns, 30 s).
// The exit status of a server that gave up on its driver: see block_device.hpp.
inline constexpr int64_t kHeldWaitNs = kServerHeldWaitNs;
using mqblk::kExitRequestsHeld;

struct ServerSpec {
  bool recover = false;  // take over device `id` instead of adding one
  int id = -1;           // -1: the kernel chooses (add only)
  std::string driver;
  std::vector<std::string> attrs;
  int queues = -1;            // -q, -1 for the driver's submit_queues
  int depth = -1;             // -d, -1 for the driver's hw_queue_depth
  bool recovery = false;      // -r 1
  bool reissue = false;       // -i 1: requests in flight at a server's death go to the next one
  bool fail_io = false;       // -e 1: while no server runs, I/O fails instead of waiting
  bool unprivileged = false;  // --unprivileged: UBLK_F_UNPRIVILEGED_DEV, for non-root users
  int user_copy = -1;         // 1 force, 0 mapped buffers, -1 when the kernel has it
  std::string shm_file;       // backing file mqblk created (deleted with the device)
  bool detached = false;      // background: stderr goes to /run/mqblk/ID.log once ID is known
  int64_t held_wait_ns = kHeldWaitNs;
};

struct ServerHooks {
  // Called once, when /dev/ublkbN accepts I/O.
  std::function<void(const std::string& dev_path)> ready;
  // Called at most once, for a failure before ready (one-line message).
  std::function<void(const std::string& message)> failed;
  // A one-line notice for the user before ready (the kernel gave fewer queues than asked).
  std::function<void(const std::string& message)> note;
};

// Runs the server in the calling process until it is told to stop. Returns the exit
// status: 0 after an orderly stop, 1 when set-up failed. A failed set-up leaves nothing:
// its queue threads are stopped and joined, a device it added is stopped and deleted, its
// files under run_dir() and a backing file it was given in shm_file are removed (a failed
// `recover` leaves the device quiesced, as it found it). Does not return when the driver
// kept requests past held_wait_ns (see above). SIGTERM, SIGINT and SIGHUP are blocked in
// the calling thread.
int run_server(const ServerSpec& spec, const ServerHooks& hooks);
// The same for a device the caller made (programs and tests with a driver of their own;
// spec.driver and spec.attrs are only recorded in ID.json). Block the stop signals before
// creating it, or its threads may take them.
int run_server(const ServerSpec& spec, const ServerHooks& hooks, std::unique_ptr<BlockDevice> dev);

}  // namespace mqblk::ublk
