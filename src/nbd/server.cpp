#include "nbd/server.hpp"

#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "control/control_server.hpp"
#include "mqblk/detail/clock.hpp"
#include "mqblk/registry.hpp"
#include "nbd/errors.hpp"
#include "nbd/export.hpp"
#include "nbd/io_thread.hpp"
#include "nbd/listener.hpp"
#include "nbd/tls.hpp"

namespace mqblk::nbd {

namespace {

void check_options(const ServerOptions& o) {
  if (!o.socket_path.empty() && !o.listen.empty()) {
    fail("--socket and --listen both given: choose one");
  }
  if (o.name.size() > 4096) fail("--name is longer than 4096 bytes (the NBD limit): shorten it");
  if (o.description.size() > 4096) fail("--description is longer than 4096 bytes: shorten it");
  // (Negated comparisons: NaN fails them too.)
  if (!(o.handshake_timeout_s >= 0 && o.handshake_timeout_s <= 86400))
    fail("--handshake-timeout must be 0 (never) or up to 86400 seconds");
  if (!(o.stall_timeout_s >= 0 && o.stall_timeout_s <= 86400))
    fail("--stall-timeout must be 0 (never) or up to 86400 seconds");
}

int64_t seconds_to_ns(double s) { return static_cast<int64_t>(s * 1e9); }

// Accepts every connection waiting on the listener and hands each to an I/O thread.
// Returns false when the process is out of descriptors (EMFILE, ENFILE) or the kernel out
// of memory for sockets: the caller then stops polling the listener for a while, as the
// pending connection would otherwise wake poll() again at once, and says so once.
bool accept_all(const Listener& l, std::vector<std::unique_ptr<IoThread>>& threads,
                unsigned& next) {
  for (;;) {
    int c = ::accept4(l.fd(), nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (c < 0) {
      return !(errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM);
    }
    if (l.is_tcp()) {
      int one = 1;
      ::setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    } else {
      // A Unix socket's send buffer (default about 208 KiB) bounds the replies queued
      // to the client: 8 x 64 KiB reads in flight would stall on EAGAIN and come back
      // through EPOLLOUT. The kernel caps this at net.core.wmem_max. (TCP keeps its
      // autotuning.)
      int sz = 2 << 20;
      ::setsockopt(c, SOL_SOCKET, SO_SNDBUF, &sz, sizeof sz);
    }
    threads[next++ % threads.size()]->add_connection(c);
  }
}

// How long the listener rests after running out of descriptors before it tries again.
constexpr int kAcceptBackoffMs = 100;

// Forks; the parent waits until the child is serving (or failed) and exits with its
// verdict, so that `mqblk nbd ... && client` works without polling for the socket.
// Returns the write end of the readiness pipe in the child.
int daemonize() {
  int p[2];
  if (::pipe2(p, O_CLOEXEC) != 0) fail("pipe: " + errno_text());
  pid_t pid = ::fork();
  if (pid < 0) fail("fork: " + errno_text());
  if (pid > 0) {
    ::close(p[1]);
    char c = 0;
    ssize_t n;
    do n = ::read(p[0], &c, 1);
    while (n < 0 && errno == EINTR);
    if (n == 1) std::_Exit(0);
    int st = 0;
    ::waitpid(pid, &st, 0);
    std::_Exit(WIFEXITED(st) ? WEXITSTATUS(st) : 1);
  }
  ::close(p[0]);
  ::setsid();
  return p[1];
}

void detach_stdio() {
  int devnull = ::open("/dev/null", O_RDWR | O_CLOEXEC);
  if (devnull < 0) return;
  ::dup2(devnull, 0);
  ::dup2(devnull, 1);
  ::dup2(devnull, 2);
  ::close(devnull);
}

// The I/O threads run by now, so the child may only make async-signal-safe calls between
// fork and exec: its environment and arguments are built before the fork.
pid_t spawn_run(const std::string& cmd, const Listener& l, const std::string& uri) {
  std::vector<std::string> env;
  for (char** e = environ; *e; ++e) {
    const std::string_view kv(*e);
    auto is = [&](std::string_view k) {
      return kv.size() > k.size() && kv.substr(0, k.size()) == k && kv[k.size()] == '=';
    };
    if (!is("uri") && !is("nbd") && !is("unixsocket") && !is("port")) env.emplace_back(kv);
  }
  env.push_back("uri=" + uri);
  env.push_back("nbd=" + uri);
  if (l.is_unix())
    env.push_back("unixsocket=" + l.path());
  else
    env.push_back("port=" + std::to_string(l.port()));
  std::vector<char*> envp;
  envp.reserve(env.size() + 1);
  for (std::string& kv : env) envp.push_back(kv.data());
  envp.push_back(nullptr);
  std::string sh = "sh", dash_c = "-c", command = cmd;
  char* argv[] = {sh.data(), dash_c.data(), command.data(), nullptr};
  static constexpr char kExecFailed[] = "mqblk: --run: cannot execute /bin/sh\n";

  pid_t pid = ::fork();
  if (pid < 0) fail("--run: fork: " + errno_text());
  if (pid == 0) {
    sigset_t none;
    sigemptyset(&none);
    ::pthread_sigmask(SIG_SETMASK, &none, nullptr);
    ::signal(SIGPIPE, SIG_DFL);
    ::execve("/bin/sh", argv, envp.data());
    (void)!::write(2, kExecFailed, sizeof kExecFailed - 1);
    std::_Exit(127);
  }
  return pid;
}

// A private directory for the socket of `--socket -` (nbdkit's `-U -`), and of a --run
// server given no address; removed when the server stops (the listener removes the socket
// and its lock file first).
struct TempDir {
  std::string path;
  ~TempDir() {
    if (!path.empty()) ::rmdir(path.c_str());
  }
};

// A fresh directory only this user can enter, in $TMPDIR (else /tmp), as mkdtemp makes it.
std::string make_private_dir() {
  const char* env = std::getenv("TMPDIR");  // NOLINT(concurrency-mt-unsafe)
  std::string base = env && *env ? env : "/tmp";
  while (base.size() > 1 && base.back() == '/') base.pop_back();
  std::string dir = base + "/mqblk-nbdXXXXXX";
  if (!::mkdtemp(dir.data()))
    fail("cannot make a private directory for the socket in " + base + ": " + errno_text() +
         " (set TMPDIR to a writable directory)");
  return dir;
}

// The signals that stop the server go to a signalfd read by the serving thread; they are
// blocked before any of the server's threads is created, so that every thread inherits
// the mask. They stay blocked after the server returns: one that came during the stop
// (a second Ctrl-C) would otherwise kill the process that just stopped in order.
struct StopSignals {
  sigset_t mask;
  int sfd = -1;

  StopSignals() {
    sigemptyset(&mask);
    sigaddset(&mask, SIGINT);
    sigaddset(&mask, SIGTERM);
    sigaddset(&mask, SIGCHLD);
  }
  void block() {
    ::pthread_sigmask(SIG_BLOCK, &mask, nullptr);
    sfd = ::signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
    if (sfd < 0) fail("signalfd: " + errno_text());
  }
  ~StopSignals() {
    if (sfd >= 0) ::close(sfd);
  }
  StopSignals(const StopSignals&) = delete;
  StopSignals& operator=(const StopSignals&) = delete;
};

using detail::now_ns;

// The last resort of a stop: the driver still holds requests, so it may still write into
// their payload buffers (the I/O threads' pools) and into the device's memory. Running
// the destructors would free both under it; the process leaves without them instead,
// after the cleanup that frees nothing a driver can reach.
[[noreturn]] void give_up_on_driver(const BlockDevice& dev, int64_t stop_began_ns,
                                    const ServerOptions& opt, pid_t child, const TempDir& tmp) {
  if (child > 0) ::kill(child, SIGTERM);
  if (!opt.pidfile.empty()) ::unlink(opt.pidfile.c_str());
  if (!tmp.path.empty()) ::rmdir(tmp.path.c_str());  // its socket is gone already
  exit_with_requests_held(dev, "mqblk", stop_began_ns, nullptr);
}

constexpr const char* kNoZones =
    "a zoned device (zoned=1) cannot be served over NBD, which has no zone commands (serve it "
    "with `mqblk add` over ublk, or drop zoned=1)";

// Serves dev until told to stop. sig: blocked already; ready_fd: the background parent's
// readiness pipe (-1: none); parent: the parent's pid when the server started.
int serve(const ServerOptions& opt, BlockDevice& dev, bool fills_read_buffers,
          const StopSignals& sig, int ready_fd, pid_t parent) {
  const int sfd = sig.sfd;
  std::string why = dev.limits().validate();
  if (!why.empty()) fail("device limits: " + why);
  if (dev.limits().zoned != ZonedModel::none) fail(kNoZones);
  ExportInfo exp = ExportInfo::from_limits(dev.limits(), opt.name, opt.description, opt.read_only);
  // Credentials are loaded (and checked) before anything listens; they outlive the threads.
  std::unique_ptr<TlsServer> tls;
  if (opt.tls != TlsMode::off) {
    tls = std::make_unique<TlsServer>(opt.tls_options);
    exp.tls = opt.tls;
    exp.tls_server = tls.get();
  } else if (!opt.tls_options.certificates_dir.empty() || !opt.tls_options.psk_file.empty() ||
             opt.tls_options.verify_peer) {
    fail("--tls-certificates, --tls-psk and --tls-verify-peer need --tls=on or --tls=require");
  }

  TempDir tmp;
  std::optional<Listener> l;
  if (opt.socket_path == kPrivateSocket ||
      (opt.socket_path.empty() && opt.listen.empty() && !opt.run.empty())) {
    tmp.path = make_private_dir();
    l.emplace(Listener::unix_socket(tmp.path + "/sock"));
  } else if (!opt.socket_path.empty()) {
    l.emplace(Listener::unix_socket(opt.socket_path));
  } else if (!opt.listen.empty()) {
    l.emplace(Listener::tcp(parse_listen(opt.listen)));
  } else {
    l.emplace(Listener::tcp(ListenAddress{"", "10809"}));
  }
  std::string uri = l->uri(opt.name);
  if (opt.tls == TlsMode::require) uri.insert(3, "s");  // nbds:// or nbds+unix://
  if (l->is_tcp() && !l->is_loopback() && opt.tls == TlsMode::off) {
    std::fprintf(stderr,
                 "mqblk: warning: listening on %s without TLS: anyone who can reach it can "
                 "read and write the export; bind 127.0.0.1 or [::1] to keep it local\n",
                 uri.c_str());
  }

  ConnPolicy policy;
  policy.handshake_timeout_ns = seconds_to_ns(opt.handshake_timeout_s);
  policy.stall_timeout_ns = seconds_to_ns(opt.stall_timeout_s);
  policy.zero_reads = !fills_read_buffers;
  std::vector<std::unique_ptr<IoThread>> threads;
  for (unsigned q = 0; q < dev.nr_hw_queues(); q++) {
    threads.push_back(std::make_unique<IoThread>(dev, exp, policy, q, opt.poll_us));
  }

  if (!opt.pidfile.empty()) {
    FILE* f = std::fopen(opt.pidfile.c_str(), "w");
    if (!f) fail("--pidfile " + opt.pidfile + ": " + errno_text() + ": check the directory");
    std::fprintf(f, "%d\n", static_cast<int>(::getpid()));
    std::fclose(f);
  }
  if (opt.print_uri) {
    std::printf("%s\n", uri.c_str());
    std::fflush(stdout);
  }
  // A server in the background, or on a private socket nobody was told of, says where it
  // serves and how to stop it, before its stdio goes.
  const bool told = opt.print_uri || !opt.run.empty();
  if (ready_fd >= 0 || (!tmp.path.empty() && !told)) {
    const int pid = static_cast<int>(::getpid());
    std::fprintf(stderr, "mqblk: serving %s as pid %d (stop it with: kill %d)\n", uri.c_str(), pid,
                 pid);
    std::fflush(stderr);
  }
  if (ready_fd >= 0) {
    detach_stdio();
    (void)!::write(ready_fd, "R", 1);
    ::close(ready_fd);
  }

  // `mqblk set/get nbdN` and `mqblk list`: live control while it serves.
  std::unique_ptr<control::ControlServer> live;
  try {
    std::string driver = opt.driver;
    if (driver.empty()) driver = dev.describe().substr(0, dev.describe().find(' '));
    live = std::make_unique<control::ControlServer>(
        dev, control::claim_nbd_id(), control::ServedInfo{"nbd", uri, driver, opt.attrs, true});
  } catch (const std::exception& e) {
    std::fprintf(stderr, "mqblk: warning: no live control for this server: %s\n", e.what());
  }

  pid_t child = -1;
  int exit_code = 0;
  if (!opt.run.empty()) child = spawn_run(opt.run, *l, uri);
  // A parent that died before the death signal was armed is noticed here.
  const bool orphaned = opt.exit_with_parent && ::getppid() != parent;
  if (!orphaned) {
    unsigned next = 0;
    pollfd pf[3] = {{l->fd(), POLLIN, 0}, {sfd, POLLIN, 0}, {opt.stop_fd, POLLIN, 0}};
    const nfds_t npf = opt.stop_fd >= 0 ? 3 : 2;
    // Out of descriptors: the listener is left out of poll() until retry_at, then tried.
    int64_t retry_at = 0;
    bool said = false;  // the shortage was said on stderr since the backlog last drained
    for (;;) {
      int wait_ms = -1;
      if (retry_at != 0)
        wait_ms = static_cast<int>(std::max<int64_t>(0, retry_at - now_ns()) / 1000000 + 1);
      int n = ::poll(pf, npf, wait_ms);
      if (n < 0 && errno != EINTR) break;
      if (retry_at != 0 && now_ns() >= retry_at) {
        retry_at = 0;
        pf[0].fd = l->fd();
        pf[0].revents = POLLIN;  // try again now
      }
      if (npf == 3 && (pf[2].revents & (POLLIN | POLLHUP | POLLERR))) break;
      if (pf[1].revents & POLLIN) {
        signalfd_siginfo si;
        bool stop = false;
        while (::read(sfd, &si, sizeof si) == sizeof si) {
          if (si.ssi_signo == SIGCHLD) {
            int st = 0;
            if (child > 0 && ::waitpid(child, &st, WNOHANG) == child) {
              exit_code = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
              child = -1;
              stop = true;
            }
          } else {
            stop = true;
          }
        }
        if (stop) break;
      }
      if (retry_at == 0 && (pf[0].revents & POLLIN)) {
        if (accept_all(*l, threads, next)) {
          said = false;  // caught up: a new shortage is said again
        } else {
          const std::string why = errno_text();
          retry_at = now_ns() + int64_t{kAcceptBackoffMs} * 1000000;
          pf[0].fd = -1;  // poll() ignores it until then
          if (!said) {
            said = true;
            std::fprintf(stderr,
                         "mqblk: out of file descriptors (%s): new connections wait until "
                         "some close; raise the limit (ulimit -n) to serve more at once\n",
                         why.c_str());
          }
        }
      }
    }
  }

  // Stop accepting (and remove the socket file) first, then let each thread answer what
  // is in flight and close its connections, then tear the device down.
  const int64_t stop_began = now_ns();
  l->close();
  for (auto& t : threads) t->stop();
  // The threads are done once every request they submitted came back. A request the
  // driver has not ended by the time clients are cut off (kStopGraceNs) is cancelled, and
  // the driver gets held_wait_ns to let go of it (until then its payload buffer, in the
  // thread's pool, stays where it is). The reaping goes on in the threads meanwhile.
  const auto threads_by =
      std::chrono::steady_clock::now() + std::chrono::nanoseconds(kStopGraceNs + 1'000'000'000);
  // (Threads that are done leave nothing in the engine, and shutdown_within returns at
  // once; it still bounds the wait of a thread that ended early, on an epoll failure.)
  for (auto& t : threads) (void)t->wait_finished(threads_by);
  if (!dev.shutdown_within(opt.held_wait_ns)) give_up_on_driver(dev, stop_began, opt, child, tmp);
  for (auto& t : threads) t->join();
  threads.clear();
  if (child > 0) {
    ::kill(child, SIGTERM);
    int st = 0;
    ::waitpid(child, &st, 0);
  }
  if (!opt.pidfile.empty()) ::unlink(opt.pidfile.c_str());
  return exit_code;
}

}  // namespace

int run_server(const ServerOptions& opt) {
  check_options(opt);
  if (opt.driver.empty()) fail("no driver given: name one after the options, e.g. `null size=1G`");
  // NBD has no zones: a zoned device is refused before anything is created or forked.
  if (plan_device(opt.driver, opt.attrs).limits.zoned != ZonedModel::none) fail(kNoZones);
  const bool background = !opt.foreground && opt.run.empty() && !opt.exit_with_parent;
  pid_t parent = ::getppid();
  if (opt.exit_with_parent) ::prctl(PR_SET_PDEATHSIG, SIGTERM);
  ::signal(SIGPIPE, SIG_IGN);

  StopSignals sig;
  int ready_fd = -1;
  if (background) ready_fd = daemonize();  // before any thread exists
  sig.block();
  const bool fills = plan_device(opt.driver, opt.attrs).fills_read_buffers;
  std::shared_ptr<BlockDevice> dev = make_device(opt.driver, opt.attrs);
  return serve(opt, *dev, fills, sig, ready_fd, parent);
}

int serve_device(const ServerOptions& opt, std::shared_ptr<BlockDevice> dev) {
  check_options(opt);
  if (!dev) fail("serve_device: no device given");
  if (!opt.foreground && opt.run.empty() && !opt.exit_with_parent)
    fail(
        "serve_device cannot fork into the background (the device's threads exist): ask for "
        "foreground");
  pid_t parent = ::getppid();
  if (opt.exit_with_parent) ::prctl(PR_SET_PDEATHSIG, SIGTERM);
  ::signal(SIGPIPE, SIG_IGN);
  StopSignals sig;
  sig.block();
  // The server's own reference: the device lives while the I/O threads use it, whatever
  // the caller does with its copies meanwhile.
  const std::shared_ptr<BlockDevice> served = std::move(dev);
  return serve(opt, *served, opt.device_fills_read_buffers, sig, -1, parent);
}

}  // namespace mqblk::nbd
