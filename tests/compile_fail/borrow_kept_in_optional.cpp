// EXPECT: use of deleted function|call to deleted constructor|no matching (member )?function
// Rule: a borrow cannot be kept: std::optional cannot hold a copy of the timeout's Borrowed.
#include <optional>

#include "common.hpp"
struct Drv : GoodDriverOf<Drv> {
  std::optional<mqblk::Borrowed<Drv>> last;
  mqblk::TimeoutAction timeout(mqblk::Hctx<Drv>&, const mqblk::Borrowed<Drv>& rq) {
    last.emplace(rq);  // MISUSE
    return mqblk::TimeoutAction::done;
  }
};
int main() {}
