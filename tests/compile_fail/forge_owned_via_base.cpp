// EXPECT: is an inaccessible base of
// Rule: a Ref is not a RequestMeta to ordinary code (the first step of a two-step cast).
#include "common.hpp"
void f(mqblk::Ref<GoodDriver>& r) {
  mqblk::RequestMeta<GoodDriver>& m = r;  // MISUSE
  (void)m;
}
int main() {}
