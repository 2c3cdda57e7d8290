// EXPECT: has no member named 'segment'|no member named 'segment'
// Rule: a Ref reaches metadata only: no segment() either (the data of a segmented request).
#include "common.hpp"
void f(const mqblk::Ref<GoodDriver>& r) {
  (void)r.segment(0);  // MISUSE
}
int main() {}
