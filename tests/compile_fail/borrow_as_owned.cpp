// EXPECT: could not convert|no viable conversion|conversion from
// Passing a borrow where ownership is needed.
#include "common.hpp"
void takes_ownership(mqblk::Owned<GoodDriver>) {}
void f(mqblk::Borrowed<GoodDriver> b) { takes_ownership(b); }
int main() {}
