// ublk/error.hpp - the one exception type of the ublk frontend.
#pragma once

#include <stdexcept>
#include <string>

namespace mqblk::ublk {

// what() is one line: what failed, on which device, and what to do about it.
// err is the positive errno behind it (0 when there is none).
class UblkError : public std::runtime_error {
 public:
  UblkError(const std::string& what, int err = 0) : std::runtime_error(what), err_(err) {}
  int err() const noexcept { return err_; }

 private:
  int err_;
};

// "strerror(err)" without the thread-safety trap of strerror().
std::string errno_text(int err);

}  // namespace mqblk::ublk
