// The NBD server's teardown with a driver that holds requests past their timeout: the
// server must not free a payload buffer (nor the device) while the driver can still write
// into it. The driver's worker writes each read's data late, after the engine ended the
// request (timeout, cancel); under ASan a write into a freed buffer, or into one back in
// the payload pool (poisoned there), fails the test.
//
//  (a) stop (SIGTERM, the server in a child process) with reads held: the server waits for
//      the late writes, answers the reads and exits 0;
//  (b) a client disconnects with reads held (the server in a thread, stopped through
//      stop_fd): the server keeps serving another client, and the late writes land in
//      buffers still alive;
//  (c) a driver that never lets go: the server reports the held requests, then leaves with
//      _exit(kExitRequestsHeld) and one line saying so.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <fstream>
#include <memory>
#include <mutex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "mqblk/device.hpp"
#include "nbd/protocol.hpp"
#include "nbd/server.hpp"
#include "nbd/wire.hpp"

#if defined(__SANITIZE_ADDRESS__)
#define TEST_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define TEST_ASAN 1
#endif
#endif
#ifdef TEST_ASAN
#include <sanitizer/lsan_interface.h>
#endif

namespace {

using namespace mqblk;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

constexpr auto kHold = 200ms;                // how long the driver holds each request
constexpr uint64_t kTimeoutNs = 50'000'000;  // the request timeout, well before that
constexpr uint8_t kPattern = 0xa5;           // what the driver writes into a read's buffer
constexpr uint32_t kLen = 4096;

// Holds each request kHold (or, when never, forever) on its own thread, then writes the
// pattern into a read's buffer and ends it. `late` counts the ends that came after the
// engine had ended the request already (end() returned lost): writes into a buffer whose
// submitter was told to wait for them.
class SlowDriver {
 public:
  using Pdu = NoPdu;

  explicit SlowDriver(bool never) : never_(never), worker_([this] { work(); }) {}
  ~SlowDriver() {
    {
      std::lock_guard lk(m_);
      stop_ = true;
    }
    cv_.notify_one();
    worker_.join();
  }
  SlowDriver(const SlowDriver&) = delete;
  SlowDriver& operator=(const SlowDriver&) = delete;

  QueueRqResult<SlowDriver> queue_rq(Hctx<SlowDriver>&, Owned<SlowDriver> rq, bool /*last*/) {
    {
      std::lock_guard lk(m_);
      todo_.push_back({std::move(rq), Clock::now() + hold()});
    }
    received.fetch_add(1);
    cv_.notify_one();
    return QueueRqResult<SlowDriver>::accepted();
  }

  void set_hold(std::chrono::milliseconds h) { hold_ms_.store(h.count()); }

  std::atomic<unsigned> received{0};
  std::atomic<unsigned> written{0};
  std::atomic<unsigned> late{0};

 private:
  struct Held {
    Owned<SlowDriver> rq;
    Clock::time_point due;
  };
  std::chrono::milliseconds hold() const { return std::chrono::milliseconds(hold_ms_.load()); }

  void work() {
    std::unique_lock lk(m_);
    for (;;) {
      cv_.wait(lk, [this] { return stop_ || (!never_ && !todo_.empty()); });
      if (stop_) return;
      // The earliest due first (holds change), rechecked when a new request arrives.
      auto first = std::min_element(todo_.begin(), todo_.end(),
                                    [](const Held& a, const Held& b) { return a.due < b.due; });
      if (Clock::now() < first->due) {
        cv_.wait_until(lk, first->due);
        continue;
      }
      Held h = std::move(*first);
      todo_.erase(first);
      lk.unlock();
      if (h.rq.op() == Op::read) std::memset(h.rq.data(), kPattern, h.rq.bytes());
      written.fetch_add(1);
      if (std::move(h.rq).end(Status::ok) == EndResult::lost) late.fetch_add(1);
      lk.lock();
    }
  }

  const bool never_;
  std::atomic<int64_t> hold_ms_{kHold.count()};
  std::mutex m_;
  std::condition_variable cv_;
  std::deque<Held> todo_;
  bool stop_ = false;
  std::thread worker_;  // last: starts after everything it uses exists
};

std::shared_ptr<Device<SlowDriver>> make_slow_device(bool never,
                                                     uint64_t report_ns = 10'000'000'000,
                                                     uint64_t repeat_ns = 30'000'000'000) {
  TagSetConfig cfg;
  cfg.nr_hw_queues = 1;
  cfg.queue_depth = 16;
  cfg.timeout_ns = kTimeoutNs;
  cfg.hung_report_ns = report_ns;
  cfg.hung_repeat_ns = repeat_ns;
  DiskLimits lim;
  lim.capacity_bytes = 1 << 20;
  return std::make_shared<Device<SlowDriver>>(cfg, lim, "slow", never);
}

// A private directory with the server's socket path in it.
struct TempDir {
  std::string path;
  TempDir() {
    char d[] = "/tmp/mqblk-slow-XXXXXX";
    if (::mkdtemp(d)) path = d;
  }
  ~TempDir() {
    if (path.empty()) return;
    ::unlink((path + "/sock").c_str());
    ::unlink((path + "/stderr").c_str());
    ::rmdir(path.c_str());
  }
  std::string sock() const { return path + "/sock"; }
};

// Reads exactly n bytes, waiting at most 10 s in all. False on EOF, error or time-out.
bool recv_all(int fd, void* buf, size_t n) {
  auto* p = static_cast<uint8_t*>(buf);
  const auto until = Clock::now() + 10s;
  while (n) {
    pollfd pf{fd, POLLIN, 0};
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(until - Clock::now());
    if (left.count() <= 0 || ::poll(&pf, 1, static_cast<int>(left.count())) <= 0) return false;
    ssize_t r = ::recv(fd, p, n, 0);
    if (r <= 0) return false;
    p += r;
    n -= static_cast<size_t>(r);
  }
  return true;
}

bool send_all(int fd, const std::string& s) {
  return ::send(fd, s.data(), s.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(s.size());
}

// A minimal NBD client: fixed newstyle, NBD_OPT_GO on the default export, simple replies.
class Client {
 public:
  ~Client() { close(); }
  void close() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

  // Connects (retrying while the server is starting) and negotiates. Empty on success,
  // else what went wrong.
  std::string open(const std::string& path) {
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    std::snprintf(a.sun_path, sizeof a.sun_path, "%s", path.c_str());
    const auto until = Clock::now() + 10s;
    for (;;) {
      fd_ = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
      if (::connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0) break;
      close();
      if (Clock::now() > until) return "cannot connect to " + path;
      std::this_thread::sleep_for(10ms);
    }
    uint8_t greet[18];
    if (!recv_all(fd_, greet, sizeof greet)) return "no greeting";
    if (nbd::load_be64(greet) != nbd::kNbdMagic) return "bad greeting";
    std::string out;
    nbd::put_be32(out, nbd::kClientFixedNewstyle | nbd::kClientNoZeroes);
    nbd::put_be64(out, nbd::kIHaveOpt);
    nbd::put_be32(out, nbd::kOptGo);
    nbd::put_be32(out, 4 + 2);  // name length 0, "" (the default export), no info requests
    nbd::put_be32(out, 0);
    nbd::put_be16(out, 0);
    if (!send_all(fd_, out)) return "cannot send NBD_OPT_GO";
    for (;;) {
      uint8_t h[20];
      if (!recv_all(fd_, h, sizeof h)) return "no option reply";
      const uint32_t type = nbd::load_be32(h + 12), len = nbd::load_be32(h + 16);
      std::vector<uint8_t> data(len);
      if (len && !recv_all(fd_, data.data(), len)) return "short option reply";
      if (type == nbd::kRepAck) return "";
      if (type & 0x80000000u) return "NBD_OPT_GO refused";
    }
  }

  bool send_read(uint64_t cookie, uint64_t offset, uint32_t len) {
    std::string r;
    nbd::put_be32(r, nbd::kRequestMagic);
    nbd::put_be16(r, 0);
    nbd::put_be16(r, nbd::kCmdRead);
    nbd::put_be64(r, cookie);
    nbd::put_be64(r, offset);
    nbd::put_be32(r, len);
    return send_all(fd_, r);
  }

  struct Reply {
    bool ok = false;  // a reply arrived
    uint32_t error = 0;
    uint64_t cookie = 0;
    std::vector<uint8_t> data;
  };
  // One simple reply to a read of len bytes (data only when error is 0).
  Reply read_reply(uint32_t len) {
    Reply r;
    uint8_t h[nbd::kSimpleReplySize];
    if (!recv_all(fd_, h, sizeof h) || nbd::load_be32(h) != nbd::kSimpleReplyMagic) return r;
    r.error = nbd::load_be32(h + 4);
    r.cookie = nbd::load_be64(h + 8);
    if (r.error == 0) {
      r.data.resize(len);
      if (!recv_all(fd_, r.data.data(), len)) return r;
    }
    r.ok = true;
    return r;
  }

  // Whether the server closed the connection (EOF within 10 s).
  bool closed_by_server() {
    pollfd pf{fd_, POLLIN, 0};
    if (::poll(&pf, 1, 10'000) <= 0) return false;
    char c;
    return ::recv(fd_, &c, 1, 0) == 0;
  }

 private:
  int fd_ = -1;
};

bool all_pattern(const std::vector<uint8_t>& d) {
  for (uint8_t b : d)
    if (b != kPattern) return false;
  return !d.empty();
}

// Waits for child up to `limit`; kills it (and reports -1) past that.
int wait_child(pid_t child, std::chrono::seconds limit) {
  const auto until = Clock::now() + limit;
  int st = 0;
  while (::waitpid(child, &st, WNOHANG) == 0) {
    if (Clock::now() > until) {
      ::kill(child, SIGKILL);
      ::waitpid(child, &st, 0);
      return -1;
    }
    std::this_thread::sleep_for(10ms);
  }
  return st;
}

// Child exit codes of the forked servers, besides serve_device's own.
constexpr int kChildThrew = 90;
constexpr int kChildNoLateWrites = 91;
constexpr int kChildLeaked = 92;
constexpr int kChildReturned = 93;

// Runs serve_device in a fresh child (no threads yet: the device is made there) with
// stderr going to err_path. The child's status: serve_device's result, or one of the codes
// above. check: run on the device after the server returned (an exit code, 0 when fine).
template <class Check>
pid_t fork_server(const nbd::ServerOptions& opt, bool never, uint64_t report_ns, uint64_t repeat_ns,
                  const std::string& err_path, Check check) {
  std::fflush(nullptr);
  pid_t pid = ::fork();
  if (pid != 0) return pid;
  int fd = ::open(err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd >= 0) ::dup2(fd, 2);
  // As run_server does: the stop signals are blocked before the device's threads exist,
  // or SIGTERM could reach one of them and kill the process.
  sigset_t stop;
  sigemptyset(&stop);
  sigaddset(&stop, SIGINT);
  sigaddset(&stop, SIGTERM);
  sigaddset(&stop, SIGCHLD);
  ::pthread_sigmask(SIG_BLOCK, &stop, nullptr);
  int code = kChildThrew;
  try {
    auto dev = make_slow_device(never, report_ns, repeat_ns);
    code = nbd::serve_device(opt, dev);
    if (code == 0) code = check(*dev);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "child: %s\n", e.what());
  }
#ifdef TEST_ASAN
  // _exit skips LeakSanitizer's exit-time check: run it here for the orderly path.
  if (code == 0 && __lsan_do_recoverable_leak_check() != 0) code = kChildLeaked;
#endif
  std::fflush(nullptr);
  ::_exit(code);
}

std::string slurp(const std::string& path) {
  std::ifstream f(path);
  std::stringstream s;
  s << f.rdbuf();
  return s.str();
}

size_t count_of(const std::string& text, const std::string& what) {
  size_t n = 0;
  for (size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
  return n;
}

// (a) SIGTERM while the driver holds four reads past their timeout: the server waits until
// the driver let go, answers them (EIO: they timed out) and exits 0.
TEST(NbdSlowDriver, StopWaitsForTheDriverToLetGo) {
  TempDir dir;
  ASSERT_FALSE(dir.path.empty());
  nbd::ServerOptions opt;
  opt.socket_path = dir.sock();
  opt.foreground = true;
  opt.held_wait_ns = 20'000'000'000;
  const std::string err = dir.path + "/stderr";
  pid_t child =
      fork_server(opt, false, 10'000'000'000, 30'000'000'000, err, [](Device<SlowDriver>& dev) {
        return dev.driver().late.load() == 4 ? 0 : kChildNoLateWrites;
      });
  ASSERT_GT(child, 0);
  Client c;
  ASSERT_EQ(c.open(dir.sock()), "");
  for (uint64_t i = 0; i < 4; ++i) ASSERT_TRUE(c.send_read(100 + i, i * kLen, kLen));
  // Past the 50 ms timeout, well before the driver lets go at 200 ms.
  std::this_thread::sleep_for(100ms);
  const auto stopped = Clock::now();
  ASSERT_EQ(::kill(child, SIGTERM), 0);
  for (int i = 0; i < 4; ++i) {
    Client::Reply r = c.read_reply(kLen);
    ASSERT_TRUE(r.ok) << "reply " << i << " missing; server stderr: " << slurp(err);
    EXPECT_EQ(r.error, nbd::kEio);  // timed out: the submitter learnt it when the driver let go
    EXPECT_GE(r.cookie, 100u);
    EXPECT_LT(r.cookie, 104u);
  }
  EXPECT_TRUE(c.closed_by_server());
  const int st = wait_child(child, 30s);
  EXPECT_TRUE(WIFEXITED(st)) << "status " << st << "; server stderr: " << slurp(err);
  EXPECT_EQ(WEXITSTATUS(st), 0) << slurp(err);
  // The server waited for the driver (about 100 ms more), not for its 5 s grace.
  EXPECT_LT(Clock::now() - stopped, 5s);
}

// (b) A client that disconnects with reads held: its buffers stay until the driver wrote
// them; the server meanwhile serves another client, then stops in order.
TEST(NbdSlowDriver, DisconnectWithReadsHeldKeepsTheirBuffers) {
  TempDir dir;
  ASSERT_FALSE(dir.path.empty());
  auto dev = make_slow_device(false);
  SlowDriver& drv = dev->driver();
  int stop = ::eventfd(0, EFD_CLOEXEC);
  ASSERT_GE(stop, 0);
  nbd::ServerOptions opt;
  opt.socket_path = dir.sock();
  opt.foreground = true;
  opt.stop_fd = stop;
  int rc = -1;
  std::string thrown;
  std::thread server([&] {
    try {
      rc = nbd::serve_device(opt, dev);
    } catch (const std::exception& e) {
      thrown = e.what();
    }
  });

  {
    Client gone;
    ASSERT_EQ(gone.open(dir.sock()), "");
    for (uint64_t i = 0; i < 4; ++i) ASSERT_TRUE(gone.send_read(i, i * kLen, kLen));
    const auto until = Clock::now() + 5s;
    while (drv.received.load() < 4 && Clock::now() < until) std::this_thread::sleep_for(1ms);
    ASSERT_EQ(drv.received.load(), 4u);
  }  // closed with its four reads in the driver's hands
  // Past the timeout and the disconnect, the engine counts them as hung until the driver
  // lets go.
  std::this_thread::sleep_for(100ms);
  EXPECT_EQ(dev->stats()[0].hung, 4u);
  EXPECT_GE(dev->stats()[0].hung_longest_ns, kTimeoutNs);

  // Another client is served meanwhile: its read comes after the held ones, with data.
  drv.set_hold(0ms);
  {
    Client other;
    ASSERT_EQ(other.open(dir.sock()), "");
    ASSERT_TRUE(other.send_read(7, 8 * kLen, kLen));
    Client::Reply r = other.read_reply(kLen);
    ASSERT_TRUE(r.ok);
    EXPECT_EQ(r.error, 0u);
    EXPECT_EQ(r.cookie, 7u);
    EXPECT_TRUE(all_pattern(r.data));
  }
  const auto until = Clock::now() + 5s;
  while (drv.late.load() < 4 && Clock::now() < until) std::this_thread::sleep_for(1ms);
  EXPECT_EQ(drv.late.load(), 4u);  // the four late writes landed (ASan: into live buffers)
  EXPECT_EQ(dev->stats()[0].hung, 0u);

  uint64_t one = 1;
  ASSERT_EQ(::write(stop, &one, sizeof one), static_cast<ssize_t>(sizeof one));
  server.join();
  ::close(stop);
  EXPECT_EQ(thrown, "");
  EXPECT_EQ(rc, 0);
  EXPECT_EQ(drv.written.load(), 5u);
  EXPECT_EQ(dev->stats()[0].in_flight, 0u);
}

// (b') The same while stopping: the disconnected client's reads are still held when the
// server is told to stop, so the stop waits for them.
TEST(NbdSlowDriver, StopRightAfterADisconnectWaitsForItsReads) {
  TempDir dir;
  ASSERT_FALSE(dir.path.empty());
  auto dev = make_slow_device(false);
  int stop = ::eventfd(0, EFD_CLOEXEC);
  ASSERT_GE(stop, 0);
  nbd::ServerOptions opt;
  opt.socket_path = dir.sock();
  opt.foreground = true;
  opt.stop_fd = stop;
  int rc = -1;
  std::thread server([&] { rc = nbd::serve_device(opt, dev); });
  {
    Client gone;
    ASSERT_EQ(gone.open(dir.sock()), "");
    for (uint64_t i = 0; i < 4; ++i) ASSERT_TRUE(gone.send_read(i, i * kLen, kLen));
    const auto until = Clock::now() + 5s;
    while (dev->driver().received.load() < 4 && Clock::now() < until)
      std::this_thread::sleep_for(1ms);
    ASSERT_EQ(dev->driver().received.load(), 4u);
  }
  uint64_t one = 1;
  ASSERT_EQ(::write(stop, &one, sizeof one), static_cast<ssize_t>(sizeof one));
  server.join();
  ::close(stop);
  EXPECT_EQ(rc, 0);
  // serve_device returned only once the driver had let go of all four.
  EXPECT_EQ(dev->driver().written.load(), 4u);
  EXPECT_EQ(dev->stats()[0].in_flight, 0u);
}

// (c) A driver that never lets go: after the clients' grace the server cancels what is
// held, reports each held request (hung_report_ns, then every hung_repeat_ns), and past
// held_wait_ns leaves with _exit(kExitRequestsHeld) and one line saying why, freeing
// nothing. Its own exit paths do not run, so neither does LeakSanitizer.
TEST(NbdSlowDriver, DriverThatNeverLetsGoEndsTheServerWithExit) {
  TempDir dir;
  ASSERT_FALSE(dir.path.empty());
  nbd::ServerOptions opt;
  opt.socket_path = dir.sock();
  opt.foreground = true;
  opt.held_wait_ns = 1'000'000'000;
  const std::string err = dir.path + "/stderr";
  pid_t child = fork_server(opt, true, 100'000'000, 300'000'000, err,
                            [](Device<SlowDriver>&) { return kChildReturned; });
  ASSERT_GT(child, 0);
  Client c;
  ASSERT_EQ(c.open(dir.sock()), "");
  ASSERT_TRUE(c.send_read(1, 0, kLen));
  ASSERT_TRUE(c.send_read(2, kLen, kLen));
  std::this_thread::sleep_for(100ms);
  const auto stopped = Clock::now();
  ASSERT_EQ(::kill(child, SIGTERM), 0);
  EXPECT_TRUE(c.closed_by_server());  // cut off after the 5 s grace, unanswered
  const int st = wait_child(child, 30s);
  const std::string text = slurp(err);
  ASSERT_TRUE(WIFEXITED(st)) << "status " << st << "; server stderr: " << text;
  EXPECT_EQ(WEXITSTATUS(st), nbd::kExitRequestsHeld) << text;
  // 5 s of grace, then 1 s for the driver to let go.
  EXPECT_GE(Clock::now() - stopped, 5s);
  // Reports: at 100 ms into the teardown, then every 300 ms, one line per held request.
  EXPECT_GE(count_of(text, "still held by its driver"), 4u) << text;
  EXPECT_NE(text.find("device 'slow' queue 0 tag "), std::string::npos) << text;
  EXPECT_EQ(count_of(text, "without freeing memory it can still write"), 1u) << text;
  EXPECT_NE(text.find("the driver still holds 2 request(s)"), std::string::npos) << text;
  EXPECT_NE(text.find("exiting with status 70"), std::string::npos) << text;
  // Nothing crashed or reported a sanitizer error on the way out.
  EXPECT_EQ(text.find("ERROR: "), std::string::npos) << text;
}

}  // namespace
