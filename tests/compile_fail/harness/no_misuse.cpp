// EXPECT: use of deleted function|call to deleted constructor
// Harness fixture (must be refused): no line is marked as the misuse.
#include "../common.hpp"
void f(mqblk::Owned<GoodDriver>& a) { mqblk::Owned<GoodDriver> b = a; }
int main() {}
