// EXPECT: is private within this context|private constructor
// Harness fixture (must be refused): the marked line errs, but not with the expected error.
#include "../common.hpp"
void f(mqblk::Owned<GoodDriver>& a) {
  mqblk::Owned<GoodDriver> b = a;  // MISUSE
}
int main() {}
