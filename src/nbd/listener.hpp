// nbd/listener.hpp - the listening socket: Unix path or TCP address, and its URI.
//
// Errors are thrown as std::runtime_error with one line saying what, where and the fix.
#pragma once

#include <string>

namespace mqblk::nbd {

struct ListenAddress {
  std::string host;  // numeric or name; "" means 127.0.0.1
  std::string port;  // "0" picks a free port
};

// Parses "PORT", ":PORT", "HOST:PORT", "[V6]:PORT" (and bare "[V6]" or "HOST" with the
// default port 10809).
ListenAddress parse_listen(const std::string& spec);

class Listener {
 public:
  // Binds a Unix socket. The path is claimed first by an exclusive flock on PATH.lock
  // (created beside it, removed with the socket): of two servers started at once on one
  // path, the second is refused and never touches the first one's socket. A stale socket
  // file (nobody accepting, no lock held) is replaced; a live one, or a path that is not a
  // socket, is refused.
  static Listener unix_socket(const std::string& path);
  static Listener tcp(const ListenAddress& addr);

  Listener(Listener&& o) noexcept;
  Listener& operator=(Listener&&) = delete;
  ~Listener();

  int fd() const noexcept { return fd_; }
  bool is_unix() const noexcept { return !path_.empty(); }
  const std::string& path() const noexcept { return path_; }
  int port() const noexcept { return port_; }
  bool is_tcp() const noexcept { return path_.empty(); }
  // TCP bound to a loopback address (127.0.0.0/8, ::1); false for Unix sockets.
  bool is_loopback() const noexcept { return loopback_; }
  // nbd+unix:///NAME?socket=PATH or nbd://HOST:PORT/NAME
  std::string uri(const std::string& export_name) const;
  // Closes the socket and removes the socket file (only the one we created) and its lock.
  void close();

 private:
  Listener() = default;
  int fd_ = -1;
  int lock_fd_ = -1;  // holds the flock on path_ + ".lock" while we own path_
  bool loopback_ = false;
  std::string path_;
  std::string host_;
  int port_ = 0;
};

}  // namespace mqblk::nbd
