#include "ublk/saved_config.hpp"

#include <dirent.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <fstream>
#include <nlohmann/json.hpp>

#include "control/run_dir.hpp"
#include "ublk/error.hpp"

namespace mqblk::ublk {

std::string run_dir() { return control::run_dir(); }

std::string run_path(uint32_t id, const char* suffix) {
  return run_dir() + "/" + std::to_string(id) + suffix;
}

void ensure_run_dir() {
  const std::string dir = run_dir();
  if (mkdir(dir.c_str(), 0755) != 0 && errno != EEXIST) {
    int e = errno;
    throw UblkError("cannot create " + dir + ": " + errno_text(e) +
                        (geteuid() != 0 ? "; set XDG_RUNTIME_DIR to a directory of yours" : ""),
                    e);
  }
}

void save_config(const SavedConfig& c) {
  ensure_run_dir();
  nlohmann::json j = {
      {"id", c.id},
      {"driver", c.driver},
      {"attrs", c.attrs},
      {"queues", c.queues},
      {"depth", c.depth},
      {"recovery", c.recovery},
      {"reissue", c.reissue},
      {"fail_io", c.fail_io},
      {"unprivileged", c.unprivileged},
      {"user_copy", c.user_copy},
      {"pid", c.pid},
      {"shm_file", c.shm_file},
  };
  // Write then rename, so a reader never sees half a file.
  std::string path = run_path(c.id, ".json");
  std::string tmp = path + ".tmp";
  {
    std::ofstream f(tmp);
    f << j.dump(2) << "\n";
    if (!f) throw UblkError("cannot write " + tmp, EIO);
  }
  if (rename(tmp.c_str(), path.c_str()) != 0)
    throw UblkError("cannot write " + path + ": " + errno_text(errno), errno);
}

std::optional<SavedConfig> load_config(uint32_t id) {
  std::ifstream f(run_path(id, ".json"));
  if (!f) return std::nullopt;
  auto j = nlohmann::json::parse(f, nullptr, false);
  if (j.is_discarded()) return std::nullopt;
  SavedConfig c;
  c.id = j.value("id", id);
  c.driver = j.value("driver", "");
  c.attrs = j.value("attrs", std::vector<std::string>{});
  c.queues = j.value("queues", 0u);
  c.depth = j.value("depth", 0u);
  c.recovery = j.value("recovery", false);
  c.reissue = j.value("reissue", false);
  c.fail_io = j.value("fail_io", false);
  c.unprivileged = j.value("unprivileged", false);
  c.user_copy = j.value("user_copy", true);
  c.pid = j.value("pid", 0);
  c.shm_file = j.value("shm_file", "");
  return c;
}

std::vector<uint32_t> saved_ids() {
  std::vector<uint32_t> ids;
  DIR* d = opendir(run_dir().c_str());
  if (!d) return ids;
  // readdir is safe on a DIR stream no other thread uses (glibc; readdir_r is deprecated).
  while (dirent* e = readdir(d)) {  // NOLINT(concurrency-mt-unsafe)
    std::string n = e->d_name;
    if (n.size() < 6 || n.substr(n.size() - 5) != ".json") continue;
    std::string stem = n.substr(0, n.size() - 5);
    if (stem.empty() || !std::all_of(stem.begin(), stem.end(), ::isdigit)) continue;
    ids.push_back(static_cast<uint32_t>(std::stoul(stem)));
  }
  closedir(d);
  std::sort(ids.begin(), ids.end());
  return ids;
}

void remove_saved(uint32_t id) {
  for (const char* s : {".json", ".stats.json", ".report", ".log"}) unlink(run_path(id, s).c_str());
}

bool pid_alive(pid_t pid) {
  if (pid <= 0) return false;
  if (kill(pid, 0) != 0 && errno == ESRCH) return false;
  std::ifstream f("/proc/" + std::to_string(pid) + "/stat");
  std::string stat;
  if (!std::getline(f, stat)) return false;
  auto rp = stat.rfind(')');
  return !(rp != std::string::npos && rp + 2 < stat.size() &&
           (stat[rp + 2] == 'Z' || stat[rp + 2] == 'X'));
}

}  // namespace mqblk::ublk
