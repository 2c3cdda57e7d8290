// EXPECT: is private within this context|is a private member
// Rule: a driver cannot hand a slot to queue_rq itself: Hctx::dispatch is private.
#include "common.hpp"
struct Drv {
  using Pdu = mqblk::NoPdu;
  mqblk::QueueRqResult<Drv> queue_rq(mqblk::Hctx<Drv>& h, mqblk::Owned<Drv> rq, bool) {
    h.dispatch(nullptr, true);  // MISUSE
    (void)std::move(rq).end();
    return mqblk::QueueRqResult<Drv>::accepted();
  }
};
int main() {}
