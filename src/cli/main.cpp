// The `mqblk` command: subcommands register themselves (see cli/command.hpp).
#include <CLI/CLI.hpp>
#include <cstdio>
#include <exception>

#include "cli/command.hpp"

int main(int argc, char** argv) {
  // Subcommands turn bad input into one line and an exit status themselves; this is the
  // last line of defence, so that nothing leaves main through std::terminate.
  try {
    CLI::App app{"mqblk: block devices in userspace, built the way Linux blk-mq builds them"};
    app.require_subcommand(1);
    app.set_help_all_flag("--help-all", "help for every subcommand");
    mqblk::cli::setup_commands(app);
    CLI11_PARSE(app, argc, argv);
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "mqblk: %s\n", e.what());
  } catch (...) {
    std::fprintf(stderr, "mqblk: unexpected error\n");
  }
  return 1;
}
