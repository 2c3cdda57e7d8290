// EXPECT: is private within this context|private constructor
// Rule: only the engine makes an Owned: its constructor from a slot is private.
#include "common.hpp"
void f(mqblk::detail::RequestSlot* s) {
  mqblk::Owned<GoodDriver> o(s);  // MISUSE
  (void)std::move(o).end();
}
int main() {}
