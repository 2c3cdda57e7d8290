// nbd/io_thread.hpp - one event loop per hardware queue, serving its share of connections.
//
// Each IoThread owns the IoQueue of one hardware queue (IoQueue is single-threaded), a
// payload pool and an epoll set with its connections' sockets, the queue's eventfd (for
// completions ended on other threads) and a wake eventfd (new connections, stop). One loop
// iteration: wait, read what the sockets have (many requests per recv), submit, reap,
// send each connection's replies with one sendmsg. Nothing on this path is shared with
// other threads, so nothing on it takes a lock; the mailbox mutex is taken only to hand
// over a new connection.
//
// Adaptive polling: for poll_us after the last event the thread polls epoll without
// sleeping (each poll is one syscall), and only then sleeps in it. A sleeping server costs
// every client send a wake-up (in a VM, an IPI to an idle vCPU: tens of microseconds at
// QD1); a polling one is found running. An idle server still sleeps: the window restarts
// only when something arrives.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "mqblk/block_device.hpp"
#include "nbd/connection.hpp"
#include "nbd/export.hpp"

namespace mqblk::nbd {

// Payload memory per I/O thread (see PayloadPool): the server's bound is this times the
// number of hardware queues, plus 256 KiB of receive buffer per connection.
inline constexpr size_t kPoolCapPerThread = 128u << 20;

// How long clients get to read their last replies after a stop before they are cut off.
inline constexpr int64_t kStopGraceNs = 5'000'000'000;

class IoThread {
 public:
  IoThread(BlockDevice& dev, const ExportInfo& exp, const ConnPolicy& policy, unsigned hw_queue,
           unsigned poll_us);
  ~IoThread();
  IoThread(const IoThread&) = delete;
  IoThread& operator=(const IoThread&) = delete;

  // Hands over an accepted, non-blocking socket. Any thread.
  void add_connection(int fd);
  // Stops reading new requests, answers those in flight, closes every connection, exits.
  // The thread exits only once every request it submitted came back, however long the
  // driver holds one. Any thread; wait_finished() and join() wait for it.
  void stop();
  // Whether the thread has exited, waiting until `by` at most.
  bool wait_finished(std::chrono::steady_clock::time_point by);
  void join();

 private:
  void run();
  void adopt_new();
  void reap_all(bool& progress);
  void service(bool& progress);
  void run_list(std::vector<Connection*>& list, void (Connection::*fn)());
  void drop_finished();
  int64_t timeout_ns(int64_t now) const;
  void check_timeouts(int64_t now);
  void adapt_poll_window(int64_t idle);

  std::unique_ptr<IoQueue> q_;
  std::unique_ptr<ThreadCtx> ctx_;
  unsigned nslots_;
  int epfd_ = -1;
  int wakefd_ = -1;
  std::mutex mu_;
  std::vector<int> incoming_;  // guarded by mu_
  std::atomic<bool> stop_{false};
  bool stopping_ = false;
  uint64_t retry_mark_ = 0;  // ctx_->released when blocked connections were last retried
  int64_t stop_deadline_ = 0;
  int64_t poll_ns_ = 0;      // --poll-us: the longest polling window
  int64_t poll_cur_ns_ = 0;  // the window now, 0..poll_ns_ (see adapt_poll_window)
  // A window that halves below this is closed; a closed one that grows reopens at it.
  static constexpr int64_t kPollMinNs = 5'000;
  int64_t last_event_ns_ = 0;   // when epoll last returned something
  int64_t sweep_every_ns_ = 0;  // how often connections' timeouts are checked (0: never)
  int64_t next_sweep_ns_ = 0;
  std::vector<std::unique_ptr<Connection>> conns_;
  std::vector<Connection*> batch_;  // run_list's scratch: empty between calls
  std::mutex done_mu_;
  std::condition_variable done_cv_;
  bool done_ = false;  // guarded by done_mu_: run() returned
  std::thread th_;
};

}  // namespace mqblk::nbd
