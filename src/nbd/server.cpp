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
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "mqblk/registry.hpp"
#include "nbd/errors.hpp"
#include "nbd/export.hpp"
#include "nbd/io_thread.hpp"
#include "nbd/listener.hpp"

namespace mqblk::nbd {

namespace {

void check_options(const ServerOptions& o) {
  if (!o.socket_path.empty() && !o.listen.empty()) {
    fail("--socket and --listen both given: choose one");
  }
  if (o.name.size() > 4096) fail("--name is longer than 4096 bytes (the NBD limit): shorten it");
  if (o.description.size() > 4096) fail("--description is longer than 4096 bytes: shorten it");
  if (o.driver.empty()) fail("no driver given: name one after the options, e.g. `null size=1G`");
}

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

// A private directory for the socket of a --run server given no address.
struct TempDir {
  std::string path;
  ~TempDir() {
    if (!path.empty()) ::rmdir(path.c_str());
  }
};

}  // namespace

int run_server(const ServerOptions& opt) {
  check_options(opt);
  const bool background = !opt.foreground && opt.run.empty() && !opt.exit_with_parent;
  pid_t parent = ::getppid();
  if (opt.exit_with_parent) ::prctl(PR_SET_PDEATHSIG, SIGTERM);

  // Signals go to a signalfd read by this thread; the mask is set before any thread is
  // created so that every thread inherits it.
  sigset_t mask;
  sigemptyset(&mask);
  sigaddset(&mask, SIGINT);
  sigaddset(&mask, SIGTERM);
  sigaddset(&mask, SIGCHLD);
  ::signal(SIGPIPE, SIG_IGN);

  int ready_fd = -1;
  if (background) ready_fd = daemonize();  // before any thread exists
  ::pthread_sigmask(SIG_BLOCK, &mask, nullptr);
  int sfd = ::signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
  if (sfd < 0) fail("signalfd: " + errno_text());

  auto dev = make_device(opt.driver, opt.attrs);
  std::string why = dev->limits().validate();
  if (!why.empty()) fail("device limits: " + why);
  const ExportInfo exp =
      ExportInfo::from_limits(dev->limits(), opt.name, opt.description, opt.read_only);

  TempDir tmp;
  std::optional<Listener> l;
  if (!opt.socket_path.empty()) {
    l.emplace(Listener::unix_socket(opt.socket_path));
  } else if (!opt.listen.empty()) {
    l.emplace(Listener::tcp(parse_listen(opt.listen)));
  } else if (!opt.run.empty()) {
    char dir[] = "/tmp/mqblk-nbdXXXXXX";
    if (!::mkdtemp(dir)) fail("mkdtemp: " + errno_text());
    tmp.path = dir;
    l.emplace(Listener::unix_socket(tmp.path + "/sock"));
  } else {
    l.emplace(Listener::tcp(ListenAddress{"", "10809"}));
  }
  const std::string uri = l->uri(opt.name);

  std::vector<std::unique_ptr<IoThread>> threads;
  for (unsigned q = 0; q < dev->nr_hw_queues(); q++) {
    threads.push_back(std::make_unique<IoThread>(*dev, exp, q, opt.poll_us));
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
  if (ready_fd >= 0) {
    detach_stdio();
    (void)!::write(ready_fd, "R", 1);
    ::close(ready_fd);
  }

  pid_t child = -1;
  int exit_code = 0;
  if (!opt.run.empty()) child = spawn_run(opt.run, *l, uri);
  if (opt.exit_with_parent && ::getppid() != parent) goto shutdown;

  {
    unsigned next = 0;
    pollfd pf[2] = {{l->fd(), POLLIN, 0}, {sfd, POLLIN, 0}};
    for (;;) {
      int n = ::poll(pf, 2, -1);
      if (n < 0 && errno != EINTR) break;
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
      if (pf[0].revents & POLLIN) {
        for (;;) {
          int c = ::accept4(l->fd(), nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
          if (c < 0) break;
          if (l->is_tcp()) {
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
    }
  }

shutdown:
  // Stop accepting (and remove the socket file) first, then let each thread answer what
  // is in flight and close its connections, then tear the device down.
  l->close();
  for (auto& t : threads) t->stop();
  for (auto& t : threads) t->join();
  threads.clear();
  dev->shutdown();
  if (child > 0) {
    ::kill(child, SIGTERM);
    int st = 0;
    ::waitpid(child, &st, 0);
  }
  if (!opt.pidfile.empty()) ::unlink(opt.pidfile.c_str());
  ::close(sfd);
  return exit_code;
}

}  // namespace mqblk::nbd
