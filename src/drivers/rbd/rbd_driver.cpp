// drivers/rbd/rbd_driver.cpp - librbd aio under parked requests, and the completion
// callback that takes them back.
#include "drivers/rbd/rbd_driver.hpp"

#include <fmt/format.h>

#include <cerrno>
#include <cstdio>

namespace mqblk::rbd {
namespace {

Status status_of(int err) noexcept {  // err: a negative errno from librbd
  switch (-err) {
    case ENOSPC:
    case EDQUOT: return Status::nospc;
    case EOPNOTSUPP: return Status::notsupp;
    case EROFS: return Status::readonly;
    case ECANCELED: return Status::cancelled;
    case EINVAL: return Status::inval;
    case ETIMEDOUT: return Status::timeout;
    default: return Status::ioerr;
  }
}

const char* step_name(Op op, Step step) noexcept {
  if (step != Step::main) return "flush";
  switch (op) {
    case Op::read: return "read";
    case Op::write: return "write";
    case Op::flush: return "flush";
    case Op::discard: return "discard";
    case Op::write_zeroes: return "write_zeroes";
    default: return "operation";
  }
}

}  // namespace

RbdDriver::RbdDriver(std::shared_ptr<RbdImage> image, unsigned nr_queues, unsigned depth,
                     uint32_t op_timeout_s)
    : image_(std::move(image)),
      img_(image_->image()),
      depth_(depth + kReservedTags),  // the engine's write-backs use the reserved tag too
      op_timeout_s_(op_timeout_s) {
  for (unsigned q = 0; q < nr_queues; ++q) cookies_.push_back(std::make_unique<Cookie[]>(depth_));
}

void RbdDriver::init_hctx(Hctx<RbdDriver>& h) {
  Cookie* c = cookies_[h.index()].get();
  for (unsigned t = 0; t < depth_; ++t) {
    c[t].driver = this;
    c[t].hctx = &h;
  }
}

QueueRqResult<RbdDriver> RbdDriver::queue_rq(Hctx<RbdDriver>& h, Owned<RbdDriver> rq, bool) {
  switch (rq.op()) {
    case Op::read:
    case Op::flush:
    case Op::discard:
    case Op::write_zeroes: rq.pdu().step = Step::main; break;
    case Op::write:
      rq.pdu().step = (rq.flags() & kReqPreflush) ? Step::preflush : Step::main;
      break;
    default: std::move(rq).end(Status::notsupp); return QueueRqResult<RbdDriver>::accepted();
  }
  start(h, std::move(rq));
  return QueueRqResult<RbdDriver>::accepted();
}

void RbdDriver::start(Hctx<RbdDriver>& h, Owned<RbdDriver> rq) {
  Cookie& cookie = cookies_[h.index()][rq.tag()];
  rbd_completion_t comp = nullptr;
  int r = rbd_aio_create_completion(&cookie, &RbdDriver::on_complete, &comp);
  if (r < 0) {
    report_error(rq, rq.pdu().step, r);
    std::move(rq).end(Status::busy);
    return;
  }
  // What the operation needs, read while rq is still ours: after park() only the
  // callback's claim reaches it.
  const Op op = rq.op();
  const Step step = rq.pdu().step;
  const uint64_t off = rq.offset();
  const uint32_t len = rq.bytes();
  char* buf = reinterpret_cast<char*>(rq.data());
  const RequestId id = std::move(rq).park();
  // Release: the callback's acquire load sees it (librbd orders the call before its
  // callback too, but in code sanitizers do not see).
  cookie.id.store(id.raw(), std::memory_order_release);
  if (step != Step::main || op == Op::flush)
    r = rbd_aio_flush(img_, comp);
  else if (op == Op::read)
    r = rbd_aio_read(img_, off, len, buf, comp);
  else if (op == Op::write)
    r = rbd_aio_write(img_, off, len, buf, comp);
  else if (op == Op::discard)
    r = rbd_aio_discard(img_, off, len, comp);
  else
    r = rbd_aio_write_zeroes(img_, off, len, comp, 0, 0);
  if (r >= 0) return;
  // librbd refused the operation at once (it reports errors through the completion in
  // 16.2, so this is a guard): whoever claims the request ends it, exactly once.
  Owned<RbdDriver> back = h.claim(id);
  if (!back) return;  // the callback ran after all and ended it
  rbd_aio_release(comp);
  report_error(back, step, r);
  std::move(back).end(status_of(r));
}

// On a librbd thread. Releasing the completion here is allowed (librbd holds its own
// reference while it calls back), and only the party that claimed the request does it.
void RbdDriver::on_complete(rbd_completion_t comp, void* arg) {
  Cookie& cookie = *static_cast<Cookie*>(arg);
  const ssize_t ret = rbd_aio_get_return_value(comp);
  const RequestId id = RequestId::from_raw(cookie.id.load(std::memory_order_acquire));
  Owned<RbdDriver> rq = cookie.hctx->claim(id);
  if (!rq) {  // a completion for a request not parked here: a bug, not a user's
    std::fprintf(stderr,
                 "rbd: queue %u: completion for request %u (generation %llu) that is not "
                 "parked here; ignored\n",
                 cookie.hctx->index(), id.tag(), static_cast<unsigned long long>(id.generation()));
    return;
  }
  rbd_aio_release(comp);
  cookie.driver->finish(std::move(rq), ret);
}

void RbdDriver::finish(Owned<RbdDriver> rq, ssize_t ret) {
  RbdPdu& p = rq.pdu();
  if (ret < 0) {
    report_error(rq, p.step, static_cast<int>(ret));
    std::move(rq).end(status_of(static_cast<int>(ret)));
    return;
  }
  if (p.step == Step::main && rq.op() == Op::read && static_cast<uint64_t>(ret) < rq.bytes()) {
    // The image shrank under us (another client resized it): the tail does not exist.
    report_error(rq, p.step, -EIO);
    std::move(rq).end(Status::ioerr);
    return;
  }
  Hctx<RbdDriver>& h = rq.hctx();
  switch (p.step) {
    case Step::preflush:
      p.step = Step::main;
      start(h, std::move(rq));
      return;
    case Step::main:
      if (rq.op() == Op::write && rq.fua()) {
        p.step = Step::fua_flush;
        start(h, std::move(rq));
        return;
      }
      break;
    case Step::fua_flush: break;
  }
  std::move(rq).end(Status::ok);
}

// The engine ends the request with Status::timeout for the submitter; the request stays
// parked until librbd answers, within op_timeout. One line for each of the first 16.
TimeoutAction RbdDriver::timeout(Hctx<RbdDriver>& h, const Borrowed<RbdDriver>& rq) {
  if (timeouts_reported_.fetch_add(1, std::memory_order_relaxed) < 16)
    std::fprintf(stderr,
                 "rbd: queue %u: %s of %u bytes at offset %llu timed out; librbd still has it "
                 "and gives it back within op_timeout=%us\n",
                 h.index(), step_name(rq.op(), Step::main), rq.bytes(),
                 static_cast<unsigned long long>(rq.offset()), op_timeout_s_);
  return TimeoutAction::done;
}

// One line per failed request, for the first 16 (a failing cluster must not flood the log).
void RbdDriver::report_error(const Owned<RbdDriver>& rq, Step step, int err) noexcept {
  if (errors_reported_.fetch_add(1, std::memory_order_relaxed) >= 16) return;
  std::fprintf(stderr, "rbd: queue %u: %s of %u bytes at offset %llu failed: %s%s\n", rq.hw_queue(),
               step_name(rq.op(), step), rq.bytes(), static_cast<unsigned long long>(rq.offset()),
               errno_text(-err).c_str(),
               err == -ETIMEDOUT ? " (no answer within op_timeout: is the cluster up?)" : "");
}

}  // namespace mqblk::rbd
