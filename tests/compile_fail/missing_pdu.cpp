// EXPECT: must declare its per-request data type
// A driver without a Pdu gets a readable error, not a template backtrace.
#include "mqblk/device.hpp"
struct NoPduDriver {};
int main() {
  mqblk::DiskLimits l;
  l.capacity_bytes = 1 << 20;
  mqblk::Device<NoPduDriver> dev(mqblk::TagSetConfig{}, l, "x");
}
