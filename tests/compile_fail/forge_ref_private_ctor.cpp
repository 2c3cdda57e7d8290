// EXPECT: is private within this context|private constructor
// Rule: only the engine makes a Ref from a slot (it adopts a count): that constructor is private.
#include "common.hpp"
void f(mqblk::detail::RequestSlot* s) {
  mqblk::Ref<GoodDriver> r(s);  // MISUSE
  (void)r.try_end(mqblk::Status::ok);
}
int main() {}
