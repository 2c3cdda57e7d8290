#include "ublk/commands.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

#include "control/control_server.hpp"
#include "mqblk/registry.hpp"
#include "ublk/control.hpp"
#include "ublk/features.hpp"
#include "ublk/saved_config.hpp"
#include "ublk/server.hpp"

namespace mqblk::ublk {
namespace {

int fail(const std::string& msg) {
  std::fprintf(stderr, "mqblk: %s\n", msg.c_str());
  return 1;
}

// Backing files of -r 1 memory-backed devices: /dev/shm/mqblk-ublk-PID-TIME.
constexpr const char* kShmPrefix = "mqblk-ublk-";

bool truthy(const std::string& v) { return v == "1" || v == "true" || v == "yes" || v == "on"; }

// The value of key in "key=value" attributes, or "".
std::string attr_value(const std::vector<std::string>& attrs, const std::string& key) {
  std::string v;
  for (const auto& a : attrs)
    if (a.compare(0, key.size() + 1, key + "=") == 0) v = a.substr(key.size() + 1);
  return v;
}

// Runs the server in a detached child and waits for it to say ready (the device path) or
// failed (one line). The fork happens before any thread or io_uring exists in the child:
// the kernel binds each queue to the task that fetched its tags, so those tasks must be
// the daemon's own.
int spawn_server(const ServerSpec& spec) {
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) return fail("pipe: " + errno_text(errno));
  std::fflush(nullptr);
  pid_t pid = fork();
  if (pid < 0) return fail("fork: " + errno_text(errno));
  if (pid == 0) {
    ::close(fds[0]);
    setsid();
    signal(SIGPIPE, SIG_IGN);
    int null = ::open("/dev/null", O_RDWR);
    dup2(null, 0);
    dup2(null, 1);
    dup2(null, 2);
    if (null > 2) ::close(null);
    int wfd = fds[1];
    bool told = false;
    ServerHooks hooks;
    hooks.ready = [&](const std::string& path) {
      std::string m = "ok " + path + "\n";
      (void)!write(wfd, m.data(), m.size());
      ::close(wfd);
      told = true;
    };
    hooks.note = [&](const std::string& msg) {
      if (told) return;
      std::string m = "note " + msg + "\n";
      (void)!write(wfd, m.data(), m.size());
    };
    hooks.failed = [&](const std::string& msg) {
      if (told) return;
      std::string m = "err " + msg + "\n";
      (void)!write(wfd, m.data(), m.size());
      ::close(wfd);
      told = true;
    };
    // From here stderr is the device's log, once the id is known (see saved_config.hpp).
    ServerSpec s = spec;
    s.detached = true;
    int rc = run_server(s, hooks);
    _exit(rc);
  }
  ::close(fds[1]);
  std::string msg;
  char buf[512];
  ssize_t n;
  while ((n = read(fds[0], buf, sizeof buf)) > 0 || (n < 0 && errno == EINTR))
    if (n > 0) msg.append(buf, static_cast<size_t>(n));
  ::close(fds[0]);
  // Notes first (one line each, for the user), then "ok PATH" or "err MESSAGE".
  for (size_t nl; msg.rfind("note ", 0) == 0 && (nl = msg.find('\n')) != std::string::npos;) {
    std::fprintf(stderr, "mqblk: %s\n", msg.substr(5, nl - 5).c_str());
    msg.erase(0, nl + 1);
  }
  while (!msg.empty() && msg.back() == '\n') msg.pop_back();
  if (msg.rfind("ok ", 0) == 0) {
    std::printf("%s\n", msg.substr(3).c_str());
    return 0;
  }
  if (msg.rfind("err ", 0) == 0) return fail(msg.substr(4));
  return fail("the ublk server (pid " + std::to_string(pid) +
              ") exited during start-up without a reason; see " + run_dir() + "/*.log and dmesg");
}

int run_foreground(const ServerSpec& spec) {
  ServerHooks hooks;
  hooks.ready = [](const std::string& path) {
    std::printf("%s\n", path.c_str());
    std::fflush(stdout);
  };
  return run_server(spec, hooks);
}

std::string state_name(uint16_t s) {
  switch (s) {
    case abi::kStateDead: return "dead";
    case abi::kStateLive: return "live";
    case abi::kStateQuiesced: return "quiesced";
    case abi::kStateFailIo: return "fail_io";
  }
  return "state " + std::to_string(s);
}

}  // namespace

int cmd_add(const AddOptions& o) {
  // Probe first so that a machine without ublk gets the one-line answer at once.
  try {
    Control ctl;
    ctl.get_features();
  } catch (const UblkError& e) {
    return fail(e.what());
  }
  if (o.recovery != 0 && o.recovery != 1) return fail("-r takes 0 or 1");
  if (o.reissue != 0 && o.reissue != 1) return fail("-i takes 0 or 1");
  if (o.fail_io != 0 && o.fail_io != 1) return fail("-e takes 0 or 1");
  if (o.reissue == 1 && o.fail_io == 1)
    return fail(
        "-i 1 (reissue I/O to the next server) and -e 1 (fail I/O while there is none) "
        "exclude each other; choose one");
  if (o.unprivileged && (o.recovery == 1 || o.reissue == 1 || o.fail_io == 1))
    return fail(
        "the kernel offers no recovery (-r, -i, -e) for --unprivileged devices; "
        "drop one or the other");
  if (o.unprivileged && o.copy == "user")
    return fail("the kernel refuses USER_COPY for --unprivileged devices; use --copy mapped");
  if (o.reissue == 1) {
    // A reissued write runs a second time, after the first may have reached the medium.
    try {
      if (!find_driver(o.driver).info().idempotent_writes)
        return fail("-i 1 reissues writes that were in flight when a server died, and driver '" +
                    o.driver +
                    "' does not declare its writes idempotent; use -r 1 (or -e 1) instead");
    } catch (const std::exception& e) {
      return fail(e.what());
    }
  }
  if (o.copy != "auto" && o.copy != "user" && o.copy != "mapped")
    return fail("--copy takes auto, user or mapped");
  ServerSpec s;
  s.id = o.id;
  s.driver = o.driver;
  s.attrs = o.attrs;
  s.queues = o.queues;
  s.depth = o.depth;
  s.recovery = o.recovery == 1 || o.reissue == 1 || o.fail_io == 1;
  s.reissue = o.reissue == 1;
  s.fail_io = o.fail_io == 1;
  s.unprivileged = o.unprivileged;
  s.user_copy = o.copy == "auto" ? -1 : o.copy == "user" ? 1 : 0;
  // With recovery, memory-backed data must outlive the server: keep the page store in a
  // file under /dev/shm (the null driver's backing_file) unless the user named one.
  if (s.recovery && truthy(attr_value(s.attrs, "memory_backed")) &&
      attr_value(s.attrs, "backing_file").empty()) {
    s.shm_file = std::string("/dev/shm/") + kShmPrefix + std::to_string(getpid()) + "-" +
                 std::to_string(std::chrono::steady_clock::now().time_since_epoch().count());
    s.attrs.push_back("backing_file=" + s.shm_file);
  }
  if (o.foreground) return run_foreground(s);
  ServerSpec bg = s;
  return spawn_server(bg);
}

int cmd_recover(int id, bool foreground) {
  if (id < 0) return fail("recover needs -n ID");
  auto saved = load_config(static_cast<uint32_t>(id));
  if (!saved)
    return fail("no saved configuration for ublk device " + std::to_string(id) + " in " +
                run_dir() + "; it was not added by mqblk or was deleted");
  if (!saved->recovery)
    return fail("ublk device " + std::to_string(id) +
                " was added without -r 1, so it cannot be recovered; `mqblk del -n " +
                std::to_string(id) + "` it");
  try {
    Control ctl;
    // After the server dies the kernel quiesces the device; give it a moment.
    auto end = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    for (;;) {
      abi::DevInfo info = ctl.get_dev_info(static_cast<uint32_t>(id));
      if (info.state == abi::kStateQuiesced) break;
      if (info.state == abi::kStateLive && pid_alive(info.ublksrv_pid))
        return fail("ublk device " + std::to_string(id) + " is served by pid " +
                    std::to_string(info.ublksrv_pid) + "; nothing to recover");
      if (std::chrono::steady_clock::now() > end)
        return fail("ublk device " + std::to_string(id) + " is " + state_name(info.state) +
                    ", not quiesced; only a device whose server died can be recovered");
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  } catch (const UblkError& e) {
    return fail(e.what());
  }
  ServerSpec s;
  s.recover = true;
  s.id = id;
  s.driver = saved->driver;
  s.attrs = saved->attrs;
  s.queues = static_cast<int>(saved->queues);
  s.depth = static_cast<int>(saved->depth);
  s.recovery = true;
  s.reissue = saved->reissue;
  s.fail_io = saved->fail_io;
  s.user_copy = saved->user_copy ? 1 : 0;
  s.shm_file = saved->shm_file;
  if (foreground) return run_foreground(s);
  return spawn_server(s);
}

namespace {
// Stops one device: asks its server to stop (it drains, reports and deletes the device),
// and if there is no live server, or it does not finish in time, stops and deletes the
// device here.
int del_one(Control& ctl, uint32_t id) {
  auto saved = load_config(id);
  pid_t pid = saved ? saved->pid : 0;
  // An unprivileged device's commands carry its /dev/ublkcN path (see control.hpp).
  bool unprivileged = saved && saved->unprivileged;
  if (!saved) {
    try {
      unprivileged = (ctl.get_dev_info(id).flags & abi::kFUnprivilegedDev) != 0;
    } catch (const UblkError&) {
    }
  }
  ctl.set_unprivileged(unprivileged);
  if (pid_alive(pid)) {
    kill(pid, SIGTERM);
    // A server whose driver holds requests waits up to kHeldWaitNs for it, then leaves by
    // itself (see server.hpp); killing it earlier would only lose its report.
    const auto began = std::chrono::steady_clock::now();
    const auto limit = std::chrono::nanoseconds(kHeldWaitNs) + std::chrono::seconds(20);
    const auto note_at = began + std::chrono::seconds(10);
    bool noted = false;
    while (pid_alive(pid) && std::chrono::steady_clock::now() < began + limit) {
      if (!noted && std::chrono::steady_clock::now() > note_at) {
        std::fprintf(stderr,
                     "mqblk: server %d of ublk device %u is still stopping (one whose driver "
                     "holds requests waits up to %lld s for it; see `mqblk list -n %u` and %s)\n",
                     static_cast<int>(pid), id, static_cast<long long>(kHeldWaitNs / 1'000'000'000),
                     id, run_path(id, ".log").c_str());
        noted = true;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    if (pid_alive(pid)) {
      std::fprintf(
          stderr, "mqblk: server %d of ublk device %u did not stop in %lld s; killing it\n",
          static_cast<int>(pid), id,
          static_cast<long long>(std::chrono::duration_cast<std::chrono::seconds>(limit).count()));
      kill(pid, SIGKILL);
      while (pid_alive(pid)) std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
  }
  int rc = 0;
  // A server that stopped in order deleted the device and its ID.json; otherwise (it died,
  // or was killed above) the device is stopped and deleted here.
  bool server_did_it = saved && !load_config(id);
  bool exists = !server_did_it;
  if (exists) {
    try {
      ctl.get_dev_info(id);
    } catch (const UblkError& e) {
      if (e.err() != ENODEV) return fail(e.what());
      exists = false;
    }
  }
  if (exists) {
    // A device already gone (ENODEV) is what we want; any other error is reported.
    auto unless_gone = [&](auto&& op) {
      try {
        op();
      } catch (const UblkError& e) {
        if (e.err() != ENODEV) {
          fail(e.what());
          rc = 1;
        }
      }
    };
    unless_gone([&] { ctl.stop_dev(id); });
    unless_gone([&] { ctl.del_dev(id); });
  }
  std::ifstream rep(run_path(id, ".report"));
  std::string line;
  if (rep && std::getline(rep, line)) {
    auto j = nlohmann::json::parse(line, nullptr, false);
    if (!j.is_discarded())
      for (const auto& q : j["queues"])
        std::printf("ublk %u queue %u: received %llu ended %llu errors %llu\n", id,
                    q["queue"].get<unsigned>(),
                    static_cast<unsigned long long>(q["received"].get<uint64_t>()),
                    static_cast<unsigned long long>(q["ended"].get<uint64_t>()),
                    static_cast<unsigned long long>(q["errors"].get<uint64_t>()));
  }
  if (saved && !saved->shm_file.empty()) unlink(saved->shm_file.c_str());
  if (rc == 0) remove_saved(id);
  return rc;
}

std::string read_line(const std::string& path) {
  std::ifstream f(path);
  std::string line;
  std::getline(f, line);
  return line;
}

// Undoes the octal escapes (\040 for a space...) of a mountinfo field.
std::string unescape_mount(const std::string& s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\\' && i + 3 < s.size() && s[i + 1] >= '0' && s[i + 1] <= '3' && s[i + 2] >= '0' &&
        s[i + 2] <= '7' && s[i + 3] >= '0' && s[i + 3] <= '7') {
      out += static_cast<char>((s[i + 1] - '0') * 64 + (s[i + 2] - '0') * 8 + (s[i + 3] - '0'));
      i += 3;
      continue;
    }
    out += s[i];
  }
  return out;
}

// Where /dev/ublkbN or one of its partitions is mounted (the first such mount), or "".
// Matched by device number (mountinfo's third field), whatever path mounted it.
std::string mount_point_of(uint32_t id) {
  const std::string name = "ublkb" + std::to_string(id);
  const std::string sys = "/sys/block/" + name;
  std::vector<std::string> devs;
  if (std::string d = read_line(sys + "/dev"); !d.empty()) devs.push_back(d);
  if (DIR* dir = opendir(sys.c_str())) {
    // readdir is safe on a DIR stream no other thread uses (glibc).
    while (dirent* e = readdir(dir)) {  // NOLINT(concurrency-mt-unsafe)
      std::string n = e->d_name;
      if (n.rfind(name + "p", 0) != 0) continue;
      std::string part = sys;
      part.append("/").append(n).append("/dev");
      if (std::string d = read_line(part); !d.empty()) devs.push_back(d);
    }
    closedir(dir);
  }
  if (devs.empty()) return "";
  std::ifstream mi("/proc/self/mountinfo");
  std::string line;
  while (std::getline(mi, line)) {
    std::istringstream ls(line);
    std::string mount_id, parent, majmin, root, point;
    if (!(ls >> mount_id >> parent >> majmin >> root >> point)) continue;
    if (std::find(devs.begin(), devs.end(), majmin) != devs.end()) return unescape_mount(point);
  }
  return "";
}

// Refuses (one line, non-zero) to delete a device with a mounted file system unless forced.
int refuse_if_mounted(uint32_t id, bool force) {
  if (force) return 0;
  std::string at = mount_point_of(id);
  if (at.empty()) return 0;
  return fail("/dev/ublkb" + std::to_string(id) + " is mounted on " + at +
              "; unmount it (`umount " + at + "`) or delete it anyway with `mqblk del -n " +
              std::to_string(id) + " --force` (the file system then sees I/O errors)");
}

// Backing files mqblk made under /dev/shm for -r 1 devices that no saved configuration
// names any more (a server that failed or died before writing one): removed by `del -a`.
void remove_orphan_stores() {
  std::vector<std::string> kept;
  for (uint32_t i : saved_ids())
    if (auto c = load_config(i); c && !c->shm_file.empty()) kept.push_back(c->shm_file);
  DIR* d = opendir("/dev/shm");
  if (!d) return;
  std::vector<std::string> gone;
  // readdir is safe on a DIR stream no other thread uses (glibc).
  while (dirent* e = readdir(d)) {  // NOLINT(concurrency-mt-unsafe)
    std::string n = e->d_name;
    if (n.rfind(kShmPrefix, 0) != 0) continue;
    std::string path = std::string("/dev/shm/") + n;
    if (std::find(kept.begin(), kept.end(), path) == kept.end()) gone.push_back(path);
  }
  closedir(d);
  for (const auto& p : gone) {
    // The file of an `add` still starting up has the pid of a live process in its name.
    std::string rest = p.substr(std::strlen("/dev/shm/") + std::strlen(kShmPrefix));
    pid_t owner = static_cast<pid_t>(std::atoi(rest.c_str()));
    if (pid_alive(owner)) continue;
    unlink(p.c_str());
  }
}
}  // namespace

int cmd_del(int id, bool all, bool force) {
  if (!all && id < 0) return fail("del needs -n ID or -a");
  try {
    Control ctl;
    if (!all) {
      if (!load_config(static_cast<uint32_t>(id))) {
        try {
          ctl.get_dev_info(static_cast<uint32_t>(id));
        } catch (const UblkError& e) {
          if (e.err() == ENODEV) return fail("no ublk device " + std::to_string(id));
          return fail(e.what());
        }
      }
      if (int rc = refuse_if_mounted(static_cast<uint32_t>(id), force); rc != 0) return rc;
      return del_one(ctl, static_cast<uint32_t>(id));
    }
    int rc = 0;
    for (uint32_t i : saved_ids()) {
      if (int r = refuse_if_mounted(i, force); r != 0) {
        rc |= r;
        continue;
      }
      rc |= del_one(ctl, i);
    }
    remove_orphan_stores();
    return rc;
  } catch (const UblkError& e) {
    return fail(e.what());
  }
}

int cmd_list(int id, bool json) {
  // NBD servers too (their records, control/control_server.hpp), unless one ublk id is asked.
  nlohmann::json out = nlohmann::json::array();
  if (id < 0)
    for (const auto& r : control::nbd_records())
      out.push_back({{"id", r.id},
                     {"kind", "nbd"},
                     {"uri", r.uri},
                     {"pid", r.pid},
                     {"driver", r.driver},
                     {"attributes", r.attrs}});
  std::unique_ptr<Control> ctl;
  try {
    ctl = std::make_unique<Control>();
  } catch (const UblkError& e) {
    // No ublk here: the NBD servers are still worth listing.
    if (id >= 0 || out.empty()) return fail(e.what());
  }
  std::vector<uint32_t> ids;
  if (ctl) ids = id >= 0 ? std::vector<uint32_t>{static_cast<uint32_t>(id)} : saved_ids();
  for (uint32_t i : ids) {
    if (!ctl) break;  // (ids is empty then)
    auto saved = load_config(i);
    nlohmann::json d = {{"id", i}, {"kind", "ublk"}, {"dev", "/dev/ublkb" + std::to_string(i)}};
    try {
      abi::DevInfo info = ctl->get_dev_info(i);
      d["state"] = state_name(info.state);
      d["queues"] = info.nr_hw_queues;
      d["depth"] = info.queue_depth;
      d["pid"] = info.ublksrv_pid;
      d["server_alive"] = pid_alive(info.ublksrv_pid);
      d["flags"] = decode_features(info.flags);
    } catch (const UblkError& e) {
      if (e.err() != ENODEV) return fail(e.what());
      if (!saved) {
        if (id >= 0) return fail("no ublk device " + std::to_string(i));
        continue;
      }
      d["state"] = "gone";
    }
    if (saved) {
      d["driver"] = saved->driver;
      d["attributes"] = saved->attrs;
      d["recovery"] = saved->recovery;
      d["user_copy"] = saved->user_copy;
    }
    std::ifstream st(run_path(i, ".stats.json"));
    nlohmann::json stats = st ? nlohmann::json::parse(st, nullptr, false) : nlohmann::json();
    if (!stats.is_discarded() && stats.is_object() && pid_alive(stats.value("pid", 0))) {
      uint64_t inflight = 0, hung = 0, hung_longest = 0;
      for (const auto& q : stats["queues"]) {
        inflight += q.value("in_flight", uint64_t{0});
        if (q.contains("engine")) {
          hung += q["engine"].value("hung", uint64_t{0});
          hung_longest = std::max(hung_longest, q["engine"].value("hung_longest_ns", uint64_t{0}));
        }
      }
      d["in_flight"] = inflight;
      // Requests ended (timeout, cancel, stop) that the driver still holds, and the age of
      // the oldest: a server waiting for its driver to let go shows them here.
      d["hung"] = hung;
      d["hung_longest_ns"] = hung_longest;
      d["per_queue"] = stats["queues"];
    }
    out.push_back(std::move(d));
  }
  if (json) {
    std::printf("%s\n", out.dump(2).c_str());
    return 0;
  }
  for (const auto& d : out) {
    std::string attrs;
    for (const auto& a : d.value("attributes", std::vector<std::string>{})) attrs += " " + a;
    if (d["kind"] == "nbd") {
      std::printf("nbd %s: %s, pid %d, %s%s\n", d["id"].get<std::string>().c_str(),
                  d["uri"].get<std::string>().c_str(), d.value("pid", 0),
                  d.value("driver", std::string("?")).c_str(), attrs.c_str());
      continue;
    }
    std::string hung;
    if (uint64_t h = d.value("hung", uint64_t{0}); h > 0) {
      char b[96];
      std::snprintf(b, sizeof b, ", hung %llu (oldest %.1f s)", static_cast<unsigned long long>(h),
                    static_cast<double>(d.value("hung_longest_ns", uint64_t{0})) / 1e9);
      hung = b;
    }
    std::printf("dev %s: state %s, queues %d, depth %d, pid %d, in-flight %llu%s, %s%s\n",
                d["dev"].get<std::string>().c_str(), d["state"].get<std::string>().c_str(),
                d.value("queues", 0), d.value("depth", 0), d.value("pid", 0),
                static_cast<unsigned long long>(d.value("in_flight", uint64_t{0})), hung.c_str(),
                d.value("driver", std::string("?")).c_str(), attrs.c_str());
  }
  return 0;
}

int cmd_chown_dev(const std::string& name_in) {
  std::string name = name_in.rfind("/dev/", 0) == 0 ? name_in.substr(5) : name_in;
  // ublkcN or ublkbN (udev's %k); a partition ublkbNpM belongs to its disk's owner too.
  if (name.size() < 6 || name.rfind("ublk", 0) != 0 || (name[4] != 'b' && name[4] != 'c') ||
      !std::isdigit(static_cast<unsigned char>(name[5])))
    return fail("chown-dev takes a ublk node name, ublkcN or ublkbN (udev's %k), not '" + name_in +
                "'");
  uint32_t id = static_cast<uint32_t>(std::strtoul(name.c_str() + 5, nullptr, 10));
  try {
    Control ctl;
    abi::DevInfo info = ctl.get_dev_info(id);
    if (!(info.flags & abi::kFUnprivilegedDev)) return 0;  // root's device: stays root's
    std::string path = "/dev/" + name;
    if (chown(path.c_str(), info.owner_uid, info.owner_gid) != 0)
      return fail("chown " + path + " to " + std::to_string(info.owner_uid) + ":" +
                  std::to_string(info.owner_gid) + ": " + errno_text(errno));
    return 0;
  } catch (const UblkError& e) {
    return fail(e.what());
  }
}

nlohmann::json kernel_features_json() {
  nlohmann::json ublk = {{"built", true}, {"available", false}};
  try {
    Control ctl;
    uint64_t f = ctl.get_features();
    ublk["available"] = true;
    ublk["features_mask"] = f;
    ublk["features"] = decode_features(f);
  } catch (const UblkError& e) {
    ublk["error"] = e.what();
  }
  return ublk;
}

void print_kernel_features(const nlohmann::json& ublk) {
  if (!ublk["available"].get<bool>()) {
    std::printf("ublk: %s\n", ublk["error"].get<std::string>().c_str());
    return;
  }
  uint64_t f = ublk["features_mask"].get<uint64_t>();
  std::printf("ublk: kernel features 0x%llx\n", static_cast<unsigned long long>(f));
  for (const auto& n : feature_names())
    std::printf("  %-24s %-3s %s\n", n.name, (f & n.bit) ? "yes" : "no", n.what);
}

}  // namespace mqblk::ublk
