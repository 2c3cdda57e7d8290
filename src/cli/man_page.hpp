// cli/man_page.hpp - the man pages, in roff, made from what this mqblk is: mqblk(1) from
// the CLI11 definitions of its subcommands (names, options, help, defaults), one
// mqblk-DRIVER(5) per registered driver and mqblk-attributes(5) for the engine's
// attributes, from the registrations (registry.hpp's AttributeInfo: unit, default, help,
// live). The build writes them with the hidden `mqblk man --out DIR` (cmake/install.cmake),
// so a page cannot describe an option or attribute the binary does not have.
#pragma once

#include <CLI/CLI.hpp>
#include <string>
#include <vector>

namespace mqblk::cli {

struct ManPage {
  std::string name;  // "mqblk", "mqblk-null", "mqblk-attributes"
  int section = 1;   // 1 for the command, 5 for the attribute pages
  std::string text;  // roff (man macros)
};

// Every page, for the app whose subcommands are set up (main's root app). Runs on the
// calling thread; reads the registry only.
std::vector<ManPage> man_pages(const CLI::App& app);

// Text made safe for roff: backslashes escaped, no line starting with a control character.
std::string roff_escape(const std::string& text);

}  // namespace mqblk::cli
