// The control: correct use compiles. If this fails, the harness (not the API) is broken.
#include "common.hpp"
int main() {
  mqblk::DiskLimits l;
  l.capacity_bytes = 1 << 20;
  mqblk::Device<GoodDriver> dev(mqblk::TagSetConfig{}, l, "ok");
  return 0;
}
