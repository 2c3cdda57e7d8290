// EXPECT: could not convert|no viable conversion|no matching function for call to 'takes_ownership'
// Rule: a counted reference is not ownership: a Ref cannot become an Owned.
#include "common.hpp"
void takes_ownership(mqblk::Owned<GoodDriver>) {}
void f(mqblk::Ref<GoodDriver> r) {
  takes_ownership(std::move(r));  // MISUSE
}
int main() {}
