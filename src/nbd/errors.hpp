// nbd/errors.hpp - how the server's set-up code reports a bad option or a failed call: a
// std::runtime_error carrying one line, which `mqblk nbd` prints as "mqblk: <line>".
#pragma once

#include <cerrno>
#include <stdexcept>
#include <string>
#include <system_error>

namespace mqblk::nbd {

[[noreturn]] inline void fail(const std::string& msg) { throw std::runtime_error(msg); }

// The text of an errno value (thread-safe, unlike strerror).
inline std::string errno_text(int e = errno) { return std::generic_category().message(e); }

}  // namespace mqblk::nbd
