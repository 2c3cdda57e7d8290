// The control for the signature misuses: queue_rq and complete by value, timeout by value.
#include "common.hpp"
struct Drv {
  using Pdu = mqblk::NoPdu;
  mqblk::QueueRqResult<Drv> queue_rq(mqblk::Hctx<Drv>&, mqblk::Owned<Drv> rq, bool last) {
    if (!last) return mqblk::QueueRqResult<Drv>::busy(std::move(rq));
    std::move(rq).complete(mqblk::Status::ok);
    return mqblk::QueueRqResult<Drv>::accepted();
  }
  void complete(mqblk::Hctx<Drv>&, mqblk::Owned<Drv> rq) { (void)std::move(rq).end(); }
  mqblk::TimeoutAction timeout(mqblk::Hctx<Drv>&, mqblk::Borrowed<Drv> rq) {
    return rq.tag() ? mqblk::TimeoutAction::reset_timer : mqblk::TimeoutAction::done;
  }
};
int main() {
  mqblk::DiskLimits l;
  l.capacity_bytes = 1 << 20;
  mqblk::Device<Drv> dev(mqblk::TagSetConfig{}, l, "ok");
}
