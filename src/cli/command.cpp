#include "cli/command.hpp"

#include <algorithm>
#include <cstdio>
#include <utility>

namespace mqblk::cli {
namespace {
std::vector<std::pair<int, CommandSetup>>& registry() {
  static std::vector<std::pair<int, CommandSetup>> r;
  return r;
}
}  // namespace

CommandRegistrar::CommandRegistrar(int order, CommandSetup setup) {
  registry().emplace_back(order, std::move(setup));
}

void setup_commands(CLI::App& app) {
  auto& r = registry();
  std::stable_sort(r.begin(), r.end(),
                   [](const auto& a, const auto& b) { return a.first < b.first; });
  for (auto& [order, setup] : r) setup(app);
}

void fail(const std::string& message, int code) {
  std::fprintf(stderr, "mqblk: %s\n", message.c_str());
  throw CLI::RuntimeError(code);
}

DriverArgs split_driver_args(const std::vector<std::string>& positional) {
  DriverArgs out;
  if (positional.empty())
    fail("no driver given: name one after the options, e.g. `null size=1G`", 2);
  out.driver = positional.front();
  out.attrs.assign(positional.begin() + 1, positional.end());
  return out;
}

}  // namespace mqblk::cli
