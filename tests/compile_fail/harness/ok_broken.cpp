// Harness fixture (must be refused): a control (ok_*) that does not compile.
#include "../common.hpp"
void f(mqblk::Owned<GoodDriver>& a) { mqblk::Owned<GoodDriver> b = a; }
int main() {}
