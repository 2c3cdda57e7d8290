#include "ublk/server.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <fstream>
#include <future>
#include <nlohmann/json.hpp>
#include <thread>

#include "control/control_server.hpp"
#include "mqblk/detail/clock.hpp"
#include "mqblk/registry.hpp"
#include "ublk/control.hpp"
#include "ublk/params.hpp"
#include "ublk/queue.hpp"
#include "ublk/saved_config.hpp"

namespace mqblk::ublk {
namespace {

using namespace std::chrono_literals;

bool wait_for_path(const std::string& path, std::chrono::milliseconds limit) {
  auto end = std::chrono::steady_clock::now() + limit;
  struct stat st;
  while (stat(path.c_str(), &st) != 0) {
    if (std::chrono::steady_clock::now() > end) return false;
    std::this_thread::sleep_for(5ms);
  }
  return true;
}

// Opens a device node that udev may not have handed to this user yet (an unprivileged
// device's /dev/ublkcN and /dev/ublkbN belong to root until the udev rule runs): retries
// EACCES/EPERM/ENOENT for up to 10 s. Sets errno when it gives up.
int open_retrying(const std::string& path, int flags) {
  auto end = std::chrono::steady_clock::now() + 10s;
  for (;;) {
    int fd = ::open(path.c_str(), flags);
    if (fd >= 0) return fd;
    int e = errno;
    if ((e != EACCES && e != EPERM && e != ENOENT) || std::chrono::steady_clock::now() > end) {
      errno = e;
      return -1;
    }
    std::this_thread::sleep_for(20ms);
  }
}

// "Accepts I/O": one direct read of the first block through the whole path.
std::string probe_block_device(const std::string& path, uint32_t block) {
  if (!wait_for_path(path, 5s)) return path + " did not appear within 5 s";
  int fd = open_retrying(path, O_RDONLY | O_DIRECT | O_CLOEXEC);
  if (fd < 0) return "cannot open " + path + ": " + errno_text(errno);
  void* buf = nullptr;
  if (posix_memalign(&buf, 4096, 4096) != 0) {
    ::close(fd);
    return "out of memory";
  }
  ssize_t n = pread(fd, buf, block, 0);
  int e = errno;
  free(buf);
  ::close(fd);
  if (n != static_cast<ssize_t>(block))
    return "a test read of " + path + " failed: " + (n < 0 ? errno_text(e) : "short read");
  return "";
}

// Invariant: stop_fd is this queue's own eventfd. A read of an eventfd takes the whole
// count, so one fd shared by several queue threads would wake only one of them; each
// queue has its own and set_phase() writes to every one.
struct Queue {
  QueueCounters counters;
  std::unique_ptr<QueueServer> server;
  std::thread thread;
  std::atomic<bool> done{false};
  int stop_fd = -1;
  ~Queue() {
    if (stop_fd >= 0) ::close(stop_fd);
  }
};

nlohmann::json stats_json(const BlockDevice& dev, const std::vector<std::unique_ptr<Queue>>& qs,
                          pid_t pid) {
  auto es = dev.stats();
  nlohmann::json arr = nlohmann::json::array();
  for (size_t q = 0; q < qs.size(); ++q) {
    const auto& c = qs[q]->counters;
    uint64_t rec = c.received.load(std::memory_order_relaxed);
    uint64_t end = c.ended.load(std::memory_order_relaxed);
    nlohmann::json e = {{"queue", q},
                        {"received", rec},
                        {"ended", end},
                        {"errors", c.errors.load(std::memory_order_relaxed)},
                        {"one_copy", c.one_copy.load(std::memory_order_relaxed)},
                        {"zone_appends", c.zone_appends.load(std::memory_order_relaxed)},
                        {"in_flight", rec - end},
                        {"aborted_tags", c.aborted_tags.load(std::memory_order_relaxed)}};
    if (q < es.size()) {
      // hung: requests a timeout, cancel or teardown ended while the driver still holds
      // them (the kernel gets their answer when it lets go); how long the oldest is held.
      e["engine"] = {{"started", es[q].started},
                     {"ended", es[q].ended},
                     {"in_flight", es[q].in_flight},
                     {"timeouts", es[q].timeouts},
                     {"requeued", es[q].requeued},
                     {"hung", es[q].hung},
                     {"hung_longest_ns", es[q].hung_longest_ns}};
    }
    arr.push_back(std::move(e));
  }
  return {{"pid", pid}, {"queues", arr}};
}

void write_file_atomically(const std::string& path, const std::string& text) {
  std::string tmp = path + ".tmp";
  {
    std::ofstream f(tmp);
    f << text;
  }
  rename(tmp.c_str(), path.c_str());
}

// Where a queue thread runs. Measured in the VM (docs/benchmarks.md): a queue thread on
// the CPU that submits to it halves throughput, because every hand-over becomes a context
// switch on that CPU while the other idles; on a neighbouring CPU the submitter keeps
// submitting while the server works, and the kernel batches the hand-overs. So queue q,
// whose submitters are the CPUs of its affinity set (GET_QUEUE_AFFINITY), runs on the
// CPU after that set. A queue that every CPU submits to (one queue) is left to the
// scheduler. MQBLK_UBLK_CPU=N puts every queue on CPU N, for experiments.
void place_queue_thread(Control& ctl, unsigned q, QueueConfig& cfg) {
  CPU_ZERO(&cfg.cpus);
  cfg.pin = false;
  // Read at start-up; nothing in mqblk calls setenv.
  const char* cpu = std::getenv("MQBLK_UBLK_CPU");  // NOLINT(concurrency-mt-unsafe)
  if (cpu && *cpu) {
    CPU_SET(std::atoi(cpu), &cfg.cpus);
    cfg.pin = true;
    return;
  }
  cpu_set_t online;
  if (sched_getaffinity(0, sizeof online, &online) != 0) return;
  cpu_set_t mapped;
  try {
    mapped = ctl.get_queue_affinity(cfg.dev_id, static_cast<uint16_t>(q));
  } catch (const UblkError&) {
    return;
  }
  int last = -1, n = CPU_SETSIZE;
  for (int c = 0; c < n; ++c)
    if (CPU_ISSET(c, &mapped)) last = c;
  if (last < 0) return;
  for (int step = 1; step < n; ++step) {
    int c = (last + step) % n;
    if (CPU_ISSET(c, &online) && !CPU_ISSET(c, &mapped)) {
      CPU_SET(c, &cfg.cpus);
      cfg.pin = true;
      return;
    }
  }
}

// The kernel gives a single-queue device mq-deadline by default and a multi-queue one no
// scheduler. In front of a server that keeps its own queue, the elevator only adds work on
// the submitter's CPU (the benchmark's -q 1 ran at about 0.2 of null_blk with it, 0.3
// without); so a one-queue device starts with "none" too, as null_blk and NVMe do. An
// administrator (or udev) may set another one afterwards. Best effort: failure is ignored.
void no_default_scheduler(uint32_t id) {
  std::string path = "/sys/block/ublkb" + std::to_string(id) + "/queue/scheduler";
  int fd = ::open(path.c_str(), O_WRONLY | O_CLOEXEC);
  if (fd < 0) return;
  ssize_t r = ::write(fd, "none", 4);
  (void)r;
  ::close(fd);
}

using detail::now_ns;

class Server {
 public:
  Server(const ServerSpec& spec, const ServerHooks& hooks, std::unique_ptr<BlockDevice> dev)
      : spec_(spec), hooks_(hooks), dev_(std::move(dev)) {}
  int run();

 private:
  void fail(const std::string& msg) {
    if (hooks_.failed) hooks_.failed(msg);
    std::fprintf(stderr, "mqblk: %s\n", msg.c_str());
  }
  bool start_queues(Control& ctl);
  int failed_start(Control* ctl);
  void note(const std::string& msg);
  void open_log();
  void set_phase(int phase);
  void release_engine(bool publish);
  [[noreturn]] void give_up_on_driver(int64_t began_ns);
  void stop_queues(bool publish);
  void report();

  ServerSpec spec_;
  ServerHooks hooks_;
  std::unique_ptr<BlockDevice> dev_;
  uint32_t id_ = 0;
  uint32_t buf_bytes_ = 0;
  bool user_copy_ = true;
  int cdev_fd_ = -1;
  bool added_ = false;    // this server's ADD_DEV made the device
  bool started_ = false;  // START_DEV / END_USER_RECOVERY succeeded
  std::atomic<int> phase_{kServe};
  std::vector<std::unique_ptr<Queue>> queues_;
};

bool Server::start_queues(Control& ctl) {
  std::string cdev = "/dev/ublkc" + std::to_string(id_);
  if (!wait_for_path(cdev, 3s)) {
    fail(cdev + " did not appear within 3 s");
    return false;
  }
  cdev_fd_ = open_retrying(cdev, O_RDWR | O_CLOEXEC);
  if (cdev_fd_ < 0) {
    fail("cannot open " + cdev + ": " + errno_text(errno) +
         (geteuid() != 0 ? " (for an unprivileged device, udev must hand it to you: see the "
                           "udev rule in docs/ublk.md)"
                         : ""));
    return false;
  }
  unsigned nq = dev_->nr_hw_queues();
  std::vector<std::promise<std::string>> up(nq);
  for (unsigned q = 0; q < nq; ++q) {
    auto qu = std::make_unique<Queue>();
    qu->stop_fd = eventfd(0, EFD_CLOEXEC);
    if (qu->stop_fd < 0) {
      fail("eventfd: " + errno_text(errno));
      return false;
    }
    QueueConfig cfg;
    cfg.dev_id = id_;
    cfg.q = q;
    cfg.depth = dev_->queue_depth();
    cfg.buf_bytes = buf_bytes_;
    cfg.user_copy = user_copy_;
    cfg.cdev_fd = cdev_fd_;
    cfg.stop_fd = qu->stop_fd;
    cfg.phase = &phase_;
    place_queue_thread(ctl, q, cfg);
    qu->server = std::make_unique<QueueServer>(*dev_, cfg, qu->counters);
    Queue* raw = qu.get();
    std::promise<std::string>* pr = &up[q];
    qu->thread = std::thread([raw, pr] {
      int r = raw->server->set_up();
      pr->set_value(r == 0 ? std::string() : raw->server->error());
      if (r == 0) raw->server->serve();
      raw->done.store(true);
    });
    queues_.push_back(std::move(qu));
  }
  bool ok = true;
  for (auto& p : up) {
    std::string err = p.get_future().get();
    if (!err.empty() && ok) {
      fail(err);
      ok = false;
    }
  }
  return ok;
}

void Server::set_phase(int phase) {
  phase_.store(phase, std::memory_order_release);
  for (auto& q : queues_) {
    uint64_t one = 1;
    (void)!write(q->stop_fd, &one, sizeof one);
  }
}

// Cancels what the engine holds and waits until its driver let go of every request: the
// queue threads commit each one to the kernel as it comes back. publish: keep writing
// ID.stats.json meanwhile, so that `list` shows the held (hung) requests and their age.
// Does not return when the driver holds requests past held_wait_ns.
void Server::release_engine(bool publish) {
  const int64_t began = now_ns();
  for (;;) {
    if (dev_->shutdown_within(200'000'000)) return;
    if (publish)
      write_file_atomically(run_path(id_, ".stats.json"),
                            stats_json(*dev_, queues_, getpid()).dump() + "\n");
    if (spec_.held_wait_ns >= 0 && now_ns() - began >= spec_.held_wait_ns) give_up_on_driver(began);
  }
}

// The driver may still write into the queues' buffers and into the device's memory, and
// the kernel still counts on the tags it holds: unmapping, closing /dev/ublkcN in order or
// running the destructors would free that memory under the driver. The process leaves as
// it is; its death makes the kernel fail the device's I/O (or, with -r 1, keep the device
// quiesced for `recover`). ID.json stays, so that `del` (or `recover`) finds the device.
void Server::give_up_on_driver(int64_t began_ns) {
  report();
  const std::string who = "mqblk-ublk " + std::to_string(id_);
  exit_with_requests_held(*dev_, who.c_str(), began_ns,
                          spec_.recovery
                              ? "the kernel keeps the device for `mqblk recover`"
                              : "the kernel fails the device's I/O; `mqblk del` removes it");
}

// The engine is released first (bounded, see release_engine): a queue thread finishes
// only once its engine queue holds nothing.
void Server::stop_queues(bool publish) {
  set_phase(kStop);
  if (dev_) release_engine(publish);
  for (auto& q : queues_)
    if (q->thread.joinable()) q->thread.join();
}

void Server::report() {
  auto j = stats_json(*dev_, queues_, getpid());
  for (const auto& q : j["queues"]) {
    std::fprintf(stderr,
                 "mqblk-ublk %u: queue %u: received %llu ended %llu errors %llu in_flight %llu\n",
                 id_, q["queue"].get<unsigned>(),
                 static_cast<unsigned long long>(q["received"].get<uint64_t>()),
                 static_cast<unsigned long long>(q["ended"].get<uint64_t>()),
                 static_cast<unsigned long long>(q["errors"].get<uint64_t>()),
                 static_cast<unsigned long long>(q["in_flight"].get<uint64_t>()));
  }
  std::fflush(stderr);
  write_file_atomically(run_path(id_, ".report"), j.dump() + "\n");
}

// Undoes a start that failed, whatever it reached (see run_server in server.hpp): the
// queue threads stop and are joined; a device this server added is stopped (it serves
// nothing) and deleted, and its files go; so does the backing file mqblk made for it.
int Server::failed_start(Control* ctl) {
  // A recovering server that fails is simply gone: the kernel quiesces the device again
  // for the next `recover`, so it is neither stopped nor deleted here.
  if (started_ && !spec_.recover) {
    // The kernel may be sending requests (partition scan, udev): fail them, then let
    // STOP_DEV abort every tag so that the queue threads finish.
    set_phase(kDrain);
    if (dev_) release_engine(false);
    try {
      if (ctl) ctl->stop_dev(id_);
    } catch (const UblkError&) {
    }
  }
  stop_queues(false);
  queues_.clear();
  if (cdev_fd_ >= 0) ::close(cdev_fd_);
  cdev_fd_ = -1;
  if (added_ && ctl) {
    try {
      ctl->stop_dev(id_);
    } catch (const UblkError&) {
    }
    try {
      ctl->del_dev(id_);
    } catch (const UblkError& e) {
      std::fprintf(stderr, "mqblk: %s\n", e.what());
    }
    remove_saved(id_);
  }
  dev_.reset();  // closes the backing file before it is removed
  if (!spec_.recover && !spec_.shm_file.empty()) unlink(spec_.shm_file.c_str());
  return 1;
}

// A background server's stderr becomes run_dir()/ID.log once the id is known.
void Server::open_log() {
  if (!spec_.detached) return;
  try {
    ensure_run_dir();
  } catch (const UblkError&) {
    return;
  }
  int fd = ::open(run_path(id_, ".log").c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (fd >= 0) {
    dup2(fd, 2);
    ::close(fd);
  }
}

void Server::note(const std::string& msg) {
  if (hooks_.note) hooks_.note(msg);
  std::fprintf(stderr, "mqblk: %s\n", msg.c_str());
}

int Server::run() {
  // Signals that end the server are taken synchronously by the main thread; the queue
  // threads inherit the mask and never see them.
  sigset_t stop_sigs;
  sigemptyset(&stop_sigs);
  sigaddset(&stop_sigs, SIGTERM);
  sigaddset(&stop_sigs, SIGINT);
  sigaddset(&stop_sigs, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &stop_sigs, nullptr);

  std::unique_ptr<Control> ctl;
  uint64_t features = 0;
  try {
    ctl = std::make_unique<Control>();
    features = ctl->get_features();
  } catch (const UblkError& e) {
    fail(e.what());
    return failed_start(nullptr);
  }
  ctl->set_unprivileged(spec_.unprivileged);
  auto lacks = [&](uint64_t bit, const char* what, const char* instead) {
    if (features & bit) return false;
    fail(std::string(what) + ", which this kernel's ublk lacks (see `mqblk features`); " + instead);
    return true;
  };
  if (spec_.recovery &&
      lacks(abi::kFUserRecovery, "-r 1 needs UBLK_F_USER_RECOVERY", "add without -r"))
    return failed_start(nullptr);
  if (spec_.reissue && lacks(abi::kFUserRecoveryReissue, "-i 1 needs UBLK_F_USER_RECOVERY_REISSUE",
                             "use -r 1 without -i"))
    return failed_start(nullptr);
  if (spec_.fail_io && lacks(abi::kFUserRecoveryFailIo, "-e 1 needs UBLK_F_USER_RECOVERY_FAIL_IO",
                             "use -r 1 (I/O waits for `recover`) or -i 1"))
    return failed_start(nullptr);
  if (spec_.unprivileged &&
      lacks(abi::kFUnprivilegedDev, "--unprivileged needs UBLK_F_UNPRIVILEGED_DEV",
            "run `mqblk add` as root"))
    return failed_start(nullptr);

  // What the device will be, checked before the kernel sees anything (bad attributes fail
  // here); it is made once the kernel said how many queues it accepts.
  DeviceOverrides ov;
  ov.nr_hw_queues = spec_.queues;
  ov.queue_depth = spec_.depth;
  std::vector<std::string> attrs = spec_.attrs;
  DiskLimits lim;
  unsigned nq = 0, depth = 0;
  try {
    if (dev_) {
      lim = dev_->limits();
      nq = dev_->nr_hw_queues();
      depth = dev_->queue_depth();
    } else {
      DevicePlan plan = plan_device(spec_.driver, attrs, ov);
      if (!spec_.recover)
        for (const std::string& n : plan.notes) note(n);  // to `add`'s terminal too
      lim = plan.limits;
      nq = plan.nr_hw_queues;
      depth = plan.queue_depth;
    }
  } catch (const std::exception& e) {
    fail(e.what());
    return failed_start(nullptr);
  }
  buf_bytes_ = max_io_bytes(lim);
  if (nq > 4096 || depth > abi::kMaxQueueDepth) {
    fail("ublk allows at most 4096 queues of depth 4096; lower -q / -d");
    return failed_start(nullptr);
  }
  user_copy_ = spec_.user_copy < 0 ? (features & abi::kFUserCopy) != 0 : spec_.user_copy == 1;
  // The kernel refuses USER_COPY for unprivileged devices: their data go through the
  // per-tag buffers.
  if (spec_.unprivileged && spec_.user_copy < 0) user_copy_ = false;
  if (user_copy_ && !(features & abi::kFUserCopy)) {
    fail("USER_COPY was asked for but this kernel's ublk lacks it; use --copy mapped");
    return failed_start(nullptr);
  }

  if (lim.zoned != ZonedModel::none) {
    if (lacks(abi::kFZoned, "a zoned device (zoned=1) needs UBLK_F_ZONED", "drop zoned=1"))
      return failed_start(nullptr);
    if (std::string why = zoned_refusal(lim, user_copy_); !why.empty()) {
      fail("zoned: " + why);
      return failed_start(nullptr);
    }
  }

  try {
    if (!spec_.recover) {
      abi::DevInfo info{};
      info.nr_hw_queues = static_cast<uint16_t>(nq);
      info.queue_depth = static_cast<uint16_t>(depth);
      info.max_io_buf_bytes = buf_bytes_;
      info.dev_id = spec_.id < 0 ? abi::kAnyDevice : static_cast<uint32_t>(spec_.id);
      info.flags = features & abi::kFCmdIoctlEncode;
      if (user_copy_) info.flags |= abi::kFUserCopy;
      if (lim.zoned != ZonedModel::none) info.flags |= abi::kFZoned;
      if (spec_.recovery) info.flags |= abi::kFUserRecovery;
      if (spec_.reissue) info.flags |= abi::kFUserRecoveryReissue;
      if (spec_.fail_io) info.flags |= abi::kFUserRecoveryFailIo;
      if (spec_.unprivileged) info.flags |= abi::kFUnprivilegedDev;
      abi::DevInfo out = ctl->add_dev(info);
      id_ = out.dev_id;
      added_ = true;
      open_log();
      if (spec_.unprivileged && !(out.flags & abi::kFUnprivilegedDev)) {
        // The kernel drops the flag for a caller with CAP_SYS_ADMIN.
        fail(
            "--unprivileged is for users without CAP_SYS_ADMIN (the kernel ignores it for "
            "root); add without it");
        return failed_start(ctl.get());
      }
      if (spec_.unprivileged) {
        // Every later command about the device needs access to /dev/ublkcN, which udev
        // hands to this user (the rule in data/udev) some time after ADD_DEV.
        std::string cdev = "/dev/ublkc" + std::to_string(id_);
        int fd = open_retrying(cdev, O_RDWR | O_CLOEXEC);
        if (fd < 0) {
          fail("cannot open " + cdev + ": " + errno_text(errno) +
               " within 10 s; is the udev rule of docs/ublk.md (Unprivileged devices) installed?");
          return failed_start(ctl.get());
        }
        ::close(fd);
      }
      buf_bytes_ = out.max_io_buf_bytes < buf_bytes_ ? out.max_io_buf_bytes : buf_bytes_;
      if (out.nr_hw_queues < nq) {
        // The kernel gives at most one queue per CPU; the device gets what it accepted.
        if (dev_) {
          fail("the kernel accepts at most " + std::to_string(out.nr_hw_queues) +
               " queues here (one per CPU) and this device has " + std::to_string(nq));
          return failed_start(ctl.get());
        }
        note("ublk device " + std::to_string(id_) + ": the kernel accepts at most " +
             std::to_string(out.nr_hw_queues) + " queues here (one per CPU), so it has " +
             std::to_string(out.nr_hw_queues) + ", not " + std::to_string(nq));
        nq = out.nr_hw_queues;
        ov.nr_hw_queues = static_cast<int>(nq);
        std::erase_if(attrs,
                      [](const std::string& a) { return a.rfind("submit_queues=", 0) == 0; });
      }
    } else {
      id_ = static_cast<uint32_t>(spec_.id);
      open_log();
      ctl->start_user_recovery(id_);
    }
  } catch (const UblkError& e) {
    fail(e.what());
    return failed_start(ctl.get());
  }
  try {
    if (!dev_) dev_ = make_device(spec_.driver, attrs, ov);
    if (!spec_.recover) ctl->set_params(id_, to_params(dev_->limits()));
  } catch (const std::exception& e) {
    fail(e.what());
    return failed_start(ctl.get());
  }

  SavedConfig saved;
  saved.id = id_;
  saved.driver = spec_.driver;
  saved.attrs = attrs;
  saved.queues = nq;
  saved.depth = depth;
  saved.recovery = spec_.recovery;
  saved.reissue = spec_.reissue;
  saved.fail_io = spec_.fail_io;
  saved.unprivileged = spec_.unprivileged;
  saved.user_copy = user_copy_;
  saved.pid = getpid();
  saved.shm_file = spec_.shm_file;
  try {
    save_config(saved);
  } catch (const UblkError& e) {
    fail(e.what());
    return failed_start(ctl.get());
  }
  if (!start_queues(*ctl)) return failed_start(ctl.get());
  try {
    if (!spec_.recover)
      ctl->start_dev(id_, getpid());
    else
      ctl->end_user_recovery(id_, getpid());
    started_ = true;
  } catch (const UblkError& e) {
    fail(e.what());
    return failed_start(ctl.get());
  }
  std::string bdev = "/dev/ublkb" + std::to_string(id_);
  std::string err =
      probe_block_device(bdev, lim.logical_block_size < 4096 ? 4096 : lim.logical_block_size);
  if (!err.empty()) {
    fail(err);
    return failed_start(ctl.get());
  }
  if (nq == 1 && !spec_.recover) no_default_scheduler(id_);
  std::fprintf(stderr, "mqblk-ublk %u: serving %s (%u queues, depth %u, %s, pid %d)\n", id_,
               bdev.c_str(), nq, depth, user_copy_ ? "user copy" : "mapped buffers",
               static_cast<int>(getpid()));
  std::fflush(stderr);
  if (hooks_.ready) hooks_.ready(bdev);
  // `mqblk set/get ID`: live control while it serves (ID.json is the ublk record).
  std::unique_ptr<control::ControlServer> live;
  try {
    live = std::make_unique<control::ControlServer>(
        *dev_, std::to_string(id_),
        control::ServedInfo{"ublk", bdev, spec_.driver, spec_.attrs, false});
  } catch (const std::exception& e) {
    std::fprintf(stderr, "mqblk: warning: no live control for device %u: %s\n", id_, e.what());
  }

  // Publish counters for `list` until told to stop or until every queue ended on its own
  // (the kernel aborted the device: someone else stopped it).
  std::string stats_path = run_path(id_, ".stats.json");
  for (;;) {
    write_file_atomically(stats_path, stats_json(*dev_, queues_, getpid()).dump() + "\n");
    timespec ts{0, 200'000'000};
    int sig = sigtimedwait(&stop_sigs, nullptr, &ts);
    if (sig > 0) break;
    bool all_done = true;
    for (auto& q : queues_) all_done = all_done && q->done.load();
    if (all_done) break;
  }

  // Stop: the device goes now. New requests fail (EIO); those the engine holds are ended
  // by shutdown() (cancelled, EIO to their submitter) and come back when their driver
  // lets go, while the queue threads still run to commit them; then the kernel's STOP_DEV
  // finds nothing in flight, and the queues finish. A driver that does not let go ends
  // the process here (release_engine).
  live.reset();  // no control request may reach a device being released
  set_phase(kDrain);
  release_engine(true);
  try {
    ctl->stop_dev(id_);
  } catch (const UblkError& e) {
    if (e.err() != ENODEV) std::fprintf(stderr, "mqblk: %s\n", e.what());
  }
  stop_queues(true);
  report();
  queues_.clear();  // unmaps the descriptors: /dev/ublkcN must be fully released
  ::close(cdev_fd_);
  cdev_fd_ = -1;
  int rc = 0;
  try {
    ctl->del_dev(id_);
  } catch (const UblkError& e) {
    if (e.err() != ENODEV) {
      std::fprintf(stderr, "mqblk: %s\n", e.what());
      rc = 1;
    }
  }
  if (!spec_.shm_file.empty()) unlink(spec_.shm_file.c_str());
  // Without ID.json, `del` knows the server removed the device itself.
  unlink(run_path(id_, ".stats.json").c_str());
  if (rc == 0) unlink(run_path(id_, ".json").c_str());
  return rc;
}

}  // namespace

int run_server(const ServerSpec& spec, const ServerHooks& hooks) {
  Server s(spec, hooks, nullptr);
  return s.run();
}

int run_server(const ServerSpec& spec, const ServerHooks& hooks, std::unique_ptr<BlockDevice> dev) {
  if (!dev) {
    if (hooks.failed) hooks.failed("no device given");
    std::fprintf(stderr, "mqblk: no device given\n");
    return 1;
  }
  Server s(spec, hooks, std::move(dev));
  return s.run();
}

}  // namespace mqblk::ublk
