// `mqblk features [--json]`: every registered driver (its attributes with units and
// defaults, and what it promises), and what each frontend reports. Works in every build:
// a frontend left out of the build is listed as not built.
#include <cstdio>
#include <vector>

#include "cli/command.hpp"
#include "cli/features.hpp"
#include "cli/version.hpp"
#include "mqblk/registry.hpp"

namespace mqblk::cli {
namespace {

std::vector<FeatureSection>& sections() {
  static std::vector<FeatureSection> s;
  return s;
}

nlohmann::json drivers_json() {
  nlohmann::json drivers = nlohmann::json::array();
  for (const auto& dr : list_drivers()) {
    nlohmann::json attrs = nlohmann::json::array();
    for (const auto& a : dr.attributes)
      attrs.push_back({{"name", a.name},
                       {"default", a.default_value},
                       {"unit", a.unit},
                       {"help", a.help},
                       {"live", a.live},
                       {"locked_while_powered", a.locked_while_powered}});
    drivers.push_back({{"name", dr.name},
                       {"help", dr.help},
                       {"fills_read_buffers", dr.fills_read_buffers},
                       {"idempotent_writes", dr.idempotent_writes},
                       {"can_be_zoned", dr.can_be_zoned},
                       {"attributes", attrs}});
  }
  return drivers;
}

int run_features(bool json) {
  nlohmann::json out = {{"version", version()}, {"drivers", drivers_json()}};
  bool ublk_built = false;
  for (const auto& s : sections()) {
    out[s.name] = s.probe();
    ublk_built |= s.name == "ublk";
  }
  if (!ublk_built)
    out["ublk"] = {{"built", false},
                   {"available", false},
                   {"error",
                    "this mqblk was built without the ublk frontend (configure with "
                    "-DMQBLK_WITH_UBLK=ON)"}};
  if (json) {
    std::printf("%s\n", out.dump(2).c_str());
    return 0;
  }
  std::printf("mqblk %s\n", version());
  for (const auto& d : out["drivers"]) {
    std::printf("driver %s: %s\n", d["name"].get<std::string>().c_str(),
                d["help"].get<std::string>().c_str());
    for (const auto& a : d["attributes"])
      std::printf("  %-24s default %-10s %-6s %s\n", a["name"].get<std::string>().c_str(),
                  a["default"].get<std::string>().c_str(), a["unit"].get<std::string>().c_str(),
                  a["help"].get<std::string>().c_str());
  }
  for (const auto& s : sections()) s.print(out[s.name]);
  if (!ublk_built) std::printf("ublk: %s\n", out["ublk"]["error"].get<std::string>().c_str());
  return 0;
}

void setup(CLI::App& app) {
  auto json = std::make_shared<bool>(false);
  auto* c = app.add_subcommand(
      "features", "drivers and their attributes, and what each frontend supports here");
  c->add_flag("--json", *json, "machine-readable output");
  c->callback([json] {
    if (int rc = run_features(*json); rc != 0) throw CLI::RuntimeError(rc);
  });
}

const CommandRegistrar registrar(40, setup);

}  // namespace

FeatureSectionRegistrar::FeatureSectionRegistrar(FeatureSection section) {
  sections().push_back(std::move(section));
}

}  // namespace mqblk::cli
