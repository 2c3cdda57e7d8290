// EXPECT: is private within this context|is a private member
// Rule: teardown (Hctx::drain) is the engine's, not something a driver may run.
#include "common.hpp"
struct Drv {
  using Pdu = mqblk::NoPdu;
  mqblk::QueueRqResult<Drv> queue_rq(mqblk::Hctx<Drv>& h, mqblk::Owned<Drv> rq, bool) {
    h.drain(mqblk::Status::ioerr);  // MISUSE
    (void)std::move(rq).end();
    return mqblk::QueueRqResult<Drv>::accepted();
  }
};
int main() {}
