// EXPECT: it receives ownership of each request
// queue_rq must take the request by value (ownership), not borrow it by reference.
#include "mqblk/device.hpp"
struct ByRefDriver {
  using Pdu = mqblk::NoPdu;
  mqblk::QueueRqResult<ByRefDriver> queue_rq(mqblk::Hctx<ByRefDriver>&,
                                             mqblk::Owned<ByRefDriver>& rq, bool) {
    (void)std::move(rq).end();
    return mqblk::QueueRqResult<ByRefDriver>::accepted();
  }
};
int main() {
  mqblk::DiskLimits l;
  l.capacity_bytes = 1 << 20;
  mqblk::Device<ByRefDriver> dev(mqblk::TagSetConfig{}, l, "x");
}
