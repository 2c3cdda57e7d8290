// The `mqblk` command: subcommands register themselves (see cli/command.hpp).
#include <CLI/CLI.hpp>
#include <cstdio>
#include <exception>
#include <string>

#include "cli/command.hpp"
#include "cli/version.hpp"

int main(int argc, char** argv) {
  // Subcommands turn bad input into one line and an exit status themselves; this is the
  // last line of defence, so that nothing leaves main through std::terminate.
  try {
    CLI::App app{"mqblk: block devices in userspace, built the way Linux blk-mq builds them"};
    app.require_subcommand(1);
    app.set_help_all_flag("--help-all", "help for every subcommand");
    app.set_version_flag("--version", std::string("mqblk ") + mqblk::cli::version());
    mqblk::cli::setup_commands(app);
    try {
      app.parse(argc, argv);
    } catch (const CLI::RuntimeError& e) {
      return e.get_exit_code();  // a subcommand failed and has said why
    } catch (const CLI::ParseError& e) {
      if (e.get_exit_code() == 0) return app.exit(e);  // --help, --help-all, --version
      // A bad option value or a missing argument: one line, like every other error.
      // Exit status 2, the usage-error convention (as for a missing driver).
      std::fprintf(stderr, "mqblk: %s (see --help)\n", e.what());
      return 2;
    }
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "mqblk: %s\n", e.what());
  } catch (...) {
    std::fprintf(stderr, "mqblk: unexpected error\n");
  }
  return 1;
}
