// EXPECT: has no member named 'data'|no member named 'data'
// Rule: the timeout's Borrowed reaches metadata only, never the data.
#include "common.hpp"
void f(const mqblk::Borrowed<GoodDriver>& b) {
  (void)b.data();  // MISUSE
}
int main() {}
