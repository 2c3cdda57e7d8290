// `mqblk set ID key=value ...` and `mqblk get ID [KEY] [--json]`: a running device's live
// attributes (badblocks, fault and error injection, mbps, power, the driver's live ones),
// through its control socket (control/control_server.hpp). ID: nbdN (mqblk list), or a
// ublk device's number.
#include <cstdio>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "cli/command.hpp"
#include "control/control_client.hpp"

namespace mqblk::cli {
namespace {

nlohmann::json ask(const std::string& id, const nlohmann::json& req) {
  std::string line;
  try {
    line = control::request(id, req.dump());
  } catch (const std::exception& e) {
    fail(e.what(), 1);
  }
  nlohmann::json reply = nlohmann::json::parse(line, nullptr, false);
  if (reply.is_discarded() || !reply.is_object())
    fail("device " + id + ": malformed reply from its server", 1);
  if (!reply.value("ok", false)) fail(reply.value("error", std::string("refused")), 2);
  return reply;
}

void print_attrs(const nlohmann::json& attrs, const std::string& key, bool json) {
  nlohmann::json obj = nlohmann::json::object();
  for (const auto& kv : attrs) obj[kv[0].get<std::string>()] = kv[1];
  if (!key.empty()) {
    if (!obj.contains(key)) fail("no attribute '" + key + "' (`mqblk get ID` lists them)", 2);
    if (json)
      std::printf("%s\n", nlohmann::json{{key, obj[key]}}.dump().c_str());
    else
      std::printf("%s\n", obj[key].get<std::string>().c_str());
    return;
  }
  if (json) {
    std::printf("%s\n", obj.dump(2).c_str());
    return;
  }
  for (const auto& kv : attrs)
    std::printf("%s=%s\n", kv[0].get<std::string>().c_str(), kv[1].get<std::string>().c_str());
}

CommandRegistrar reg(35, [](CLI::App& app) {
  {
    auto id = std::make_shared<std::string>();
    auto items = std::make_shared<std::vector<std::string>>();
    auto* c = app.add_subcommand(
        "set",
        "change a running device's live attributes (badblocks, faults, mbps, power...); the "
        "whole set is checked first, a bad item changes nothing");
    c->add_option("id", *id, "the device: nbdN or a ublk device number (see mqblk list)")
        ->required();
    c->add_option("items", *items, "key=value ...")->required();
    c->callback([id, items] { (void)ask(*id, {{"op", "set"}, {"items", *items}}); });
  }
  {
    auto id = std::make_shared<std::string>();
    auto key = std::make_shared<std::string>();
    auto json = std::make_shared<bool>(false);
    auto* c = app.add_subcommand("get", "a running device's attributes and state");
    c->add_option("id", *id, "the device: nbdN or a ublk device number (see mqblk list)")
        ->required();
    c->add_option("key", *key, "only this attribute");
    c->add_flag("--json", *json, "machine-readable output");
    c->callback([id, key, json] { print_attrs(ask(*id, {{"op", "get"}})["attrs"], *key, *json); });
  }
});

}  // namespace
}  // namespace mqblk::cli
