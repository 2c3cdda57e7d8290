// A well-formed driver, shared by the compile-fail programs: each misuses it in one way.
#pragma once
#include "mqblk/device.hpp"

struct GoodDriver {
  using Pdu = mqblk::NoPdu;
  mqblk::QueueRqResult<GoodDriver> queue_rq(mqblk::Hctx<GoodDriver>&, mqblk::Owned<GoodDriver> rq,
                                            bool) {
    (void)std::move(rq).end(mqblk::Status::ok);
    return mqblk::QueueRqResult<GoodDriver>::accepted();
  }
};
