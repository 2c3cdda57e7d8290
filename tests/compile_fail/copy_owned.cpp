// EXPECT: use of deleted function|call to deleted constructor
// Copying ownership: two handles could both end the request.
#include "common.hpp"
void f(mqblk::Owned<GoodDriver>& a) {
  mqblk::Owned<GoodDriver> b = a;
  (void)std::move(b).end();
}
int main() {}
