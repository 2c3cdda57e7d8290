// The control socket's client side (control_client.hpp).
#include "control/control_client.hpp"

#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <system_error>

#include "control/run_dir.hpp"
#include "mqblk/detail/clock.hpp"

namespace mqblk::control {

std::string socket_of(const std::string& id) {
  std::string name = id;
  if (name.rfind("ublk", 0) == 0) name = name.substr(4);  // ublk3 -> 3, as /dev/ublkb3
  return run_dir() + "/" + name + ".ctl";
}

std::string request(const std::string& id, const std::string& json_line, int timeout_ms) {
  const std::string path = socket_of(id);
  auto fail = [&](const std::string& what) -> std::runtime_error {
    return std::runtime_error("device " + id + ": " + what + " (" + path +
                              "; `mqblk list` shows the running devices)");
  };
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0)
    throw fail(std::string("socket: ") + std::error_code(errno, std::generic_category()).message());
  sockaddr_un a{};
  a.sun_family = AF_UNIX;
  if (path.size() >= sizeof a.sun_path) {
    ::close(fd);
    throw fail("control socket path too long");
  }
  std::memcpy(a.sun_path, path.c_str(), path.size() + 1);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    const int e = errno;
    ::close(fd);
    throw fail(e == ENOENT || e == ECONNREFUSED
                   ? "no running device with this id"
                   : std::string("connect: ") +
                         std::error_code(e, std::generic_category()).message());
  }
  std::string out = json_line + "\n";
  if (::send(fd, out.data(), out.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(out.size())) {
    ::close(fd);
    throw fail(std::string("send: ") + std::error_code(errno, std::generic_category()).message());
  }
  std::string reply;
  const int64_t deadline = detail::now_ns() + int64_t{timeout_ms} * 1'000'000;
  for (;;) {
    const int64_t left = (deadline - detail::now_ns()) / 1'000'000;
    pollfd p{fd, POLLIN, 0};
    if (left <= 0 || ::poll(&p, 1, static_cast<int>(left)) <= 0) {
      ::close(fd);
      throw fail("no reply in time");
    }
    char buf[4096];
    ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n <= 0) break;
    reply.append(buf, static_cast<size_t>(n));
    if (reply.find('\n') != std::string::npos) break;
  }
  ::close(fd);
  size_t nl = reply.find('\n');
  if (nl == std::string::npos) throw fail("incomplete reply");
  return reply.substr(0, nl);
}

}  // namespace mqblk::control
