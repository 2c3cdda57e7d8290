// ublk/saved_config.hpp - what a device was created with, saved under /run/mqblk.
//
// `recover -n ID` needs nothing but the id: the driver, attributes, queues, depth and
// flags come from /run/mqblk/ID.json, written by the server once the kernel assigned the
// id and rewritten by each new server (its pid). Next to it the server keeps ID.stats.json
// (live counters for `list --json`), ID.log (its stderr) and, at exit, ID.report.
#pragma once

#include <sys/types.h>

#include <optional>
#include <string>
#include <vector>

namespace mqblk::ublk {

// /run/mqblk for root; for other users (unprivileged devices) $XDG_RUNTIME_DIR/mqblk,
// their own, when the variable is set (else /run/mqblk, which they usually cannot create).
std::string run_dir();

struct SavedConfig {
  uint32_t id = 0;
  std::string driver;
  std::vector<std::string> attrs;
  unsigned queues = 0;
  unsigned depth = 0;
  bool recovery = false;
  bool reissue = false;       // UBLK_F_USER_RECOVERY_REISSUE (-i 1)
  bool fail_io = false;       // UBLK_F_USER_RECOVERY_FAIL_IO (-e 1)
  bool unprivileged = false;  // UBLK_F_UNPRIVILEGED_DEV (--unprivileged)
  bool user_copy = true;
  pid_t pid = 0;
  std::string shm_file;  // a backing file mqblk created and must delete with the device
};

std::string run_path(uint32_t id, const char* suffix);  // run_dir()/ID<suffix>
// Creates run_dir() if needed; throws UblkError when it cannot.
void ensure_run_dir();

// Throws UblkError when the directory cannot be created or the file written.
void save_config(const SavedConfig& c);
std::optional<SavedConfig> load_config(uint32_t id);
std::vector<uint32_t> saved_ids();
void remove_saved(uint32_t id);  // config, stats, report and log

// True when pid is a running process (a zombie counts as gone).
bool pid_alive(pid_t pid);

}  // namespace mqblk::ublk
