// EXPECT: use of deleted function|call to deleted constructor
// Rule: a borrow cannot be kept: moving the timeout's Borrowed out of the call is deleted.
#include "common.hpp"
mqblk::TimeoutAction timeout(mqblk::Hctx<GoodDriver>&, mqblk::Borrowed<GoodDriver> b) {
  mqblk::Borrowed<GoodDriver> kept = std::move(b);  // MISUSE
  (void)kept.tag();
  return mqblk::TimeoutAction::done;
}
int main() {}
