// EXPECT: use of deleted function|call to deleted constructor
// Rule: Owned is move-only; a copy would make two owners that could both end the request.
#include "common.hpp"
void f(mqblk::Owned<GoodDriver>& a) {
  mqblk::Owned<GoodDriver> b = a;  // MISUSE
  (void)std::move(b).end();
}
int main() {}
