// Well-formed drivers, shared by the compile-fail programs: each misuses one in one way.
#pragma once
#include "mqblk/device.hpp"

// A minimal correct driver: D is the driver class itself (CRTP), so that a test can add
// one wrong callback to an otherwise correct driver.
template <class D>
struct GoodDriverOf {
  using Pdu = mqblk::NoPdu;
  mqblk::QueueRqResult<D> queue_rq(mqblk::Hctx<D>&, mqblk::Owned<D> rq, bool) {
    (void)std::move(rq).end(mqblk::Status::ok);
    return mqblk::QueueRqResult<D>::accepted();
  }
};

struct GoodDriver : GoodDriverOf<GoodDriver> {};
