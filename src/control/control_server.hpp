// control/control_server.hpp - one running device's live control: `mqblk set/get ID`.
//
// A server (mqblk nbd, mqblk add) makes one ControlServer for the device it serves. It
// listens on run_dir()/ID.ctl (a Unix stream socket, mode 0600: only its owner, or root,
// may change the device) and, for NBD servers, writes run_dir()/ID.json, the record
// `mqblk list` reads (ublk servers have their own record). Protocol: the client sends one
// JSON line, {"op":"get"} or {"op":"set","items":["key=value",...]}, and receives one JSON
// line: {"ok":true,"attrs":[[key,value],...]} or {"ok":false,"error":"one line"}. Requests
// are bounded (64 KiB, 2 s to arrive) and served one at a time by the server's own thread;
// set goes through mqblk::control_set, so a bad item changes nothing.
//
// Thread safety: constructed and destroyed by the server's main thread; the device must
// outlive it (the destructor joins the thread and removes the socket and record).
#pragma once

#include <sys/types.h>

#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include "mqblk/block_device.hpp"

namespace mqblk::control {

struct ServedInfo {
  std::string kind;  // "nbd" or "ublk"
  std::string uri;   // nbd: the URI it serves; ublk: /dev/ublkbN
  std::string driver;
  std::vector<std::string> attrs;
  bool write_record = true;  // false: the frontend keeps its own record (ublk)
};

class ControlServer {
 public:
  // id: "nbdN" (claim_nbd_id) or the ublk device's number. Throws std::runtime_error when
  // the socket cannot be created.
  ControlServer(BlockDevice& dev, std::string id, ServedInfo info);
  ~ControlServer();
  ControlServer(const ControlServer&) = delete;
  ControlServer& operator=(const ControlServer&) = delete;

  const std::string& id() const noexcept { return id_; }
  const std::string& socket_path() const noexcept { return sock_path_; }

 private:
  void loop();
  void serve_one(int fd);

  BlockDevice& dev_;
  std::string id_;
  ServedInfo info_;
  std::string sock_path_, record_path_;
  int listen_fd_ = -1;
  int stop_fd_ = -1;  // eventfd that ends loop()
  std::thread thread_;
};

// The lowest free "nbdN" in run_dir(), reserved by creating its record exclusively (a
// stale record of a dead server is taken over). Throws std::runtime_error.
std::string claim_nbd_id();

// The records of running NBD servers (dead servers' records are removed).
struct NbdRecord {
  std::string id, uri, driver;
  std::vector<std::string> attrs;
  pid_t pid = 0;
};
std::vector<NbdRecord> nbd_records();

}  // namespace mqblk::control
