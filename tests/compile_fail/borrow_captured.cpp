// EXPECT: use of deleted function|call to deleted constructor
// Rule: a borrow cannot be kept: a lambda (a timer, a thread) cannot capture it by copy.
#include <functional>

#include "common.hpp"
std::function<unsigned()> later;
void f(const mqblk::Borrowed<GoodDriver>& b) {
  later = [b] { return b.tag(); };  // MISUSE
}
int main() {}
