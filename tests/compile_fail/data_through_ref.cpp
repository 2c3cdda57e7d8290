// EXPECT: has no member named 'data'|no member named 'data'
// Rule: a Ref reaches metadata only, never the data (only the Owned may touch the buffer).
#include "common.hpp"
void f(const mqblk::Ref<GoodDriver>& r) {
  (void)r.data();  // MISUSE
}
int main() {}
