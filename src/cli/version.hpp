// cli/version.hpp - the version `mqblk --version` and `mqblk features --json` report.
//
// The string is made when CMake configures (cmake/version.cmake: the project's version and,
// in a git checkout, `git describe`), in a generated source of its own so that a new
// version recompiles one file.
#pragma once

namespace mqblk::cli {

// "0.1.0" or "0.1.0 (git 39829c8-dirty)"; a static string, never null.
const char* version();

}  // namespace mqblk::cli
