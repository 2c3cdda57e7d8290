// cli/command.hpp - how each `mqblk` subcommand plugs itself into the command line.
//
// Each src/cli/cmd_*.cpp defines a static CommandRegistrar that adds its subcommands to
// the CLI11 app; main() only runs them. Subcommands report failure by throwing
// CLI::RuntimeError(exit_code) after printing their one-line error to stderr.
#pragma once

#include <CLI/CLI.hpp>
#include <functional>
#include <string>
#include <vector>

namespace mqblk::cli {

using CommandSetup = std::function<void(CLI::App&)>;

struct CommandRegistrar {
  // order sorts the subcommands in --help.
  CommandRegistrar(int order, CommandSetup setup);
};

// Called by main(): every registered setup, in order.
void setup_commands(CLI::App& app);

// Prints "mqblk: <message>" to stderr (one line) and throws CLI::RuntimeError(code).
[[noreturn]] void fail(const std::string& message, int code = 1);

// Splits "DRIVER key=value ..." positional arguments.
struct DriverArgs {
  std::string driver;
  std::vector<std::string> attrs;
};
DriverArgs split_driver_args(const std::vector<std::string>& positional);

}  // namespace mqblk::cli
