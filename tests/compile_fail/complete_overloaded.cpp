// EXPECT: static[ _]assert(ion)? failed.*complete must be exactly.*ownership back, by value
// Rule: complete is one function: a correct one plus a by-reference overload is refused.
#include "common.hpp"
struct Drv : GoodDriverOf<Drv> {
  void complete(mqblk::Hctx<Drv>&, mqblk::Owned<Drv> rq) { (void)std::move(rq).end(); }
  void complete(mqblk::Hctx<Drv>&, mqblk::Owned<Drv>& rq) { (void)std::move(rq).end(); }
};
int main() {
  mqblk::DiskLimits l;
  l.capacity_bytes = 1 << 20;
  mqblk::Device<Drv> dev(mqblk::TagSetConfig{}, l, "x");  // MISUSE
}
