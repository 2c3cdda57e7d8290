// EXPECT: could not convert|no viable conversion|no matching function for call to 'takes_ownership'
// Rule: a borrow is not ownership: it cannot be passed where an Owned is needed.
#include "common.hpp"
void takes_ownership(mqblk::Owned<GoodDriver>) {}
void f(const mqblk::Borrowed<GoodDriver>& b) {
  takes_ownership(b);  // MISUSE
}
int main() {}
