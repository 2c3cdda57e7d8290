// The `mqblk` command: subcommands register themselves (see cli/command.hpp).
#include <CLI/CLI.hpp>

#include "cli/command.hpp"

int main(int argc, char** argv) {
  CLI::App app{"mqblk: block devices in userspace, built the way Linux blk-mq builds them"};
  app.require_subcommand(1);
  app.set_help_all_flag("--help-all", "help for every subcommand");
  mqblk::cli::setup_commands(app);
  CLI11_PARSE(app, argc, argv);
  return 0;
}
