// `mqblk add/del/list/recover`: the ublk verbs, named and flagged as ublksrv has
// them. Parsing only; the work is in src/ublk/commands.cpp.
#include <cstdio>
#include <memory>
#include <string>

#include "cli/command.hpp"
#include "cli/features.hpp"
#include "ublk/commands.hpp"

namespace mqblk::cli {
namespace {

void run(int rc) {
  if (rc != 0) throw CLI::RuntimeError(rc);
}

// A number option that was given must be >= min (CLI11 would take -3 as "not given", the
// -1 default): one line naming the option and what it takes.
void require_at_least(const CLI::App& c, const char* opt, int value, int min, const char* what) {
  if (c.count(opt) == 0 || value >= min) return;
  std::fprintf(stderr, "mqblk: %s %d: %s\n", opt, value, what);
  throw CLI::RuntimeError(1);
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
                  "1: the device survives its server's death (I/O waits); see `recover`");
    c->add_option("-i,--recovery-reissue", opts->reissue,
                  "1: as -r 1, and requests in flight at the death go to the next server "
                  "(drivers with idempotent writes)");
    c->add_option("-e,--recovery-fail-io", opts->fail_io,
                  "1: as -r 1, but I/O fails while no server runs (kernels with "
                  "USER_RECOVERY_FAIL_IO)");
    c->add_flag("--unprivileged", opts->unprivileged,
                "a device owned by the calling (non-root) user: UBLK_F_UNPRIVILEGED_DEV");
    c->add_flag("--foreground", opts->foreground, "serve in this process until SIGINT/SIGTERM");
    c->add_option("--copy", opts->copy,
                  "data path: auto (USER_COPY when the kernel has it), user, mapped");
    c->add_option("driver", *positional, "DRIVER [key=value ...]")->required();
    c->allow_extras(false);
    c->callback([c, opts, positional] {
      require_at_least(*c, "-n", opts->id, 0, "a device id is 0 or more");
      require_at_least(*c, "-q", opts->queues, 1, "the number of queues is 1 or more");
      require_at_least(*c, "-d", opts->depth, 1, "the queue depth is 1 or more");
      DriverArgs d = split_driver_args(*positional);
      opts->driver = d.driver;
      opts->attrs = d.attrs;
      run(ublk::cmd_add(*opts));
    });
  }
  {
    auto id = std::make_shared<int>(-1);
    auto all = std::make_shared<bool>(false);
    auto force = std::make_shared<bool>(false);
    auto* c = app.add_subcommand(
        "del", "stop and delete a ublk device; every in-flight request is ended first");
    c->add_option("-n,--number", *id, "device id");
    c->add_flag("-a,--all", *all, "every device mqblk created");
    c->add_flag("--force", *force, "delete it even while a file system on it is mounted");
    c->callback([c, id, all, force] {
      require_at_least(*c, "-n", *id, 0, "a device id is 0 or more");
      run(ublk::cmd_del(*id, *all, *force));
    });
  }
  {
    auto id = std::make_shared<int>(-1);
    auto json = std::make_shared<bool>(false);
    auto* c =
        app.add_subcommand("list",
                           "served devices: NBD servers (id, URI, pid, driver, attributes) and "
                           "ublk devices (state, queues, depth, driver, pid, in-flight)");
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
  {
    auto name = std::make_shared<std::string>();
    auto* c = app.add_subcommand(
        "chown-dev",
        "udev's action for an unprivileged device: hand /dev/NAME (ublkcN, ublkbN) to its owner");
    c->add_option("name", *name, "ublkcN or ublkbN (udev's %k)")->required();
    c->callback([name] { run(ublk::cmd_chown_dev(*name)); });
  }
}

const CommandRegistrar registrar(30, setup);
// `mqblk features` reports the kernel's ublk features.
const FeatureSectionRegistrar features_section(FeatureSection{"ublk", &ublk::kernel_features_json,
                                                              &ublk::print_kernel_features});

}  // namespace
}  // namespace mqblk::cli
