// `mqblk nbd [options] DRIVER [key=value ...]`: serve a device to NBD clients.
#include <memory>

#include "cli/command.hpp"
#include "nbd/server.hpp"

namespace mqblk::cli {
namespace {

struct NbdArgs {
  nbd::ServerOptions opt;
  std::vector<std::string> positional;
};

void run(NbdArgs& a) {
  DriverArgs d = split_driver_args(a.positional);
  a.opt.driver = d.driver;
  a.opt.attrs = d.attrs;
  int code = 0;
  try {
    code = nbd::run_server(a.opt);
  } catch (const CLI::RuntimeError&) {
    throw;
  } catch (const std::exception& e) {
    fail(e.what(), 1);
  }
  if (code != 0) throw CLI::RuntimeError(code);
}

CommandRegistrar reg(20, [](CLI::App& app) {
  auto a = std::make_shared<NbdArgs>();
  auto* s = app.add_subcommand("nbd", "serve a device over NBD (Unix socket or TCP)");
  s->add_option("--socket,-U", a->opt.socket_path, "listen on this Unix socket path");
  s->add_option("--listen", a->opt.listen,
                "listen on TCP HOST:PORT ([::1]:PORT for IPv6; default 127.0.0.1:10809)");
  s->add_option("--name", a->opt.name, "export name (the default export \"\" always matches)");
  s->add_option("--description", a->opt.description, "export description for clients");
  s->add_flag("--readonly,-r", a->opt.read_only, "refuse writes, advertise a read-only export");
  s->add_flag("--foreground,-f", a->opt.foreground, "do not fork into the background");
  s->add_option("--run", a->opt.run,
                "run CMD with $uri, $unixsocket/$port set, exit with its status when it ends");
  s->add_flag("--exit-with-parent", a->opt.exit_with_parent,
              "exit when the parent process exits (implies --foreground)");
  s->add_flag("--print-uri", a->opt.print_uri, "print the NBD URI once listening");
  s->add_option("--poll-us", a->opt.poll_us,
                "after the last request, poll the sockets this many microseconds before "
                "sleeping (lower latency for a core's CPU while busy; 0 = never poll)")
      ->capture_default_str()
      ->check(CLI::Range(0u, 1000000u));
  s->add_option("--pidfile,-P", a->opt.pidfile, "write the server's pid here once listening");
  // Not ->required(): split_driver_args() gives the one-line error instead of CLI11's two.
  s->add_option("driver", a->positional,
                "DRIVER [key=value ...], e.g. null size=1G memory_backed=1");
  s->callback([a] { run(*a); });
});

}  // namespace
}  // namespace mqblk::cli
