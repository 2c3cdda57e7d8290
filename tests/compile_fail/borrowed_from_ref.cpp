// EXPECT: no matching (function for call to|constructor for initialization of)
// Rule: only the engine makes a Borrowed: there is no Borrowed from a Ref.
#include "common.hpp"
void f(const mqblk::Ref<GoodDriver>& r) {
  mqblk::Borrowed<GoodDriver> b(r);  // MISUSE
  (void)b.tag();
}
int main() {}
