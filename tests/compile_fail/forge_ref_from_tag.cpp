// EXPECT: is private within this context|is a private member
// Rule: a driver finds a request by its RequestId (lookup), not by a bare tag.
#include "common.hpp"
struct Drv {
  using Pdu = mqblk::NoPdu;
  mqblk::QueueRqResult<Drv> queue_rq(mqblk::Hctx<Drv>& h, mqblk::Owned<Drv> rq, bool) {
    mqblk::Ref<Drv> other = h.lookup_current(rq.tag() + 1);  // MISUSE
    (void)std::move(rq).end();
    return mqblk::QueueRqResult<Drv>::accepted();
  }
};
int main() {}
