#include "control/run_dir.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <stdexcept>
#include <system_error>

namespace mqblk::control {

std::string run_dir() {
  if (geteuid() != 0) {
    // Read once per call; nothing in mqblk calls setenv.
    const char* xdg = std::getenv("XDG_RUNTIME_DIR");  // NOLINT(concurrency-mt-unsafe)
    if (xdg && *xdg) return std::string(xdg) + "/mqblk";
  }
  return "/run/mqblk";
}

void ensure_run_dir() {
  const std::string dir = run_dir();
  if (mkdir(dir.c_str(), 0755) != 0 && errno != EEXIST)
    throw std::runtime_error(
        "cannot create " + dir + ": " + std::error_code(errno, std::generic_category()).message() +
        (geteuid() != 0 ? "; set XDG_RUNTIME_DIR to a directory of yours" : ""));
}

}  // namespace mqblk::control
