// EXPECT: static[ _]assert(ion)? failed.*must declare its per-request data type
// Rule: a driver without `using Pdu` gets device.hpp's readable error, at the Device it makes.
#include "mqblk/device.hpp"
struct NoPduDriver {};
int main() {
  mqblk::DiskLimits l;
  l.capacity_bytes = 1 << 20;
  mqblk::Device<NoPduDriver> dev(mqblk::TagSetConfig{}, l, "x");  // MISUSE
}
