// EXPECT: static[ _]assert(ion)? failed.*it receives ownership of each request, by value
// Harness fixture (must be refused): device.hpp's static_assert is instantiated from the
// Device line, so a MISUSE mark on the wrong signature itself does not tie to it.
#include "mqblk/device.hpp"
struct Drv {
  using Pdu = mqblk::NoPdu;
  mqblk::QueueRqResult<Drv> queue_rq(mqblk::Hctx<Drv>&, mqblk::Owned<Drv>& rq, bool) {  // MISUSE
    (void)std::move(rq).end();
    return mqblk::QueueRqResult<Drv>::accepted();
  }
};
int main() {
  mqblk::DiskLimits l;
  l.capacity_bytes = 1 << 20;
  mqblk::Device<Drv> dev(mqblk::TagSetConfig{}, l, "x");
}
