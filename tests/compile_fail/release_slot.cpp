// EXPECT: is private within this context|is a private member
// Rule: an Owned gives up its slot only to the engine: release_slot() is private.
#include "common.hpp"
void f(mqblk::Owned<GoodDriver> rq) {
  mqblk::detail::RequestSlot* s = std::move(rq).release_slot();  // MISUSE
  (void)s;
}
int main() {}
