// drivers/rbd/rbd_config.hpp - the rbd driver's attributes, parsed from key=value items.
//
// `rbd pool=P image=I [conf=PATH] [id=NAME] [keyring=PATH] [snap=S] [readonly=1]
// [op_timeout=S] [submit_queues=N] [hw_queue_depth=N] [request_timeout=S]`. Parsing is pure
// (it connects to nothing); every mistake is a ConfigError whose what() is one line
// "rbd: KEY=VALUE: what is wrong (how to fix)". docs/rbd.md has the table.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "mqblk/registry.hpp"

namespace mqblk::rbd {

struct RbdConfig {
  std::string pool;     // required
  std::string image;    // required
  std::string conf;     // empty: librados's search (CEPH_CONF, /etc/ceph/ceph.conf, ...)
  std::string id;       // the client's name without "client." (empty: admin, librados's default)
  std::string keyring;  // empty: what the conf names
  std::string snap;     // empty: the image itself; else that snapshot (needs readonly)
  bool readonly = false;
  // Bound on every mon and OSD operation (and on connecting): a stopped cluster turns into
  // errors after this long instead of hanging, since librbd cannot cancel an aio.
  uint32_t op_timeout_s = 30;
  uint32_t submit_queues = 1;
  uint32_t hw_queue_depth = 128;
  uint64_t request_timeout_ns = 30'000'000'000;  // the engine reports a request this late
};

// Throws ConfigError (one line) on an unknown key, a missing '=', an empty value, a value
// given twice, a bad number, a missing pool or image, a snap without readonly=1.
RbdConfig parse_rbd_config(const std::vector<std::string>& kv);

std::vector<mqblk::AttributeInfo> rbd_attributes();

// strerror(err), thread-safe (librbd's threads report errors too).
std::string errno_text(int err);

}  // namespace mqblk::rbd
