// EXPECT: use of deleted function|call to deleted constructor
// Rule: a borrow cannot be kept: copying the timeout's Borrowed is deleted.
#include "common.hpp"
void f(const mqblk::Borrowed<GoodDriver>& b) {
  mqblk::Borrowed<GoodDriver> kept = b;  // MISUSE
  (void)kept.tag();
}
int main() {}
