// EXPECT: use of deleted function|call to deleted constructor
// Rule: a borrow cannot be kept: storing the timeout's Borrowed in a driver member copies it.
#include <vector>

#include "common.hpp"
struct Drv : GoodDriverOf<Drv> {
  struct Seen {
    mqblk::Borrowed<Drv> rq;
  };
  std::vector<Seen> seen;
  mqblk::TimeoutAction timeout(mqblk::Hctx<Drv>&, const mqblk::Borrowed<Drv>& rq) {
    seen.push_back(Seen{rq});  // MISUSE
    return mqblk::TimeoutAction::done;
  }
};
int main() {}
