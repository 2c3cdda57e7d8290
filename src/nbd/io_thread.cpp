#include "nbd/io_thread.hpp"

#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <stdexcept>
#include <string>
#include <system_error>

#include "mqblk/detail/clock.hpp"

namespace mqblk::nbd {

namespace {
// epoll_event.data.ptr values that are not connections.
char wake_tag;
char queue_tag;
char driver_tag;  // the driver's wait fd: readable until service()'s reap collects it

using detail::now_ns;

void drain_eventfd(int fd) {
  uint64_t v;
  while (::read(fd, &v, sizeof v) > 0) {
  }
}
}  // namespace

IoThread::IoThread(BlockDevice& dev, const ExportInfo& exp, const ConnPolicy& policy,
                   unsigned hw_queue, unsigned poll_us)
    : poll_ns_(int64_t{poll_us} * 1000), poll_cur_ns_(poll_ns_) {
  q_ = dev.open_queue(static_cast<int>(hw_queue));
  ctx_ = std::make_unique<ThreadCtx>(dev, *q_, exp, policy, kPoolCapPerThread);
  // Timeouts are checked every quarter of the shorter limit, at most every second: a
  // connection is closed at most two such intervals after its limit.
  int64_t shortest = 0;
  for (int64_t t : {policy.handshake_timeout_ns, policy.stall_timeout_ns})
    if (t > 0 && (shortest == 0 || t < shortest)) shortest = t;
  if (shortest > 0) sweep_every_ns_ = std::clamp<int64_t>(shortest / 4, 10'000'000, 1'000'000'000);
  nslots_ = std::clamp(dev.queue_depth(), 1u, 256u);
  epfd_ = epoll_create1(EPOLL_CLOEXEC);
  wakefd_ = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (epfd_ < 0 || wakefd_ < 0) throw std::system_error(errno, std::generic_category(), "epoll");
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.ptr = &wake_tag;
  epoll_ctl(epfd_, EPOLL_CTL_ADD, wakefd_, &ev);
  ev.data.ptr = &queue_tag;
  epoll_ctl(epfd_, EPOLL_CTL_ADD, q_->event_fd(), &ev);
  if (int dfd = q_->driver_fd(); dfd >= 0) {
    ev.data.ptr = &driver_tag;
    epoll_ctl(epfd_, EPOLL_CTL_ADD, dfd, &ev);
  }
  th_ = std::thread([this] {
    run();
    std::lock_guard lk(done_mu_);
    done_ = true;
    done_cv_.notify_all();
  });
}

IoThread::~IoThread() {
  stop();
  join();
  // run() returns with requests in the engine only when epoll failed. The queue goes
  // first: destroying it waits until the driver let go of them, and only then may their
  // slots and payload buffers (the connections', the pool's) go.
  q_.reset();
  conns_.clear();
  ctx_.reset();
  if (epfd_ >= 0) ::close(epfd_);
  if (wakefd_ >= 0) ::close(wakefd_);
}

void IoThread::add_connection(int fd) {
  {
    std::lock_guard lk(mu_);
    incoming_.push_back(fd);
  }
  uint64_t one = 1;
  (void)!::write(wakefd_, &one, sizeof one);
}

void IoThread::stop() {
  stop_.store(true, std::memory_order_release);
  uint64_t one = 1;
  (void)!::write(wakefd_, &one, sizeof one);
}

bool IoThread::wait_finished(std::chrono::steady_clock::time_point by) {
  std::unique_lock lk(done_mu_);
  return done_cv_.wait_until(lk, by, [this] { return done_; });
}

void IoThread::join() {
  if (th_.joinable()) th_.join();
}

void IoThread::adopt_new() {
  std::vector<int> fds;
  {
    std::lock_guard lk(mu_);
    fds.swap(incoming_);
  }
  for (int fd : fds) {
    if (stopping_) {
      ::close(fd);
      continue;
    }
    auto c = std::make_unique<Connection>(fd, *ctx_, nslots_, now_ns());
    // Edge-triggered: the connection reads until a short read and is told again only when
    // new bytes arrive, so a blocked connection costs no wake-ups.
    epoll_event ev{};
    ev.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;
    ev.data.ptr = c.get();
    if (epoll_ctl(epfd_, EPOLL_CTL_ADD, fd, &ev) != 0) continue;  // c's destructor closes fd
    Connection* raw = c.get();
    conns_.push_back(std::move(c));
    raw->on_socket_event(true, true, false);  // send the greeting
  }
}

void IoThread::reap_all(bool& progress) {
  IoCompletion done[128];
  for (;;) {
    unsigned n = q_->reap(done, 128);
    for (unsigned i = 0; i < n; i++) {
      // user_data is the Slot's address, set by Connection::pump.
      auto* s = reinterpret_cast<Slot*>(done[i].user_data);  // NOLINT(performance-no-int-to-ptr)
      s->conn->on_part_done(s, done[i].status);
    }
    if (n) progress = true;
    if (n < 128) break;
  }
}

// Runs fn on every connection of list as it is now; those that fn puts back on the list
// stay there for the next round.
void IoThread::run_list(std::vector<Connection*>& list, void (Connection::*fn)()) {
  batch_.swap(list);
  for (Connection* c : batch_) (c->*fn)();
  batch_.clear();
}

void IoThread::service(bool& progress) {
  // Alternate reaping, sending and resuming blocked connections until nothing moves: a
  // sent reply frees a slot, a reaped request frees a tag, and each may unblock a reader.
  for (int round = 0; round < 8; round++) {
    bool moved = false;
    reap_all(moved);
    // Each list is swapped with batch_, whose capacity is kept: the loop allocates nothing
    // once the lists have grown to the number of connections.
    run_list(ctx_->dirty, &Connection::flush);
    if (!ctx_->ready.empty()) {
      run_list(ctx_->ready, &Connection::on_input);
      moved = true;
    }
    // Retry blocked connections when a tag (a reaped completion) or a slot or buffer (a
    // sent reply, here or in an EPOLLOUT handler before this) came back since last time.
    if (!ctx_->retry.empty() && (moved || ctx_->released != retry_mark_)) {
      retry_mark_ = ctx_->released;
      run_list(ctx_->retry, &Connection::on_input);
      moved = true;
    }
    if (!moved && ctx_->dirty.empty()) break;
    progress = true;
  }
}

int64_t IoThread::timeout_ns(int64_t now) const {
  if (!ctx_->ready.empty() || !ctx_->dirty.empty()) return 0;
  int64_t t = -1;
  int64_t next = q_->next_timer_ns();
  if (next >= 0) t = std::max<int64_t>(0, next - now);
  // Blocked on tags that another queue holds (shared tags): poll for them.
  if (!ctx_->retry.empty() && (t < 0 || t > 1'000'000)) t = 1'000'000;
  if (stopping_ && (t < 0 || t > 10'000'000)) t = 10'000'000;
  if (sweep_every_ns_ > 0 && !conns_.empty()) {
    int64_t to_sweep = std::max<int64_t>(0, next_sweep_ns_ - now);
    if (t < 0 || t > to_sweep) t = to_sweep;
  }
  return t;
}

void IoThread::check_timeouts(int64_t now) {
  if (sweep_every_ns_ == 0 || conns_.empty()) return;
  if (now < next_sweep_ns_) return;
  next_sweep_ns_ = now + sweep_every_ns_;
  for (auto& c : conns_) (void)c->check_timeouts(now);
}

void IoThread::drop_finished() {
  auto dead = [](const std::unique_ptr<Connection>& c) { return c->finished(); };
  if (std::none_of(conns_.begin(), conns_.end(), dead)) return;
  auto gone = [](Connection* c) { return c->finished(); };
  std::erase_if(ctx_->retry, gone);
  std::erase_if(ctx_->ready, gone);
  std::erase_if(ctx_->dirty, gone);
  std::erase_if(conns_, dead);
}

// Called when a sleep (the window had run out) ended with an event `idle` ns after the
// previous one. As KVM's halt polling: an event that came within the longest window would
// have been caught by a longer poll, so the window grows; one that came later found the
// thread asleep however long it had polled, so those polls were wasted and it shrinks.
void IoThread::adapt_poll_window(int64_t idle) {
  if (poll_ns_ == 0) return;
  if (idle > poll_ns_) {
    poll_cur_ns_ /= 2;
    if (poll_cur_ns_ < kPollMinNs) poll_cur_ns_ = 0;
  } else if (poll_cur_ns_ < poll_ns_) {
    poll_cur_ns_ = std::min(poll_ns_, std::max(kPollMinNs, poll_cur_ns_ * 2));
  }
}

void IoThread::run() {
  constexpr int kEvents = 64;
  epoll_event evs[kEvents];
  for (;;) {
    if (!stopping_ && stop_.load(std::memory_order_acquire)) {
      stopping_ = true;
      stop_deadline_ = now_ns() + kStopGraceNs;
      for (auto& c : conns_) c->begin_shutdown();
    }
    if (stopping_) {
      // A client that stopped reading its replies is cut off after the grace period.
      if (now_ns() > stop_deadline_) {
        for (auto& c : conns_) c->abort();
      }
      drop_finished();
      // A finished connection has no request in the engine, so none is left either.
      if (conns_.empty()) break;
    }
    // One clock read before the wait and one after it only when it slept or found
    // something: a poll that finds nothing costs the syscall and one clock read.
    int64_t now = now_ns();
    int64_t t = timeout_ns(now);
    // Inside the polling window: look without sleeping.
    if (t != 0 && now - last_event_ns_ < poll_cur_ns_) t = 0;
    timespec ts{};
    timespec* tsp = nullptr;
    if (t >= 0) {
      ts.tv_sec = t / 1000000000;
      ts.tv_nsec = t % 1000000000;
      tsp = &ts;
    }
    int n = epoll_pwait2(epfd_, evs, kEvents, tsp, nullptr);
    if (n < 0 && errno != EINTR) break;
    bool progress = false;
    if (n > 0 || t != 0) now = now_ns();
    if (n > 0) {
      if (t != 0) adapt_poll_window(now - last_event_ns_);
      last_event_ns_ = now;
    }
    for (int i = 0; i < n; i++) {
      void* p = evs[i].data.ptr;
      if (p == &wake_tag) {
        drain_eventfd(wakefd_);
        adopt_new();
      } else if (p == &queue_tag) {
        drain_eventfd(q_->event_fd());
      } else if (p == &driver_tag) {
        // Nothing to read: service() reaps, which empties what made it readable.
      } else {
        auto* c = static_cast<Connection*>(p);
        uint32_t e = evs[i].events;
        c->on_socket_event(e & EPOLLIN, e & EPOLLOUT, e & (EPOLLHUP | EPOLLERR | EPOLLRDHUP));
      }
    }
    check_timeouts(now);  // closing a connection frees slots and buffers for service()
    service(progress);
    drop_finished();
  }
  // The connections stay until the destructor: after an epoll failure some may still
  // have requests with the driver, writing into their buffers.
}

}  // namespace mqblk::nbd
