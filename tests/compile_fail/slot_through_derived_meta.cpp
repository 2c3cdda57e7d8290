// EXPECT: is private within this context
// Rule: deriving from RequestMeta gives no access to a handle's slot (it is private).
#include "common.hpp"
struct Peek : mqblk::RequestMeta<GoodDriver> {
  static auto get() { return &Peek::slot_; }  // MISUSE
};
int main() {}
