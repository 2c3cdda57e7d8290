// EXPECT: static[ _]assert(ion)? failed.*complete must be exactly.*ownership back, by value
// Rule: complete takes the request back by value (ownership), never as const Owned<D>&.
#include "common.hpp"
struct Drv : GoodDriverOf<Drv> {
  void complete(mqblk::Hctx<Drv>&, const mqblk::Owned<Drv>& rq) { (void)rq.tag(); }
};
int main() {
  mqblk::DiskLimits l;
  l.capacity_bytes = 1 << 20;
  mqblk::Device<Drv> dev(mqblk::TagSetConfig{}, l, "x");  // MISUSE
}
