// EXPECT: is private within this context|is a private member
// Rule: a driver cannot reach a request by its tag: Hctx::slot(tag) is the engine's.
#include "common.hpp"
struct Drv {
  using Pdu = mqblk::NoPdu;
  mqblk::QueueRqResult<Drv> queue_rq(mqblk::Hctx<Drv>& h, mqblk::Owned<Drv> rq, bool) {
    mqblk::detail::RequestSlot& other = h.slot(rq.tag() + 1);  // MISUSE
    (void)std::move(rq).end();
    return mqblk::QueueRqResult<Drv>::accepted();
  }
};
int main() {}
