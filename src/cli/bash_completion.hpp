// cli/bash_completion.hpp - the bash completion script, made from what this mqblk is: its
// subcommands and their options (CLI11), the drivers and their attributes with the
// engine's (the registry). The build writes it with the hidden `mqblk completion --out
// FILE` (cmake/install.cmake); the script itself never runs mqblk, so completing costs
// nothing and works without jq.
#pragma once

#include <CLI/CLI.hpp>
#include <string>

namespace mqblk::cli {

// The script for the app whose subcommands are set up (main's root app).
std::string bash_completion(const CLI::App& app);

}  // namespace mqblk::cli
