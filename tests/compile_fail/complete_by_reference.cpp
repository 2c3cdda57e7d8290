// EXPECT: static[ _]assert(ion)? failed.*complete must be exactly.*ownership back, by value
// Rule: complete takes the request back by value (ownership), never as Owned<D>&.
#include "common.hpp"
struct Drv : GoodDriverOf<Drv> {
  void complete(mqblk::Hctx<Drv>&, mqblk::Owned<Drv>& rq) { (void)std::move(rq).end(); }
};
int main() {
  mqblk::DiskLimits l;
  l.capacity_bytes = 1 << 20;
  mqblk::Device<Drv> dev(mqblk::TagSetConfig{}, l, "x");  // MISUSE
}
