// EXPECT: discards qualifiers|cannot bind|not viable|rvalue
// Rule: end() consumes the handle: it is called on an rvalue, std::move(rq).end().
#include "common.hpp"
void f(mqblk::Owned<GoodDriver>& rq) {
  (void)rq.end();  // MISUSE
}
int main() {}
