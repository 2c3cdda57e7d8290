// The control for timeout's other accepted form: `const Borrowed<D>&`, on a CRTP driver.
#include "common.hpp"
struct Drv : GoodDriverOf<Drv> {
  mqblk::TimeoutAction timeout(mqblk::Hctx<Drv>&, const mqblk::Borrowed<Drv>& rq) {
    return rq.sector() ? mqblk::TimeoutAction::reset_timer : mqblk::TimeoutAction::done;
  }
};
int main() {
  mqblk::DiskLimits l;
  l.capacity_bytes = 1 << 20;
  mqblk::Device<Drv> dev(mqblk::TagSetConfig{}, l, "ok");
}
