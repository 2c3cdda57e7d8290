// EXPECT: invalid 'static_cast'|cannot bind|not allowed|is not allowed
// Rule: a Ref cannot be cast to an Owned (to reach its data or end it as the owner).
#include "common.hpp"
void f(mqblk::Ref<GoodDriver>& r) {
  auto& o = static_cast<mqblk::Owned<GoodDriver>&>(r);  // MISUSE
  (void)o.data();
}
int main() {}
