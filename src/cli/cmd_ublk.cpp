// `mqblk add/del/list/recover`: the ublk verbs, named and flagged as ublksrv has
// them. Parsing only; the work is in src/ublk/commands.cpp.
#include <memory>

#include "cli/command.hpp"
#include "cli/features.hpp"
#include "ublk/commands.hpp"

namespace mqblk::cli {
namespace {

void run(int rc) {
  if (rc != 0) throw CLI::RuntimeError(rc);
}

void setup(CLI::App& app) {
  {
    auto opts = std::make_shared<ublk::AddOptions>();
    auto positional = std::make_shared<std::vector<std::string>>();
    auto* c = app.add_subcommand(
        "add", "create a ublk block device /dev/ublkbN served by an mqblk driver; prints its path");
    c->add_option("-n,--number", opts->id, "device id (default: the kernel picks)");
    c->add_option("-q,--queues", opts->queues, "hardware queues (the driver's submit_queues)");
    c->add_option("-d,--depth", opts->depth, "queue depth (the driver's hw_queue_depth)");
    c->add_option("-r,--recovery", opts->recovery,
                  "1: the device survives its server's death; see `recover`");
    c->add_flag("--foreground", opts->foreground, "serve in this process until SIGINT/SIGTERM");
    c->add_option("--copy", opts->copy,
                  "data path: auto (USER_COPY when the kernel has it), user, mapped");
    c->add_option("driver", *positional, "DRIVER [key=value ...]")->required();
    c->allow_extras(false);
    c->callback([opts, positional] {
      DriverArgs d = split_driver_args(*positional);
      opts->driver = d.driver;
      opts->attrs = d.attrs;
      run(ublk::cmd_add(*opts));
    });
  }
  {
    auto id = std::make_shared<int>(-1);
    auto all = std::make_shared<bool>(false);
    auto* c = app.add_subcommand(
        "del", "stop and delete a ublk device; every in-flight request is ended first");
    c->add_option("-n,--number", *id, "device id");
    c->add_flag("-a,--all", *all, "every device mqblk created");
    c->callback([id, all] { run(ublk::cmd_del(*id, *all)); });
  }
  {
    auto id = std::make_shared<int>(-1);
    auto json = std::make_shared<bool>(false);
    auto* c =
        app.add_subcommand("list", "ublk devices: state, queues, depth, driver, pid, in-flight");
    c->add_option("-n,--number", *id, "only this device");
    c->add_flag("--json", *json, "machine-readable output");
    c->callback([id, json] { run(ublk::cmd_list(*id, *json)); });
  }
  {
    auto id = std::make_shared<int>(-1);
    auto fg = std::make_shared<bool>(false);
    auto* c =
        app.add_subcommand("recover", "serve again a device (added with -r 1) whose server died");
    c->add_option("-n,--number", *id, "device id")->required();
    c->add_flag("--foreground", *fg, "serve in this process");
    c->callback([id, fg] { run(ublk::cmd_recover(*id, *fg)); });
  }
}

const CommandRegistrar registrar(30, setup);
// `mqblk features` reports the kernel's ublk features.
const FeatureSectionRegistrar features_section(FeatureSection{"ublk", &ublk::kernel_features_json,
                                                              &ublk::print_kernel_features});

}  // namespace
}  // namespace mqblk::cli
