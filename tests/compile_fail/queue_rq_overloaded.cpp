// EXPECT: static[ _]assert(ion)? failed.*it receives ownership of each request, by value
// Rule: queue_rq is one function: an overload set (here a by-reference twin) is refused.
#include "common.hpp"
struct Drv : GoodDriverOf<Drv> {
  using GoodDriverOf<Drv>::queue_rq;
  mqblk::QueueRqResult<Drv> queue_rq(mqblk::Hctx<Drv>&, mqblk::Owned<Drv>& rq, bool) {
    (void)std::move(rq).end();
    return mqblk::QueueRqResult<Drv>::accepted();
  }
};
int main() {
  mqblk::DiskLimits l;
  l.capacity_bytes = 1 << 20;
  mqblk::Device<Drv> dev(mqblk::TagSetConfig{}, l, "x");  // MISUSE
}
