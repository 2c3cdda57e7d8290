// control/run_dir.hpp - where served devices leave their records and control sockets.
#pragma once

#include <string>

namespace mqblk::control {

// /run/mqblk for root; for other users $XDG_RUNTIME_DIR/mqblk when the variable is set
// (else /run/mqblk, which they usually cannot create).
std::string run_dir();

// Creates run_dir() if needed; throws std::runtime_error (one line) when it cannot.
void ensure_run_dir();

}  // namespace mqblk::control
