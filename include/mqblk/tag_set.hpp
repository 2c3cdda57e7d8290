// mqblk/tag_set.hpp - the shape of a device's request space.
#pragma once

#include <cstdint>
#include <string>

namespace mqblk {

// Where request tags come from.
enum class TagSource : uint8_t {
  engine,    // the engine allocates tags (in process, NBD)
  external,  // a frontend names the tag (ublk: the kernel's tag t of queue q); submit_tag only
};

// Invariants (checked by validate()): 1 <= nr_hw_queues <= 256, 1 <= queue_depth <= 4096,
// timeout_ns > 0. Each hardware queue has queue_depth preallocated requests.
struct TagSetConfig {
  unsigned nr_hw_queues = 1;
  unsigned queue_depth = 64;
  uint64_t timeout_ns = 5'000'000'000ull;  // per-request deadline, as the kernel's 5 s
  bool blocking = false;  // queue_rq may sleep: frontends must call it off their event loop
  TagSource tag_source = TagSource::engine;

  std::string validate() const;  // empty when valid, else one line
};

}  // namespace mqblk
