// EXPECT: is private within this context|is a private member
// Rule: a driver gives a request back by returning QueueRqResult::busy, not requeue().
#include "common.hpp"
struct Drv {
  using Pdu = mqblk::NoPdu;
  mqblk::QueueRqResult<Drv> queue_rq(mqblk::Hctx<Drv>& h, mqblk::Owned<Drv> rq, bool) {
    h.requeue(std::move(rq));  // MISUSE
    (void)std::move(rq).end();
    return mqblk::QueueRqResult<Drv>::accepted();
  }
};
int main() {}
