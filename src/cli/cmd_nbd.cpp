// `mqblk nbd [options] DRIVER [key=value ...]`: serve a device to NBD clients.
#include <cstdlib>
#include <memory>
#include <string>

#include "cli/command.hpp"
#include "nbd/server.hpp"

namespace mqblk::cli {
namespace {

struct NbdArgs {
  nbd::ServerOptions opt;
  std::string tls = "off";
  std::vector<std::string> positional;
};

void run(NbdArgs& a) {
  DriverArgs d = split_driver_args(a.positional);
  a.opt.driver = d.driver;
  a.opt.attrs = d.attrs;
  if (a.tls == "off") {
    a.opt.tls = nbd::TlsMode::off;
  } else if (a.tls == "on") {
    a.opt.tls = nbd::TlsMode::on;
  } else if (a.tls == "require") {
    a.opt.tls = nbd::TlsMode::require;
  } else {
    fail("--tls=" + a.tls + ": say off, on (clients choose) or require", 1);
  }
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

// A number of seconds for the timeouts: 0 (never) to a day, fractions allowed.
CLI::Validator seconds_check() {
  return CLI::Validator(
      [](std::string& v) -> std::string {
        char* end = nullptr;
        const double d = std::strtod(v.c_str(), &end);
        if (v.empty() || *end != '\0' || !(d >= 0 && d <= 86400))
          return "'" + v + "' is not a number of seconds from 0 (never) to 86400";
        return {};
      },
      "SECONDS");
}

CommandRegistrar reg(20, [](CLI::App& app) {
  auto a = std::make_shared<NbdArgs>();
  auto* s = app.add_subcommand("nbd", "serve a device over NBD (Unix socket or TCP)");
  s->add_option("--socket,-U", a->opt.socket_path,
                "listen on this Unix socket path; - : a private socket in a fresh temporary "
                "directory (for --run or --print-uri), removed when the server stops");
  s->add_option("--listen", a->opt.listen,
                "listen on TCP HOST:PORT ([::1]:PORT for IPv6; default 127.0.0.1:10809)");
  s->add_option("--name", a->opt.name, "export name (the default export \"\" always matches)");
  s->add_option("--description", a->opt.description, "export description for clients");
  s->add_flag("--readonly,-r", a->opt.read_only, "refuse writes, advertise a read-only export");
  s->add_flag("--foreground,-f", a->opt.foreground,
              "do not fork into the background (there, the server says its URI and pid on "
              "stderr)");
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
  s->add_option("--handshake-timeout", a->opt.handshake_timeout_s,
                "close a connection that has not finished its handshake after this many "
                "seconds (0 = never)")
      ->capture_default_str()
      ->check(seconds_check());
  s->add_option("--stall-timeout", a->opt.stall_timeout_s,
                "close a connection that holds a payload or unread replies and moves no byte "
                "for this many seconds (0 = never)")
      ->capture_default_str()
      ->check(seconds_check());
  s->add_option("--tls", a->tls,
                "off, on (clients may upgrade with NBD_OPT_STARTTLS) or require (every "
                "client must)")
      ->capture_default_str();
  s->add_option("--tls-certificates", a->opt.tls_options.certificates_dir,
                "TLS with X.509: DIR holds ca-cert.pem, server-cert.pem, server-key.pem");
  s->add_option("--tls-psk", a->opt.tls_options.psk_file,
                "TLS with pre-shared keys: FILE in psktool's format (identity:hexkey lines)");
  s->add_flag("--tls-verify-peer", a->opt.tls_options.verify_peer,
              "X.509: require a client certificate signed by DIR/ca-cert.pem");
  // Not ->required(): split_driver_args() gives the one-line error instead of CLI11's two.
  s->add_option("driver", a->positional,
                "DRIVER [key=value ...], e.g. null size=1G memory_backed=1");
  s->callback([a] { run(*a); });
});

}  // namespace
}  // namespace mqblk::cli
