// drivers/rbd/rbd_config.cpp - parsing of the rbd driver's key=value attributes.
#include "drivers/rbd/rbd_config.hpp"

#include <fmt/format.h>

#include <charconv>
#include <cstdlib>
#include <cstring>
#include <string_view>

namespace mqblk::rbd {
namespace {

using std::string_view;

[[noreturn]] void fail(string_view key, string_view value, string_view what) {
  throw ConfigError(fmt::format("rbd: {}={}: {}", key, value, what));
}

bool parse_bool(string_view key, string_view v) {
  if (v == "1" || v == "true" || v == "yes" || v == "on") return true;
  if (v == "0" || v == "false" || v == "no" || v == "off") return false;
  fail(key, v, "must be 0 or 1 (also true/false, yes/no, on/off)");
}

uint64_t parse_uint(string_view key, string_view v, uint64_t lo, uint64_t hi) {
  uint64_t n = 0;
  auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
  if (ec != std::errc() || p != v.data() + v.size() || n < lo || n > hi)
    fail(key, v, fmt::format("must be a whole number between {} and {}", lo, hi));
  return n;
}

// Seconds, decimals allowed, or an "ms" suffix (the engine's request timeout).
uint64_t parse_seconds_ns(string_view key, string_view v) {
  std::string s(v);
  bool ms = s.size() > 2 && s.compare(s.size() - 2, 2, "ms") == 0;
  if (ms) s.resize(s.size() - 2);
  char* end = nullptr;
  double d = std::strtod(s.c_str(), &end);
  if (s.empty() || end != s.c_str() + s.size() || !(d > 0))
    fail(key, v, "must be a positive number of seconds (decimals allowed, or an ms suffix)");
  double ns = d * (ms ? 1e6 : 1e9);
  if (ns < 1e6 || ns > 86400e9) fail(key, v, "must be between 0.001 and 86400 seconds");
  return static_cast<uint64_t>(ns);
}

// Ceph's names: no '/', '@' or whitespace in a pool, image or snapshot name given here
// (`rbd` would read them as separators).
void check_name(string_view key, string_view v) {
  for (char ch : v)
    if (ch == '/' || ch == '@' || ch == ' ' || ch == '\t')
      fail(key, v, "must not contain '/', '@' or spaces (give pool, image and snap separately)");
}

}  // namespace

RbdConfig parse_rbd_config(const std::vector<std::string>& kv) {
  RbdConfig c;
  std::vector<std::string> seen;
  for (const std::string& item : kv) {
    size_t eq = item.find('=');
    if (eq == std::string::npos)
      throw ConfigError(fmt::format(
          "rbd: '{}' has no '=': attributes are key=value (pool=rbd image=disk)", item));
    string_view key(item.data(), eq), value(item.data() + eq + 1, item.size() - eq - 1);
    if (value.empty()) fail(key, value, "empty value");
    for (const auto& k : seen)
      if (k == key) fail(key, value, "given twice: give it once");
    seen.emplace_back(key);
    if (key == "pool") {
      check_name(key, value);
      c.pool = std::string(value);
    } else if (key == "image") {
      check_name(key, value);
      c.image = std::string(value);
    } else if (key == "snap") {
      check_name(key, value);
      c.snap = std::string(value);
    } else if (key == "conf") {
      c.conf = std::string(value);
    } else if (key == "id") {
      c.id = std::string(value.substr(value.starts_with("client.") ? 7 : 0));
      if (c.id.empty()) fail(key, value, "names no client: give the name after client. (id=admin)");
    } else if (key == "keyring") {
      c.keyring = std::string(value);
    } else if (key == "readonly") {
      c.readonly = parse_bool(key, value);
    } else if (key == "op_timeout") {
      c.op_timeout_s = static_cast<uint32_t>(parse_uint(key, value, 1, 3600));
    } else if (key == "submit_queues") {
      c.submit_queues = static_cast<uint32_t>(parse_uint(key, value, 1, 256));
    } else if (key == "hw_queue_depth") {
      c.hw_queue_depth = static_cast<uint32_t>(parse_uint(key, value, 1, 4096));
    } else if (key == "request_timeout") {
      c.request_timeout_ns = parse_seconds_ns(key, value);
    } else {
      fail(key, value,
           "unknown attribute (the rbd driver takes pool, image, conf, id, keyring, snap, "
           "readonly, op_timeout, submit_queues, hw_queue_depth, request_timeout; see `mqblk "
           "features`)");
    }
  }
  if (c.pool.empty())
    throw ConfigError("rbd: no pool given: name the image's pool (rbd pool=rbd image=disk)");
  if (c.image.empty())
    throw ConfigError("rbd: no image given: name the RBD image (rbd pool=rbd image=disk)");
  if (!c.snap.empty() && !c.readonly)
    throw ConfigError(
        fmt::format("rbd: snap={}: a snapshot cannot be written: add readonly=1", c.snap));
  return c;
}

std::string errno_text(int err) {
  char buf[128];
  return strerror_r(err, buf, sizeof buf);  // GNU: returns the message (maybe not in buf)
}

std::vector<mqblk::AttributeInfo> rbd_attributes() {
  return {
      {"pool", "", "name", "the pool that holds the image (required)"},
      {"image", "", "name", "the RBD image to serve (required); its size is the device's"},
      {"conf", "librados's search", "path",
       "ceph.conf naming the monitors (default: $CEPH_CONF, /etc/ceph/ceph.conf, ...)"},
      {"id", "admin", "name", "the cephx client name, without client. (client.ID)"},
      {"keyring", "the conf's keyring", "path", "the keyring holding client.ID's key"},
      {"snap", "", "name", "serve this snapshot of the image (needs readonly=1)"},
      {"readonly", "0", "bool", "open the image read-only and refuse writes"},
      {"op_timeout", "30", "s",
       "bound on connecting and on every mon/OSD operation: a stuck or stopped cluster "
       "fails requests after this long (rados_osd_op_timeout, rados_mon_op_timeout, "
       "client_mount_timeout)"},
      {"submit_queues", "1", "", "hardware queues (all share one librbd image handle)"},
      {"hw_queue_depth", "128", "", "tags per hardware queue (1..4096)"},
      {"request_timeout", "30", "s",
       "a request not ended after this long is reported timed out (it stays with librbd until "
       "librbd answers)"},
  };
}

}  // namespace mqblk::rbd
