// nbd/server.hpp - `mqblk nbd`: serve one mqblk device to NBD clients.
#pragma once

#include <string>
#include <vector>

namespace mqblk::nbd {

// Default busy-poll window of an I/O thread, microseconds.
inline constexpr unsigned kDefaultPollUs = 50;

struct ServerOptions {
  std::string socket_path;  // Unix socket, or
  std::string listen;       // TCP HOST:PORT (127.0.0.1 unless a host is given)
  std::string name;         // export name ("" is the default export)
  std::string description;
  bool read_only = false;
  bool foreground = false;  // otherwise fork into the background once listening
  std::string run;          // captive command, run with $uri, $unixsocket / $port
  bool exit_with_parent = false;
  bool print_uri = false;
  std::string pidfile;
  // After its last activity an I/O thread keeps polling its sockets this long before it
  // sleeps in epoll (0 = always sleep). See IoThread.
  unsigned poll_us = kDefaultPollUs;
  std::string driver;
  std::vector<std::string> attrs;
};

// Runs the server until SIGTERM/SIGINT, the parent's death (exit_with_parent) or the end of
// the --run command. Returns the exit status (the command's, with --run). Throws
// mqblk::ConfigError or std::runtime_error with a one-line message for bad input, before
// anything is served.
int run_server(const ServerOptions& opt);

}  // namespace mqblk::nbd
