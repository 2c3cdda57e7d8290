#include "nbd/listener.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <system_error>

#include "nbd/errors.hpp"

namespace mqblk::nbd {

namespace {
std::string percent_encode(const std::string& s) {
  static const char* hex = "0123456789ABCDEF";
  std::string o;
  for (unsigned char c : s) {
    if (isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~' || c == '/') {
      o += static_cast<char>(c);
    } else {
      o += '%';
      o += hex[c >> 4];
      o += hex[c & 15];
    }
  }
  return o;
}
}  // namespace

ListenAddress parse_listen(const std::string& spec) {
  ListenAddress a{"", "10809"};
  if (spec.empty()) fail("--listen is empty: give HOST:PORT, e.g. 127.0.0.1:10809 or [::1]:10809");
  std::string s = spec;
  if (s[0] == '[') {
    auto close = s.find(']');
    if (close == std::string::npos)
      fail("--listen " + spec + ": missing ']' after the IPv6 address");
    a.host = s.substr(1, close - 1);
    std::string rest = s.substr(close + 1);
    if (!rest.empty()) {
      if (rest[0] != ':') fail("--listen " + spec + ": expected ':PORT' after ']'");
      a.port = rest.substr(1);
    }
  } else if (s.find_first_not_of("0123456789") == std::string::npos) {
    a.port = s;
  } else {
    auto colon = s.rfind(':');
    if (colon != std::string::npos && s.find(':') != colon) {
      fail("--listen " + spec + ": put an IPv6 address in brackets, e.g. [::1]:10809");
    }
    if (colon == std::string::npos) {
      a.host = s;
    } else {
      a.host = s.substr(0, colon);
      a.port = s.substr(colon + 1);
    }
  }
  if (a.port.empty() || a.port.find_first_not_of("0123456789") != std::string::npos ||
      a.port.size() > 5 || std::stoul(a.port) > 65535) {
    fail("--listen " + spec + ": port must be a number from 0 to 65535");
  }
  return a;
}

Listener::Listener(Listener&& o) noexcept
    : fd_(o.fd_),
      lock_fd_(o.lock_fd_),
      loopback_(o.loopback_),
      path_(std::move(o.path_)),
      host_(std::move(o.host_)),
      port_(o.port_) {
  o.fd_ = -1;
  o.lock_fd_ = -1;
  o.path_.clear();
}

Listener::~Listener() { close(); }

void Listener::close() {
  if (fd_ >= 0) {
    ::close(fd_);
    fd_ = -1;
    if (!path_.empty()) ::unlink(path_.c_str());
  }
  if (lock_fd_ >= 0) {
    // Removed while still held: a server that opened it meanwhile finds, once it has the
    // lock, that the path names another file or none (claim_socket_path), and retries.
    ::unlink((path_ + ".lock").c_str());
    ::close(lock_fd_);
    lock_fd_ = -1;
  }
}

namespace {
// Takes the exclusive flock on lock_path, which is created if needed. A lock file that
// was removed (by the server that held it, as it stopped) between our open and our flock
// is not the path's lock any more: open it again. Returns the descriptor holding the lock.
// The one-line error of claim_socket_path; err is the errno of what failed.
[[noreturn]] void lock_failed(const std::string& socket_path, const std::string& lock_path,
                              bool opening, int err) {
  if (!opening && err == EWOULDBLOCK) {
    fail("--socket " + socket_path + ": another server holds " + lock_path +
         ": stop that server or choose another path");
  }
  errno = err;
  if (opening) {
    fail("--socket " + socket_path + ": cannot create its lock file " + lock_path + ": " +
         errno_text() + ": check that the directory exists and is writable");
  }
  fail("--socket " + socket_path + ": flock " + lock_path + ": " + errno_text());
}

int claim_socket_path(const std::string& socket_path) {
  const std::string lock_path = socket_path + ".lock";
  for (int attempt = 0; attempt < 100; attempt++) {
    int fd = ::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0) lock_failed(socket_path, lock_path, true, errno);
    if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
      const int err = errno;
      ::close(fd);
      lock_failed(socket_path, lock_path, false, err);
    }
    struct stat held, now;
    if (::fstat(fd, &held) == 0 && ::stat(lock_path.c_str(), &now) == 0 &&
        held.st_dev == now.st_dev && held.st_ino == now.st_ino)
      return fd;
    ::close(fd);  // removed or replaced meanwhile
  }
  fail("--socket " + socket_path + ": its lock file " + lock_path +
       " keeps being replaced: is another program using it?");
}
}  // namespace

Listener Listener::unix_socket(const std::string& path) {
  sockaddr_un sa{};
  sa.sun_family = AF_UNIX;
  if (path.empty()) fail("--socket is empty: give a path, e.g. --socket /tmp/nbd.sock");
  if (path.size() >= sizeof sa.sun_path) {
    fail("--socket " + path + ": path longer than " + std::to_string(sizeof sa.sun_path - 1) +
         " bytes: use a shorter path");
  }
  std::memcpy(sa.sun_path, path.c_str(), path.size() + 1);
  Listener l;
  l.lock_fd_ = claim_socket_path(path);
  l.path_ = path;  // ours now: close() removes the lock (and, once bound, the socket)
  struct stat st;
  if (::lstat(path.c_str(), &st) == 0) {
    if (!S_ISSOCK(st.st_mode)) {
      fail("--socket " + path + ": exists and is not a socket: remove it or choose another path");
    }
    int probe = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    bool live = probe >= 0 && ::connect(probe, reinterpret_cast<sockaddr*>(&sa), sizeof sa) == 0;
    if (probe >= 0) ::close(probe);
    if (live) {
      fail("--socket " + path +
           ": another server is listening on it: stop that server or choose another path");
    }
    ::unlink(path.c_str());  // stale: left behind by a server that died
  }
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) fail("socket(AF_UNIX): " + errno_text());
  if (::bind(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0) {
    const std::string why = errno_text();
    ::close(fd);
    fail("--socket " + path + ": cannot bind: " + why +
         ": check that the directory exists and is writable");
  }
  l.fd_ = fd;  // bound: close() removes the socket file too
  if (::listen(l.fd_, 128) != 0) fail("--socket " + path + ": listen: " + errno_text());
  return l;
}

Listener Listener::tcp(const ListenAddress& addr) {
  std::string host = addr.host.empty() ? "127.0.0.1" : addr.host;
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_NUMERICSERV | AI_PASSIVE;
  addrinfo* res = nullptr;
  int rc = ::getaddrinfo(host.c_str(), addr.port.c_str(), &hints, &res);
  if (rc != 0)
    fail("--listen " + host + ":" + addr.port + ": " + gai_strerror(rc) +
         ": give a numeric address");
  Listener l;
  std::string err = "no address";
  for (addrinfo* ai = res; ai; ai = ai->ai_next) {
    int fd = ::socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) continue;
    int one = 1;
    ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (ai->ai_family == AF_INET6) ::setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
    if (::bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 && ::listen(fd, 128) == 0) {
      l.fd_ = fd;
      sockaddr_storage ss{};
      socklen_t len = sizeof ss;
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len);
      char buf[INET6_ADDRSTRLEN] = {};
      if (ss.ss_family == AF_INET6) {
        auto* s6 = reinterpret_cast<sockaddr_in6*>(&ss);
        inet_ntop(AF_INET6, &s6->sin6_addr, buf, sizeof buf);
        l.host_ = std::string("[") + buf + "]";
        l.port_ = ntohs(s6->sin6_port);
        l.loopback_ = IN6_IS_ADDR_LOOPBACK(&s6->sin6_addr) ||
                      (IN6_IS_ADDR_V4MAPPED(&s6->sin6_addr) && s6->sin6_addr.s6_addr[12] == 127);
      } else {
        auto* s4 = reinterpret_cast<sockaddr_in*>(&ss);
        inet_ntop(AF_INET, &s4->sin_addr, buf, sizeof buf);
        l.host_ = buf;
        l.port_ = ntohs(s4->sin_port);
        l.loopback_ = (ntohl(s4->sin_addr.s_addr) >> 24) == 127;
      }
      break;
    }
    err = errno_text();
    ::close(fd);
  }
  ::freeaddrinfo(res);
  if (l.fd_ < 0) {
    fail("--listen " + host + ":" + addr.port + ": cannot bind: " + err +
         ": choose another port or address");
  }
  return l;
}

std::string Listener::uri(const std::string& export_name) const {
  if (is_unix())
    return "nbd+unix:///" + percent_encode(export_name) + "?socket=" + percent_encode(path_);
  std::string host = host_;
  if (host == "0.0.0.0") host = "127.0.0.1";
  if (host == "[::]") host = "[::1]";
  return "nbd://" + host + ":" + std::to_string(port_) + "/" + percent_encode(export_name);
}

}  // namespace mqblk::nbd
