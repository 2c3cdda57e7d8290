// Use after end: C++ cannot refuse it at compile time (end() moves out of the handle),
// so it is caught at run time by a debug assertion (tests/unit/test_ownership.cpp) and
// here, where clang-tidy's bugprone-use-after-move can see it.
#include "mqblk/device.hpp"

struct D {
  using Pdu = mqblk::NoPdu;
  mqblk::QueueRqResult<D> queue_rq(mqblk::Hctx<D>&, mqblk::Owned<D> rq, bool) {
    (void)std::move(rq).end(mqblk::Status::ok);
    (void)std::move(rq).end(mqblk::Status::ok);  // the bug clang-tidy must report
    return mqblk::QueueRqResult<D>::accepted();
  }
};
