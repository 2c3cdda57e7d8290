// EXPECT: static[ _]assert(ion)? failed.*it receives ownership of each request, by value
// Rule: queue_rq is exactly one function, not a template that could deduce a reference.
#include "mqblk/device.hpp"
struct Drv {
  using Pdu = mqblk::NoPdu;
  template <class R>
  mqblk::QueueRqResult<Drv> queue_rq(mqblk::Hctx<Drv>&, R&& rq, bool) {
    (void)std::move(rq).end();
    return mqblk::QueueRqResult<Drv>::accepted();
  }
};
int main() {
  mqblk::DiskLimits l;
  l.capacity_bytes = 1 << 20;
  mqblk::Device<Drv> dev(mqblk::TagSetConfig{}, l, "x");  // MISUSE
}
