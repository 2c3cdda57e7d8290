// EXPECT: use of deleted function
// EXPECT: .
// Harness fixture (must be refused): two EXPECT lines.
#include "../common.hpp"
void f(mqblk::Owned<GoodDriver>& a) {
  mqblk::Owned<GoodDriver> b = a;  // MISUSE
}
int main() {}
