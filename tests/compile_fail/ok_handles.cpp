// The control for the handle misuses: the correct counterpart of each compiles.
#include <optional>
#include <vector>

#include "common.hpp"
using D = GoodDriver;
std::vector<mqblk::Ref<D>> timers;
std::optional<mqblk::Owned<D>> held;
void owner(mqblk::Hctx<D>& h, mqblk::Owned<D> rq) {
  (void)rq.data();  // only the owner reaches the data
  (void)rq.segment_count();
  mqblk::Owned<D> moved = std::move(rq);  // moving ownership, not copying it
  held.emplace(std::move(moved));         // keeping an Owned is moving it
  mqblk::Owned<D> back = std::move(*held);
  mqblk::RequestId id = std::move(back).park();  // handing it on by id ...
  mqblk::Owned<D> claimed = h.claim(id);         // ... and taking it back
  mqblk::Ref<D> r = std::move(claimed).share();  // a Ref for a timer
  timers.push_back(r);                           // Refs are copyable
  mqblk::Ref<D> found = h.lookup(r.id());        // lookup by id, not by tag
  (void)found.tag();
  (void)found.try_end(mqblk::Status::ok);
}
void ender(mqblk::Owned<D> rq) { (void)std::move(rq).end(mqblk::Status::ok); }
void borrower(const mqblk::Borrowed<D>& b) { (void)b.tag(), (void)b.sector(), (void)b.pdu(); }
int main() {}
