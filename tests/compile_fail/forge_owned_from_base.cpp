// EXPECT: is an inaccessible base of
// Rule: no RequestMeta can be cast down to an Owned (the second step of a two-step cast).
#include "common.hpp"
void f(mqblk::RequestMeta<GoodDriver>& m) {
  auto& o = static_cast<mqblk::Owned<GoodDriver>&>(m);  // MISUSE
  (void)o;
}
int main() {}
