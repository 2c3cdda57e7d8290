// Harness fixture (must be refused): no EXPECT line, so any error could pass.
#include "../common.hpp"
void f(mqblk::Owned<GoodDriver>& a) {
  mqblk::Owned<GoodDriver> b = a;  // MISUSE
}
int main() {}
