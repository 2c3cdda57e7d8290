// EXPECT: use of deleted function|call to deleted constructor
// Harness fixture (must be refused): the copy errs on line 6, but MISUSE marks line 7.
#include "../common.hpp"
void f(mqblk::Owned<GoodDriver>& a) {
  mqblk::Owned<GoodDriver> b = std::move(a);
  mqblk::Owned<GoodDriver> c = b;
  (void)std::move(b).end();  // MISUSE
}
int main() {}
