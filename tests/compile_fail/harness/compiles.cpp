// EXPECT: use of deleted function
// Harness fixture (must be refused): nothing is wrong here, so it compiles.
#include "../common.hpp"
void f(mqblk::Owned<GoodDriver> a) {
  mqblk::Owned<GoodDriver> b = std::move(a);  // MISUSE
  (void)std::move(b).end();
}
int main() {}
