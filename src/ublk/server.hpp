// ublk/server.hpp - a ublk server process: one device, one thread per queue.
//
// Lifecycle (add): make_device (bad attributes fail here, before the kernel sees
// anything) -> ADD_DEV -> SET_PARAMS -> save /run/mqblk/ID.json -> queue threads FETCH
// every tag -> START_DEV -> /dev/ublkbN answers a read -> ready. Recover: the same with
// START_USER_RECOVERY before the threads and END_USER_RECOVERY instead of START_DEV.
// Exit (SIGTERM/SIGINT/SIGHUP, e.g. from `mqblk del`): STOP_DEV (the kernel drains what
// is in flight, which the queue threads still serve) -> threads finish -> shutdown() ends
// whatever the engine still holds -> report per queue -> close /dev/ublkcN -> DEL_DEV.
#pragma once

#include <functional>
#include <string>
#include <vector>

namespace mqblk::ublk {

struct ServerSpec {
  bool recover = false;  // take over device `id` instead of adding one
  int id = -1;           // -1: the kernel chooses (add only)
  std::string driver;
  std::vector<std::string> attrs;
  int queues = -1;        // -q, -1 for the driver's submit_queues
  int depth = -1;         // -d, -1 for the driver's hw_queue_depth
  bool recovery = false;  // -r 1
  int user_copy = -1;     // 1 force, 0 mapped buffers, -1 when the kernel has it
  std::string shm_file;   // backing file mqblk created (deleted with the device)
  bool detached = false;  // background: stderr goes to /run/mqblk/ID.log once ID is known
};

struct ServerHooks {
  // Called once, when /dev/ublkbN accepts I/O.
  std::function<void(const std::string& dev_path)> ready;
  // Called at most once, for a failure before ready (one-line message).
  std::function<void(const std::string& message)> failed;
};

// Runs the server in the calling process until it is told to stop. Returns the exit
// status: 0 after an orderly stop, 1 when set-up failed.
int run_server(const ServerSpec& spec, const ServerHooks& hooks);

}  // namespace mqblk::ublk
