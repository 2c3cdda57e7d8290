// EXPECT: could not convert|no viable conversion|conversion from
// A counted reference is not ownership either.
#include "common.hpp"
void takes_ownership(mqblk::Owned<GoodDriver>) {}
void f(mqblk::Ref<GoodDriver> r) { takes_ownership(std::move(r)); }
int main() {}
