#include "ublk/queue.hpp"

#include <liburing.h>
#include <poll.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <string>
#include <vector>

#include "mqblk/detail/clock.hpp"
#include "mqblk/zoned.hpp"
#include "ublk/abi.hpp"
#include "ublk/error.hpp"

namespace mqblk::ublk {
namespace {

// user_data of the non-tag SQEs; tags are < 65536.
constexpr uint64_t kEventUserData = 1ull << 32;
constexpr uint64_t kStopUserData = 2ull << 32;
constexpr uint64_t kDriverUserData = 3ull << 32;  // the driver's wait fd became readable

inline void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  asm volatile("yield");
#endif
}

using detail::now_ns;

// The result the kernel gets for a failed request. ublk turns it into a blk_status_t with
// errno_to_blk_status(), which knows only the block layer's errnos: anything else is
// logged as "invalid error", so every other status becomes EIO.
int32_t kernel_errno(Status s) {
  switch (s) {
    case Status::ok: return 0;
    case Status::notsupp: return -EOPNOTSUPP;
    case Status::nospc: return -ENOSPC;
    case Status::timeout: return -ETIMEDOUT;
    case Status::medium: return -ENODATA;                   // BLK_STS_MEDIUM
    case Status::zone_open_resource: return -ETOOMANYREFS;  // BLK_STS_ZONE_OPEN_RESOURCE
    case Status::zone_active_resource: return -EOVERFLOW;   // BLK_STS_ZONE_ACTIVE_RESOURCE
    default: return -EIO;
  }
}

// What the queue remembers about a request between its fetch and its commit.
// Invariant: win != nullptr only for a READ or WRITE, between its fetch and its commit,
// whose buffer is the device's own memory (one copy, see direct_buffer()); set at fetch.
struct TagState {
  uint8_t op = 0;
  bool live = true;  // false once the kernel aborted the tag
  uint32_t len = 0;
  uint64_t offset = 0;
  std::byte* win = nullptr;
};

}  // namespace

struct QueueServer::Impl {
  BlockDevice& dev;
  QueueConfig cfg;
  QueueCounters& counters;
  io_uring ring{};
  bool ring_ready = false;
  const abi::IoDesc* descs = nullptr;
  size_t descs_len = 0;
  std::byte* bufs = nullptr;
  size_t bufs_len = 0;
  std::unique_ptr<IoQueue> ioq;
  std::vector<TagState> tags;
  std::vector<IoCompletion> comps;
  uint64_t event_buf = 0;
  int driver_fd = -1;  // IoQueue::driver_fd(), or -1
  uint64_t stop_buf = 0;
  unsigned live_tags = 0;
  bool draining = false;
  bool stopping = false;
  bool taskrun_flag = false;  // the kernel flags queued deliveries in sq_flags
  int64_t spin_ns = 100'000;  // how long to poll for deliveries before sleeping

  Impl(BlockDevice& d, const QueueConfig& c, QueueCounters& k) : dev(d), cfg(c), counters(k) {}

  ~Impl() {
    ioq.reset();
    if (ring_ready) io_uring_queue_exit(&ring);
    if (descs) munmap(const_cast<abi::IoDesc*>(descs), descs_len);
    if (bufs) munmap(bufs, bufs_len);
  }

  std::byte* buf(unsigned tag) { return bufs + static_cast<size_t>(tag) * cfg.buf_bytes; }

  // Never fails for lack of room: the ring has an entry per tag plus the two reads and the
  // driver poll, and each of those has at most one SQE outstanding.
  io_uring_sqe* sqe() {
    io_uring_sqe* s = io_uring_get_sqe(&ring);
    if (!s) {
      io_uring_submit(&ring);
      s = io_uring_get_sqe(&ring);
    }
    return s;
  }

  // zone_lba: a zone append's commit, the sector it wrote (USER_COPY only: zoned devices
  // need it, and then addr carries nothing else).
  void queue_io_cmd(uint32_t op, unsigned tag, int32_t result, uint64_t zone_lba = 0) {
    io_uring_sqe* s = sqe();
    if (s == nullptr) return;  // unreachable: see sqe()
    std::memset(s, 0, 2 * sizeof(io_uring_sqe));
    s->opcode = IORING_OP_URING_CMD;
    s->fd = cfg.cdev_fd;
    s->cmd_op = op;
    abi::IoCmd cmd{};
    cmd.q_id = static_cast<uint16_t>(cfg.q);
    cmd.tag = static_cast<uint16_t>(tag);
    cmd.result = result;
    cmd.addr = cfg.user_copy ? zone_lba : reinterpret_cast<uint64_t>(buf(tag));
    std::memcpy(s->cmd, &cmd, sizeof cmd);
    io_uring_sqe_set_data64(s, tag);
  }

  // Wakes the loop when the driver has completions for reap() (IoQueue::driver_fd):
  // one-shot, re-armed after each wake-up, once reap_engine has emptied it.
  void arm_driver_poll() {
    io_uring_sqe* s = sqe();
    if (s == nullptr) return;  // unreachable: see sqe()
    std::memset(s, 0, 2 * sizeof(io_uring_sqe));
    io_uring_prep_poll_add(s, driver_fd, POLLIN);
    io_uring_sqe_set_data64(s, kDriverUserData);
  }

  void arm_read(int fd, uint64_t* dst, uint64_t user_data) {
    io_uring_sqe* s = sqe();
    if (s == nullptr) return;  // unreachable: see sqe()
    std::memset(s, 0, 2 * sizeof(io_uring_sqe));
    io_uring_prep_read(s, fd, dst, sizeof *dst, 0);
    io_uring_sqe_set_data64(s, user_data);
  }

  // Ends the kernel's request and re-arms the tag, unless we are stopping (then the tag
  // is committed without caring for the next fetch: the kernel aborts it).
  void commit(unsigned tag, int32_t result, uint64_t zone_lba = 0) {
    counters.ended.fetch_add(1, std::memory_order_relaxed);
    if (result < 0) {
      // The first few errors go to the log with the request: enough to debug, never a flood.
      if (counters.errors.fetch_add(1, std::memory_order_relaxed) < 8) {
        const abi::IoDesc& d = descs[tag];
        std::fprintf(stderr,
                     "mqblk-ublk: queue %u tag %u: op %u flags 0x%x sector %llu "
                     "sectors %u ended with %s\n",
                     cfg.q, tag, d.op_flags & 0xff, d.op_flags >> 8,
                     static_cast<unsigned long long>(d.start_sector), d.nr_sectors,
                     errno_text(-result).c_str());
      }
    }
    queue_io_cmd(abi::kUIoCommitAndFetchReq, tag, result, zone_lba);
  }

  // REPORT_ZONES: up to nr_zones struct blk_zone from start_sector into the request's
  // buffer (the kernel sized it to hold them, within max_sectors); the commit says how
  // many bytes. Not an engine request: the zone table answers it directly.
  void report_zones(unsigned tag, const abi::IoDesc& d) {
    const unsigned room = cfg.buf_bytes / sizeof(abi::BlkZone);
    const unsigned want = d.nr_sectors < room ? d.nr_sectors : room;
    auto* out = reinterpret_cast<abi::BlkZone*>(buf(tag));
    ZoneInfo zi[64];
    unsigned done = 0;
    uint64_t sector = d.start_sector;
    while (done < want) {
      unsigned n = dev.report_zones(sector, zi, want - done < 64 ? want - done : 64);
      if (n == 0) break;
      for (unsigned i = 0; i < n; ++i) {
        abi::BlkZone& z = out[done + i];
        std::memset(&z, 0, sizeof z);
        z.start = zi[i].start;
        z.len = zi[i].len;
        z.wp = zi[i].wp;
        z.type = static_cast<uint8_t>(zi[i].type);
        z.cond = static_cast<uint8_t>(zi[i].cond);
        z.capacity = zi[i].capacity;
      }
      done += n;
      sector = zi[n - 1].start + zi[n - 1].len;
    }
    const size_t bytes = size_t{done} * sizeof(abi::BlkZone);
    if (bytes > 0) {
      ssize_t w = pwrite(cfg.cdev_fd, out, bytes, abi::user_copy_offset(cfg.q, tag));
      if (w != static_cast<ssize_t>(bytes)) return commit(tag, -EIO);
    }
    commit(tag, static_cast<int32_t>(bytes));
  }

  // One copy instead of two, for a device that lends its memory (a memory_backed null
  // device, BlockDevice::direct_window): a WRITE's data is pread from the kernel straight
  // into the window and submitted with the window as its buffer (the driver sees its own
  // memory and does not copy); a READ is submitted with the window as its buffer (the
  // driver's read onto itself copies nothing) and then pwritten from there. The request
  // still goes through the engine and the driver (ownership, timeouts, stats).
  // Only for ranges in one state: a READ of a range that holds data in every page (a hole
  // must read as zeros, which the window of an unallocated page need not hold while a
  // write is in progress), a WRITE of a range whose pages are all holes or all data. A
  // pread of a ublk request stops short only when a page fault on the destination fails
  // (the kernel copies from the request's own pages, which it holds while we own the tag):
  // over holes, abandon_window() then restores the zeros; over data, such a fault can only
  // be a swapped-out store page that cannot be read back for lack of memory, and the write
  // fails with EIO leaving the range a mix of old and new bytes, as after any failed
  // write. A mixed range (the fault would land on a hole after overwriting data) keeps the
  // tag buffer. Concurrent overlapping requests see old, new or mixed bytes (not promised,
  // as on a disk).
  std::byte* direct_buffer(const IoDesc& io, bool write) {
    if (!cfg.user_copy || io.len == 0) return nullptr;
    std::byte* w = dev.direct_window(io.offset, io.len);
    if (w == nullptr) return nullptr;
    Extent e = dev.block_status(io.offset, io.len);
    if (e.length < io.len) return nullptr;  // mixed (or past the end: the driver refuses)
    if (!write && e.hole) return nullptr;
    counters.one_copy.fetch_add(1, std::memory_order_relaxed);
    return w;
  }

  void on_request(unsigned tag) {
    counters.received.fetch_add(1, std::memory_order_relaxed);
    if (draining) return commit(tag, -EIO);  // the device is being deleted
    const abi::IoDesc& d = descs[tag];
    TagState& t = tags[tag];
    t.op = static_cast<uint8_t>(d.op_flags & 0xff);
    uint32_t kflags = d.op_flags;
    t.len = d.nr_sectors << kSectorShift;
    t.win = nullptr;

    IoDesc io;
    io.offset = d.start_sector << kSectorShift;
    t.offset = io.offset;
    io.len = t.len;
    if (kflags & abi::kIoFFua) io.flags |= kReqFua;
    switch (t.op) {
      case abi::kOpRead:
        io.op = Op::read;
        t.win = direct_buffer(io, false);
        io.buf = t.win ? t.win : buf(tag);
        break;
      case abi::kOpWrite:
        io.op = Op::write;
        t.win = direct_buffer(io, true);
        io.buf = t.win ? t.win : buf(tag);
        if (cfg.user_copy) {
          ssize_t n = pread(cfg.cdev_fd, io.buf, t.len, abi::user_copy_offset(cfg.q, tag));
          if (n != static_cast<ssize_t>(t.len)) {
            if (t.win && n > 0) dev.abandon_window(t.offset, t.len);
            return commit(tag, -EIO);
          }
        }
        break;
      case abi::kOpFlush:
        // The kernel leaves start_sector undefined (all ones) for a flush.
        io.op = Op::flush;
        io.offset = 0;
        io.len = 0;
        break;
      case abi::kOpDiscard: io.op = Op::discard; break;
      case abi::kOpWriteZeroes:
        io.op = Op::write_zeroes;
        if (kflags & abi::kIoFNoUnmap) io.flags |= kReqNoUnmap;
        break;
      // Zoned devices (the kernel sends these only with UBLK_F_ZONED, which needs USER_COPY).
      case abi::kOpZoneAppend:
        counters.zone_appends.fetch_add(1, std::memory_order_relaxed);
        io.op = Op::zone_append;
        io.buf = buf(tag);
        if (t.len > cfg.buf_bytes) return commit(tag, -EIO);
        if (pread(cfg.cdev_fd, io.buf, t.len, abi::user_copy_offset(cfg.q, tag)) !=
            static_cast<ssize_t>(t.len))
          return commit(tag, -EIO);
        break;
      case abi::kOpZoneOpen:
      case abi::kOpZoneClose:
      case abi::kOpZoneFinish:
      case abi::kOpZoneReset:
      case abi::kOpZoneResetAll:
        io.op = t.op == abi::kOpZoneOpen     ? Op::zone_open
                : t.op == abi::kOpZoneClose  ? Op::zone_close
                : t.op == abi::kOpZoneFinish ? Op::zone_finish
                : t.op == abi::kOpZoneReset  ? Op::zone_reset
                                             : Op::zone_reset_all;
        io.len = 0;  // no data, whatever nr_sectors says
        if (io.op == Op::zone_reset_all) io.offset = 0;
        break;
      case abi::kOpReportZones: return report_zones(tag, d);
      default: return commit(tag, -EOPNOTSUPP);
    }
    if (io.len > cfg.buf_bytes && op_has_data(io.op)) return commit(tag, -EIO);
    Status s = ioq->submit_tag(tag, io, tag);
    if (s != Status::ok) {
      abandon(t);
      commit(tag, kernel_errno(s));
    }
  }

  // A WRITE whose data went into the window but did not succeed: no stray bytes may stay
  // in pages that hold no data (BlockDevice::direct_window).
  void abandon(TagState& t) {
    if (t.win && t.op == abi::kOpWrite) dev.abandon_window(t.offset, t.len);
    t.win = nullptr;
  }

  void on_completion(const IoCompletion& c) {
    unsigned tag = static_cast<unsigned>(c.user_data);
    TagState& t = tags[tag];
    const bool rw = t.op == abi::kOpRead || t.op == abi::kOpWrite;
    // A partial transfer (badblocks_partial_io): the kernel completes the bytes before the
    // bad sector and requeues the rest, which then fails on its own.
    uint32_t done = t.len;
    if (c.status == Status::ioerr && rw && c.result > 0 && c.result < t.len)
      done = static_cast<uint32_t>(c.result);
    else if (c.status != Status::ok) {
      abandon(t);
      return commit(tag, kernel_errno(c.status));
    }
    if (rw) {
      if (t.op == abi::kOpRead && cfg.user_copy) {
        const std::byte* src = t.win ? t.win : buf(tag);
        ssize_t n = pwrite(cfg.cdev_fd, src, done, abi::user_copy_offset(cfg.q, tag));
        if (n != static_cast<ssize_t>(done)) return commit(tag, -EIO);
      }
      return commit(tag, static_cast<int32_t>(done));
    }
    if (t.op == abi::kOpZoneAppend) return commit(tag, static_cast<int32_t>(t.len), c.result);
    commit(tag, 0);
  }

  void on_cqe(const io_uring_cqe* cqe) {
    uint64_t ud = cqe->user_data;
    if (ud == kEventUserData) {
      // The engine has cross-thread completions for us; reap() below collects them.
      if (!stopping) arm_read(ioq->event_fd(), &event_buf, kEventUserData);
      return;
    }
    if (ud == kDriverUserData) {
      if (cqe->res < 0) {  // never seen: the driver's fallback reaper still delivers
        std::fprintf(stderr, "ublk: queue %u: cannot poll the driver's completions: %s\n", cfg.q,
                     errno_text(-cqe->res).c_str());
        return;
      }
      if (!stopping) arm_driver_poll();
      return;
    }
    if (ud == kStopUserData) {
      int ph = cfg.phase ? cfg.phase->load(std::memory_order_acquire) : kStop;
      draining = ph >= kDrain;
      stopping = ph >= kStop;
      if (!stopping) arm_read(cfg.stop_fd, &stop_buf, kStopUserData);
      return;
    }
    unsigned tag = static_cast<unsigned>(ud);
    if (cqe->res == abi::kIoResOk) return on_request(tag);
    // -ENODEV: the device is going away and will not use this tag again. Any other
    // error: the kernel refused our command; the tag is unusable too.
    if (tags[tag].live) {
      tags[tag].live = false;
      --live_tags;
      counters.aborted_tags.fetch_add(1, std::memory_order_relaxed);
    }
  }

  void reap_engine() {
    unsigned n;
    while ((n = ioq->reap(comps.data(), static_cast<unsigned>(comps.size()))) > 0)
      for (unsigned i = 0; i < n; ++i) on_completion(comps[i]);
  }
};

QueueServer::QueueServer(BlockDevice& dev, const QueueConfig& cfg, QueueCounters& counters)
    : impl_(std::make_unique<Impl>(dev, cfg, counters)) {}

QueueServer::~QueueServer() = default;

int QueueServer::set_up() {
  Impl& m = *impl_;
  const QueueConfig& c = m.cfg;
  if (c.pin && CPU_COUNT(&c.cpus) > 0) sched_setaffinity(0, sizeof c.cpus, &c.cpus);

  m.descs_len = (c.depth * sizeof(abi::IoDesc) + 4095) & ~size_t{4095};
  void* p = mmap(nullptr, m.descs_len, PROT_READ, MAP_SHARED | MAP_POPULATE, c.cdev_fd,
                 static_cast<off_t>(abi::kCmdBufOffset + c.q * abi::kMaxCmdBufSize));
  if (p == MAP_FAILED) {
    int e = errno;
    error_ = "queue " + std::to_string(c.q) + ": mmap of the request descriptors: " + errno_text(e);
    return -e;
  }
  m.descs = static_cast<const abi::IoDesc*>(p);

  // Buffers are reserved, not populated: only the bytes requests touch cost memory.
  m.bufs_len = size_t{c.depth} * c.buf_bytes;
  p = mmap(nullptr, m.bufs_len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
           -1, 0);
  if (p == MAP_FAILED) {
    int e = errno;
    error_ = "queue " + std::to_string(c.q) + ": buffer reservation: " + errno_text(e);
    return -e;
  }
  m.bufs = static_cast<std::byte*>(p);
  // Without this, transparent huge pages back each touched tag's buffer with 2 MiB, so
  // memory follows the depth (every tag the kernel hands out) instead of the bytes requests
  // move: at -d 4096 the server held 1.75 GB under 4k writes. Best effort: a kernel
  // without THP has nothing to turn off.
  // MQBLK_UBLK_THP=1 leaves them to THP, to measure the difference (docs/benchmarks.md).
  const char* thp = std::getenv("MQBLK_UBLK_THP");  // NOLINT(concurrency-mt-unsafe)
  if (!(thp && std::strcmp(thp, "1") == 0)) (void)madvise(m.bufs, m.bufs_len, MADV_NOHUGEPAGE);

  // SINGLE_ISSUER + DEFER_TASKRUN: the kernel's deliveries (task work) run only when this
  // thread enters to wait, in one batch, instead of interrupting it. Older kernels lack
  // them; fall back to a plain ring.
  unsigned entries = c.depth + 8;
  io_uring_params params{};
  params.flags = IORING_SETUP_SQE128 | IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN |
                 IORING_SETUP_TASKRUN_FLAG;
  int r = io_uring_queue_init_params(entries, &m.ring, &params);
  if (r == -EINVAL) {
    params = io_uring_params{};
    params.flags = IORING_SETUP_SQE128 | IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN |
                   IORING_SETUP_COOP_TASKRUN;
    r = io_uring_queue_init_params(entries, &m.ring, &params);
  }
  if (r == -EINVAL) {
    io_uring_params plain{};
    plain.flags = IORING_SETUP_SQE128;
    r = io_uring_queue_init_params(entries, &m.ring, &plain);
  }
  if (r < 0) {
    error_ = "queue " + std::to_string(c.q) + ": io_uring setup: " + errno_text(-r);
    return r;
  }
  m.ring_ready = true;
  m.taskrun_flag = (params.flags & IORING_SETUP_TASKRUN_FLAG) != 0;
  // Tuning knob read before the queue starts; nothing in mqblk calls setenv.
  if (const char* e = std::getenv("MQBLK_UBLK_SPIN_US"); e && *e)  // NOLINT(concurrency-mt-unsafe)
    m.spin_ns = int64_t{std::atoi(e)} * 1000;
  if (!m.taskrun_flag) m.spin_ns = 0;

  m.ioq = m.dev.open_queue(static_cast<int>(c.q));
  m.tags.assign(c.depth, TagState{});
  m.comps.resize(c.depth);
  m.live_tags = c.depth;

  for (unsigned t = 0; t < c.depth; ++t) m.queue_io_cmd(abi::kUIoFetchReq, t, -1);
  m.arm_read(m.ioq->event_fd(), &m.event_buf, kEventUserData);
  m.driver_fd = m.ioq->driver_fd();
  if (m.driver_fd >= 0) m.arm_driver_poll();
  m.arm_read(c.stop_fd, &m.stop_buf, kStopUserData);
  r = io_uring_submit(&m.ring);
  if (r < 0) {
    error_ = "queue " + std::to_string(c.q) + ": FETCH_REQ: " + errno_text(-r);
    return r;
  }
  return 0;
}

void QueueServer::serve() {
  Impl& m = *impl_;
  for (;;) {
    if (m.live_tags == 0 && m.ioq->outstanding() == 0) break;
    // After a stop, what the engine holds still comes back (the server's shutdown cancels
    // it) but only when its driver lets go: until then the driver may write into the
    // tag's buffer, so the thread goes on reaping and committing. The server bounds that
    // wait and leaves the process if the driver never lets go.
    if (m.stopping && m.ioq->outstanding() == 0) break;

    int64_t due = m.ioq->next_timer_ns();
    if (m.stopping) due = (due < 0 || due > now_ns() + 10'000'000) ? now_ns() + 10'000'000 : due;
    __kernel_timespec ts{};
    __kernel_timespec* tsp = nullptr;
    if (due >= 0) {
      int64_t d = due - now_ns();
      if (d < 0) d = 0;
      ts.tv_sec = d / 1'000'000'000;
      ts.tv_nsec = d % 1'000'000'000;
      tsp = &ts;
    }
    io_uring_cqe* cqe = nullptr;
    if (m.spin_ns > 0 && !m.stopping && (!tsp || ts.tv_sec > 0 || ts.tv_nsec > m.spin_ns)) {
      // Poll: hand over the commits and run whatever deliveries are queued, without
      // sleeping; if none are, watch the ring's TASKRUN flag for a while before sleeping,
      // so that the submitter's CPU need not wake us (an IPI) for every batch.
      int r = io_uring_submit_and_get_events(&m.ring);
      if (r < 0 && r != -EINTR && r != -EAGAIN && r != -EBUSY) break;
      if (io_uring_cq_ready(&m.ring) == 0) {
        int64_t until = now_ns() + m.spin_ns;
        bool got = false;
        for (unsigned i = 1;; ++i) {
          if (IO_URING_READ_ONCE(*m.ring.sq.kflags) & IORING_SQ_TASKRUN) {
            got = true;
            break;
          }
          if ((i & 31) == 0 && now_ns() > until) break;
          cpu_relax();
        }
        if (got) io_uring_get_events(&m.ring);
      }
    }
    int r = 0;
    if (io_uring_cq_ready(&m.ring) > 0) {
      // the poll above found work
    } else if (tsp && ts.tv_sec == 0 && ts.tv_nsec == 0) {
      r = io_uring_submit_and_get_events(&m.ring);
    } else {
      r = io_uring_submit_and_wait_timeout(&m.ring, &cqe, 1, tsp, nullptr);
    }
    if (r < 0 && r != -ETIME && r != -EINTR && r != -EAGAIN && r != -EBUSY) break;

    unsigned head, seen = 0;
    io_uring_for_each_cqe(&m.ring, head, cqe) {
      m.on_cqe(cqe);
      ++seen;
    }
    io_uring_cq_advance(&m.ring, seen);
    m.reap_engine();
  }
  io_uring_submit(&m.ring);
}

}  // namespace mqblk::ublk
