// mqblk/errors.hpp - the errors every layer shares.
#pragma once

#include <stdexcept>

namespace mqblk {

// A configuration mistake, reported before anything is created. what() is one line:
// what is wrong, where (the key), and how to fix it.
class ConfigError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

}  // namespace mqblk
