// `mqblk list [--json]` in a build without the ublk frontend (the sanitizer builds): the
// NBD servers' records only. With ublk, cmd_ublk.cpp's list shows these and ublk devices.
#include <cstdio>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "cli/command.hpp"
#include "control/control_server.hpp"

namespace mqblk::cli {
namespace {

CommandRegistrar reg(30, [](CLI::App& app) {
  auto json = std::make_shared<bool>(false);
  auto* c = app.add_subcommand(
      "list",
      "served devices: NBD servers (id, URI, pid, driver, attributes); this build has no ublk");
  c->add_flag("--json", *json, "machine-readable output");
  c->callback([json] {
    nlohmann::json out = nlohmann::json::array();
    for (const auto& r : control::nbd_records())
      out.push_back({{"id", r.id},
                     {"kind", "nbd"},
                     {"uri", r.uri},
                     {"pid", r.pid},
                     {"driver", r.driver},
                     {"attributes", r.attrs}});
    if (*json) {
      std::printf("%s\n", out.dump(2).c_str());
      return;
    }
    for (const auto& d : out) {
      std::string attrs;
      for (const auto& a : d["attributes"]) attrs += " " + a.get<std::string>();
      std::printf("nbd %s: %s, pid %d, %s%s\n", d["id"].get<std::string>().c_str(),
                  d["uri"].get<std::string>().c_str(), d["pid"].get<int>(),
                  d["driver"].get<std::string>().c_str(), attrs.c_str());
    }
  });
});

}  // namespace
}  // namespace mqblk::cli
