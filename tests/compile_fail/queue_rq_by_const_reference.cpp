// EXPECT: static[ _]assert(ion)? failed.*it receives ownership of each request, by value
// Rule: queue_rq takes the request by value (ownership), never as const Owned<D>&.
#include "mqblk/device.hpp"
struct Drv {
  using Pdu = mqblk::NoPdu;
  mqblk::QueueRqResult<Drv> queue_rq(mqblk::Hctx<Drv>&, const mqblk::Owned<Drv>& rq, bool) {
    (void)rq.tag();
    return mqblk::QueueRqResult<Drv>::accepted();
  }
};
int main() {
  mqblk::DiskLimits l;
  l.capacity_bytes = 1 << 20;
  mqblk::Device<Drv> dev(mqblk::TagSetConfig{}, l, "x");  // MISUSE
}
