// EXPECT: discards qualifiers|cannot bind|not viable|rvalue
// end() consumes the handle: it must be called on an rvalue, std::move(rq).end().
#include "common.hpp"
void f(mqblk::Owned<GoodDriver>& rq) { (void)rq.end(); }
int main() {}
