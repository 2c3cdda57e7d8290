// EXPECT: is private within this context|is a private member
// Rule: a driver uses Owned::complete(); Hctx::push_softirq(slot) is the engine's.
#include "common.hpp"
struct Drv {
  using Pdu = mqblk::NoPdu;
  mqblk::QueueRqResult<Drv> queue_rq(mqblk::Hctx<Drv>& h, mqblk::Owned<Drv> rq, bool) {
    h.push_softirq(nullptr);  // MISUSE
    (void)std::move(rq).end();
    return mqblk::QueueRqResult<Drv>::accepted();
  }
};
int main() {}
