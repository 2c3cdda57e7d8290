// The control socket's server side and the NBD servers' records (control_server.hpp).
#include "control/control_server.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <system_error>

#include "control/run_dir.hpp"
#include "mqblk/detail/clock.hpp"
#include "mqblk/errors.hpp"
#include "mqblk/registry.hpp"

namespace mqblk::control {
namespace {

constexpr size_t kMaxRequest = size_t{64} * 1024;
constexpr int kRequestMs = 2000;

std::string errno_line(const std::string& what) {
  return what + ": " + std::error_code(errno, std::generic_category()).message();
}

bool alive(pid_t pid) {
  if (pid <= 0) return false;
  if (::kill(pid, 0) != 0 && errno == ESRCH) return false;
  std::ifstream st("/proc/" + std::to_string(pid) + "/stat");
  std::string s;
  std::getline(st, s);
  size_t rp = s.rfind(')');
  return !(rp != std::string::npos && rp + 2 < s.size() && s[rp + 2] == 'Z');
}

void write_record(const std::string& path, const nlohmann::json& j) {
  const std::string tmp = path + ".tmp";
  {
    std::ofstream f(tmp, std::ios::trunc);
    f << j.dump(2) << "\n";
    if (!f) throw std::runtime_error("cannot write " + tmp);
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0)
    throw std::runtime_error(errno_line("rename " + path));
}

// Reads one line (up to kMaxRequest bytes) within kRequestMs; empty on error.
std::string read_line(int fd) {
  std::string buf;
  const int64_t deadline = detail::now_ns() + int64_t{kRequestMs} * 1'000'000;
  while (buf.size() < kMaxRequest) {
    const int64_t left = (deadline - detail::now_ns()) / 1'000'000;
    if (left <= 0) return {};
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(left)) <= 0) return {};
    char chunk[4096];
    ssize_t n = ::recv(fd, chunk, sizeof chunk, 0);
    if (n <= 0) return buf.find('\n') == std::string::npos ? std::string() : buf;
    buf.append(chunk, static_cast<size_t>(n));
    size_t nl = buf.find('\n');
    if (nl != std::string::npos) return buf.substr(0, nl);
  }
  return {};
}

}  // namespace

ControlServer::ControlServer(BlockDevice& dev, std::string id, ServedInfo info)
    : dev_(dev), id_(std::move(id)), info_(std::move(info)) {
  ensure_run_dir();
  sock_path_ = run_dir() + "/" + id_ + ".ctl";
  record_path_ = run_dir() + "/" + id_ + ".json";
  sockaddr_un a{};
  a.sun_family = AF_UNIX;
  if (sock_path_.size() >= sizeof a.sun_path)
    throw std::runtime_error("control socket path too long: " + sock_path_);
  std::memcpy(a.sun_path, sock_path_.c_str(), sock_path_.size() + 1);
  listen_fd_ = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (listen_fd_ < 0) throw std::runtime_error(errno_line("control socket"));
  ::unlink(sock_path_.c_str());  // a dead server's; the id is ours (claimed or the kernel's)
  const mode_t old = ::umask(0077);
  const int rc = ::bind(listen_fd_, reinterpret_cast<sockaddr*>(&a), sizeof a);
  ::umask(old);
  if (rc != 0 || ::listen(listen_fd_, 8) != 0) {
    const std::string e = errno_line("control socket " + sock_path_);
    ::close(listen_fd_);
    throw std::runtime_error(e);
  }
  stop_fd_ = ::eventfd(0, EFD_CLOEXEC);
  if (info_.write_record)
    write_record(record_path_, {{"id", id_},
                                {"kind", info_.kind},
                                {"uri", info_.uri},
                                {"pid", ::getpid()},
                                {"driver", info_.driver},
                                {"attributes", info_.attrs},
                                {"control", sock_path_}});
  thread_ = std::thread([this] { loop(); });
}

ControlServer::~ControlServer() {
  uint64_t one = 1;
  (void)!::write(stop_fd_, &one, sizeof one);
  if (thread_.joinable()) thread_.join();
  ::close(listen_fd_);
  ::close(stop_fd_);
  ::unlink(sock_path_.c_str());
  if (info_.write_record) ::unlink(record_path_.c_str());
}

void ControlServer::loop() {
  for (;;) {
    pollfd p[2] = {{listen_fd_, POLLIN, 0}, {stop_fd_, POLLIN, 0}};
    if (::poll(p, 2, -1) < 0) {
      if (errno == EINTR) continue;
      return;
    }
    if (p[1].revents) return;
    int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) continue;
    serve_one(fd);
    ::close(fd);
  }
}

void ControlServer::serve_one(int fd) {
  nlohmann::json reply;
  const std::string line = read_line(fd);
  nlohmann::json req = nlohmann::json::parse(line, nullptr, false);
  try {
    if (req.is_discarded() || !req.is_object() || !req.contains("op") || !req["op"].is_string())
      throw ConfigError("control: malformed request (one JSON line with \"op\": get or set)");
    const std::string op = req["op"];
    if (op == "get") {
      reply = {{"ok", true}, {"attrs", control_get(dev_)}};
    } else if (op == "set") {
      std::vector<std::string> items;
      if (!req.contains("items") || !req["items"].is_array())
        throw ConfigError("control: set needs \"items\": [\"key=value\", ...]");
      for (const auto& i : req["items"]) {
        if (!i.is_string()) throw ConfigError("control: each item is a \"key=value\" string");
        items.push_back(i.get<std::string>());
      }
      control_set(dev_, info_.driver, items);
      reply = {{"ok", true}, {"attrs", control_get(dev_)}};
    } else {
      throw ConfigError("control: unknown op '" + op + "' (get or set)");
    }
  } catch (const std::exception& e) {
    reply = {{"ok", false}, {"error", e.what()}};
  }
  const std::string out = reply.dump() + "\n";
  size_t off = 0;
  while (off < out.size()) {
    ssize_t n = ::send(fd, out.data() + off, out.size() - off, MSG_NOSIGNAL);
    if (n <= 0) return;
    off += static_cast<size_t>(n);
  }
}

std::string claim_nbd_id() {
  ensure_run_dir();
  for (unsigned n = 0; n < 4096; ++n) {
    std::string id = "nbd" + std::to_string(n);
    const std::string path = run_dir() + "/" + id + ".json";
    int fd = ::open(path.c_str(), O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0644);
    if (fd >= 0) {
      const std::string pid = "{\"pid\": " + std::to_string(::getpid()) + "}\n";
      (void)!::write(fd, pid.data(), pid.size());
      ::close(fd);
      return id;
    }
    if (errno != EEXIST) throw std::runtime_error(errno_line("cannot create " + path));
    // A record whose server is gone is taken over (rename is atomic: one taker wins).
    std::ifstream f(path);
    nlohmann::json j = nlohmann::json::parse(f, nullptr, false);
    if (j.is_discarded() || !j.is_object() || alive(j.value("pid", 0))) continue;
    const std::string mine = path + "." + std::to_string(::getpid());
    if (::rename(path.c_str(), mine.c_str()) == 0) {
      ::unlink(mine.c_str());
      --n;  // try the same number again, now free
    }
  }
  throw std::runtime_error("no free NBD control id in " + run_dir() + " (4096 in use)");
}

std::vector<NbdRecord> nbd_records() {
  std::vector<NbdRecord> out;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(run_dir(), ec)) {
    const std::string name = entry.path().filename().string();
    if (name.rfind("nbd", 0) != 0 || name.size() < 9 || name.substr(name.size() - 5) != ".json")
      continue;
    std::ifstream f(entry.path());
    nlohmann::json j = nlohmann::json::parse(f, nullptr, false);
    if (j.is_discarded() || !j.is_object() || !j.contains("uri")) continue;
    NbdRecord r;
    r.pid = j.value("pid", 0);
    if (!alive(r.pid)) continue;
    r.id = j.value("id", "");
    r.uri = j.value("uri", "");
    r.driver = j.value("driver", "");
    r.attrs = j.value("attributes", std::vector<std::string>{});
    out.push_back(std::move(r));
  }
  std::sort(out.begin(), out.end(), [](const NbdRecord& a, const NbdRecord& b) {
    return a.id.size() != b.id.size() ? a.id.size() < b.id.size() : a.id < b.id;
  });
  return out;
}

}  // namespace mqblk::control
