// EXPECT: no member named 'end'
// Rule: a borrow (the timeout callback's view) has no end(): the handler returns a TimeoutAction.
#include "common.hpp"
void f(const mqblk::Borrowed<GoodDriver>& b) {
  (void)b.end(mqblk::Status::ok);  // MISUSE
}
int main() {}
