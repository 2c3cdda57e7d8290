// nbd/server.hpp - `mqblk nbd`: serve one mqblk device to NBD clients.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "mqblk/block_device.hpp"
#include "nbd/tls_options.hpp"

namespace mqblk::nbd {

// Default busy-poll window of an I/O thread, microseconds.
inline constexpr unsigned kDefaultPollUs = 50;

// At shutdown, how long the server waits for the driver to let go of the requests it still
// holds once they have been cancelled (after the 5 s the connections get to answer them),
// and the status it exits with when it gives up: see mqblk::kServerHeldWaitNs and
// mqblk::kExitRequestsHeld (block_device.hpp).
inline constexpr int64_t kDefaultHeldWaitNs = kServerHeldWaitNs;
using mqblk::kExitRequestsHeld;

// ServerOptions::socket_path that asks for a private socket in a fresh temporary directory
// (mkdtemp in $TMPDIR, else /tmp), removed when the server stops: nbdkit's `-U -`.
inline constexpr const char* kPrivateSocket = "-";

struct ServerOptions {
  std::string socket_path;  // Unix socket (kPrivateSocket: a private one), or
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
  // Programs that embed the server: a descriptor that, once readable, stops the server as
  // SIGTERM does (-1: none). The server only polls it.
  int stop_fd = -1;
  // See kDefaultHeldWaitNs. Reports of the held requests come meanwhile, after the
  // device's TagSetConfig::hung_report_ns and every hung_repeat_ns.
  int64_t held_wait_ns = kDefaultHeldWaitNs;
  // A connection that has not finished its handshake this long after it was accepted is
  // closed (seconds; 0: never).
  double handshake_timeout_s = 10;
  // A connection that holds a payload buffer it receives into, or replies it does not
  // read, and moves no byte this long is closed (seconds; 0: never). See ConnPolicy.
  double stall_timeout_s = 30;
  // TLS (see nbd/tls_options.hpp). With tls off, listening on a TCP address beyond
  // loopback prints one warning line. The credentials are loaded before anything listens.
  TlsMode tls = TlsMode::off;
  TlsOptions tls_options;
  // serve_device only: the caller's device fills every read buffer (its
  // DevicePlan::fills_read_buffers). When false, the server zeroes each READ's buffer
  // before the read and reports the export as hole and zero. run_server takes it from the
  // driver's plan.
  bool device_fills_read_buffers = false;
};

// Runs the server until SIGTERM/SIGINT, the parent's death (exit_with_parent), the end of
// the --run command or opt.stop_fd. Returns the exit status (the command's, with --run).
// Throws mqblk::ConfigError or std::runtime_error with a one-line message for bad input,
// before anything is served. Stopping waits for the driver to let go of every request;
// if it still holds some after opt.held_wait_ns, the server prints one line and leaves
// the process with _exit(kExitRequestsHeld) (it does not return).
int run_server(const ServerOptions& opt);

// The same for a device the caller made (opt.driver and opt.attrs are not used); it is
// shut down when this returns. The device's threads exist already, so the server cannot
// fork into the background: opt must ask for foreground, --run or exit_with_parent.
// Signals: SIGINT, SIGTERM and SIGCHLD are blocked in the calling thread (and so in the
// server's threads), and stay blocked when it returns; a process that wants SIGTERM to
// stop the server blocks them before it creates the device, whose threads would otherwise
// take the signal and die of it.
int serve_device(const ServerOptions& opt, std::shared_ptr<BlockDevice> dev);

}  // namespace mqblk::nbd
