// `mqblk man [PAGE] [--out DIR]` and `mqblk completion [--out FILE]`: hidden subcommands
// that print (or write) the man pages and the bash completion script, made from this
// binary's subcommands and drivers (cli/man_page.hpp, cli/bash_completion.hpp). The build
// runs them to make what `cmake --install` installs; they are hidden from --help because
// a user reads the result, not the generator.
#include <sys/stat.h>

#include <cerrno>
#include <cstdio>
#include <string>
#include <system_error>

#include "cli/bash_completion.hpp"
#include "cli/command.hpp"
#include "cli/man_page.hpp"

namespace mqblk::cli {
namespace {

std::string errno_text() { return std::error_code(errno, std::generic_category()).message(); }

void make_dir(const std::string& dir) {
  if (mkdir(dir.c_str(), 0755) != 0 && errno != EEXIST)
    fail("cannot create " + dir + ": " + errno_text());
}

void write_file(const std::string& path, const std::string& text) {
  FILE* f = std::fopen(path.c_str(), "w");
  if (f == nullptr) fail("cannot write " + path + ": " + errno_text());
  const bool ok = std::fwrite(text.data(), 1, text.size(), f) == text.size();
  if (std::fclose(f) != 0 || !ok) fail("cannot write " + path + ": " + errno_text());
}

// Writes DIR/manN/NAME.N for every page, or prints the page named `page`.
void run_man(const CLI::App& app, const std::string& page, const std::string& out) {
  const auto pages = man_pages(app);
  if (!out.empty()) {
    if (!page.empty()) fail("man: give a PAGE or --out DIR, not both", 2);
    make_dir(out);
    for (const auto& p : pages) {
      const std::string dir = out + "/man" + std::to_string(p.section);
      make_dir(dir);
      write_file(dir + "/" + p.name + "." + std::to_string(p.section), p.text);
    }
    return;
  }
  std::string names;
  for (const auto& p : pages) {
    if (p.name == page || p.name == "mqblk-" + page || (page.empty() && p.name == "mqblk")) {
      std::fputs(p.text.c_str(), stdout);
      return;
    }
    names += (names.empty() ? "" : ", ") + p.name;
  }
  fail("man: no page '" + page + "': the pages are " + names, 2);
}

CommandRegistrar reg(90, [](CLI::App& app) {
  const CLI::App* root = &app;  // main's app outlives every callback
  {
    auto page = std::make_shared<std::string>();
    auto out = std::make_shared<std::string>();
    auto* c = app.add_subcommand("man", "print a man page, or write them all (--out DIR)");
    c->group("");  // hidden
    c->add_option("page", *page, "mqblk, a driver's name (its attributes) or attributes");
    c->add_option("--out", *out, "write DIR/man1/mqblk.1 and DIR/man5/mqblk-*.5");
    c->callback([root, page, out] { run_man(*root, *page, *out); });
  }
  {
    auto out = std::make_shared<std::string>();
    auto* c = app.add_subcommand("completion", "print the bash completion script");
    c->group("");  // hidden
    c->add_option("--out", *out, "write it to this file instead");
    c->callback([root, out] {
      const std::string script = bash_completion(*root);
      if (out->empty())
        std::fputs(script.c_str(), stdout);
      else
        write_file(*out, script);
    });
  }
});

}  // namespace
}  // namespace mqblk::cli
