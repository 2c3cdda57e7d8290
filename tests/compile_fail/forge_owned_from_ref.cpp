// EXPECT: no matching (function for call to|constructor for initialization of)
// Rule: a Ref cannot be turned back into ownership: there is no Owned from a Ref.
#include "common.hpp"
void f(mqblk::Ref<GoodDriver> r) {
  mqblk::Owned<GoodDriver> o(std::move(r));  // MISUSE
  (void)std::move(o).end();
}
int main() {}
