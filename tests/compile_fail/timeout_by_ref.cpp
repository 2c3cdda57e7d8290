// EXPECT: static[ _]assert(ion)? failed.*timeout must be exactly.*borrows the request for the call
// Rule: timeout borrows the request; it may not take it as a Ref<D>, a reference it could keep.
#include "common.hpp"
struct Drv : GoodDriverOf<Drv> {
  mqblk::TimeoutAction timeout(mqblk::Hctx<Drv>&, mqblk::Ref<Drv>) {
    return mqblk::TimeoutAction::done;
  }
};
int main() {
  mqblk::DiskLimits l;
  l.capacity_bytes = 1 << 20;
  mqblk::Device<Drv> dev(mqblk::TagSetConfig{}, l, "x");  // MISUSE
}
