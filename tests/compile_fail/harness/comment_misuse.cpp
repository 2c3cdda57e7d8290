// EXPECT: use of deleted function|call to deleted constructor
// Harness fixture (must be refused): the MISUSE mark stands on a line without code.
#include "../common.hpp"
void f(mqblk::Owned<GoodDriver>& a) {
  // MISUSE
  mqblk::Owned<GoodDriver> b = a;
}
int main() {}
