// EXPECT: is (private|protected) within this context|is a (private|protected) member
// Rule: a handle's slot pointer (the route to the data and to ending it as owner) is private.
#include "common.hpp"
void f(const mqblk::Ref<GoodDriver>& r) {
  mqblk::detail::RequestSlot* s = r.slot_;  // MISUSE
  (void)s;
}
int main() {}
