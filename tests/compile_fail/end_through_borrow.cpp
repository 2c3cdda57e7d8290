// EXPECT: no member named .end.
// A borrow (the timeout callback's view) cannot end the request.
#include "common.hpp"
void f(mqblk::Borrowed<GoodDriver> b) { (void)std::move(b).end(mqblk::Status::ok); }
int main() {}
