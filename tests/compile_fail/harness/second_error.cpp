// EXPECT: no member named 'data'
// Harness fixture (must be refused): the misuse is caught, but the program has another
// error at another line, so it does not show that the misuse alone is refused.
#include "../common.hpp"
void f(const mqblk::Ref<GoodDriver>& r) {
  (void)r.data();  // MISUSE
  undeclared();
}
int main() {}
