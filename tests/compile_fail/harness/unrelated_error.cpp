// EXPECT: no member named 'data'
// Harness fixture (must be refused): the MISUSE line compiles; only an unrelated line
// fails, with the expected text.
#include "../common.hpp"
void f(mqblk::Owned<GoodDriver>& a) {
  (void)a.data();  // MISUSE
  (void)mqblk::Ref<GoodDriver>().data;
}
int main() {}
