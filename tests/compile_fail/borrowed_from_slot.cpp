// EXPECT: is private within this context|private constructor
// Rule: only the engine makes a Borrowed: its constructor from a slot is private.
#include "common.hpp"
void f(mqblk::detail::RequestSlot* s) {
  mqblk::Borrowed<GoodDriver> b(s);  // MISUSE
  (void)b.tag();
}
int main() {}
