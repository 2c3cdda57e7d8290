// EXPECT: use of deleted function|overload resolution selected deleted operator|deleted
// Rule: Owned is move-only; copy assignment would duplicate ownership as a copy does.
#include "common.hpp"
void f(mqblk::Owned<GoodDriver>& a, mqblk::Owned<GoodDriver>& b) {
  b = a;  // MISUSE
}
int main() {}
