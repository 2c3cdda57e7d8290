// cli/features.hpp - `mqblk features`: the drivers' registrations, and a section per
// frontend that has something to report (ublk: the kernel's features). A frontend's
// cmd_*.cpp registers its section; a build without that frontend says so instead.
#pragma once

#include <functional>
#include <nlohmann/json.hpp>
#include <string>

namespace mqblk::cli {

struct FeatureSection {
  std::string name;                                  // the key in --json, e.g. "ublk"
  std::function<nlohmann::json()> probe;             // what it reports (runs once)
  std::function<void(const nlohmann::json&)> print;  // the text form of probe()'s result
};

struct FeatureSectionRegistrar {
  explicit FeatureSectionRegistrar(FeatureSection section);
};

}  // namespace mqblk::cli
