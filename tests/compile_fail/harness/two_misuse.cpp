// EXPECT: use of deleted function|call to deleted constructor
// Harness fixture (must be refused): two lines are marked, one misuse per file.
#include "../common.hpp"
void f(mqblk::Owned<GoodDriver>& a) {
  mqblk::Owned<GoodDriver> b = a;  // MISUSE
  mqblk::Owned<GoodDriver> c = a;  // MISUSE
}
int main() {}
