// drivers/file/file_config.cpp - parsing of the file driver's key=value attributes.
#include "drivers/file/file_config.hpp"

#include <fmt/format.h>

#include <bit>
#include <charconv>
#include <cstring>
#include <string_view>

namespace mqblk::file {
namespace {

using std::string_view;

[[noreturn]] void fail(string_view key, string_view value, string_view what) {
  throw ConfigError(fmt::format("file: {}={}: {}", key, value, what));
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

// Bytes: a number with an optional K/M/G/T suffix (powers of 1024); a plain number is bytes.
uint64_t parse_bytes(string_view key, string_view v) {
  uint64_t n = 0;
  auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
  string_view suffix(p, static_cast<size_t>(v.data() + v.size() - p));
  unsigned shift = 0;
  if (suffix == "K" || suffix == "k")
    shift = 10;
  else if (suffix == "M" || suffix == "m")
    shift = 20;
  else if (suffix == "G" || suffix == "g")
    shift = 30;
  else if (suffix == "T" || suffix == "t")
    shift = 40;
  else if (!suffix.empty())
    ec = std::errc::invalid_argument;
  if (ec != std::errc() || n == 0 || n > (uint64_t{1} << 50 >> shift))
    fail(key, v, "must be between 1 byte and 1P: a number of bytes, or a K/M/G/T suffix (size=1G)");
  return n << shift;
}

// Seconds, decimals allowed, or an "ms" suffix.
uint64_t parse_seconds(string_view key, string_view v) {
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

}  // namespace

FileConfig parse_file_config(const std::vector<std::string>& kv) {
  FileConfig c;
  std::vector<std::string> seen;
  for (const std::string& item : kv) {
    size_t eq = item.find('=');
    if (eq == std::string::npos)
      throw ConfigError(
          fmt::format("file: '{}' has no '=': attributes are key=value (path=/tmp/disk)", item));
    string_view key(item.data(), eq), value(item.data() + eq + 1, item.size() - eq - 1);
    if (value.empty()) fail(key, value, "empty value");
    for (const auto& k : seen)
      if (k == key) fail(key, value, "given twice: give it once");
    seen.emplace_back(key);
    if (key == "path") {
      c.path = std::string(value);
    } else if (key == "direct") {
      if (value == "auto")
        c.direct = DirectMode::automatic;
      else
        c.direct = parse_bool(key, value) ? DirectMode::on : DirectMode::off;
    } else if (key == "size") {
      c.size_bytes = parse_bytes(key, value);
    } else if (key == "readonly") {
      c.readonly = parse_bool(key, value);
    } else if (key == "blocksize" || key == "bs") {
      c.blocksize = static_cast<uint32_t>(parse_uint(key, value, 512, 4096));
      if (!std::has_single_bit(c.blocksize))
        fail(key, value, "must be a power of two between 512 and 4096 (blocksize=4096)");
    } else if (key == "submit_queues") {
      c.submit_queues = static_cast<uint32_t>(parse_uint(key, value, 1, 256));
    } else if (key == "hw_queue_depth") {
      c.hw_queue_depth = static_cast<uint32_t>(parse_uint(key, value, 1, 4096));
    } else if (key == "request_timeout") {
      c.request_timeout_ns = parse_seconds(key, value);
    } else {
      fail(key, value,
           "unknown attribute (the file driver takes path, direct, size, readonly, blocksize, "
           "submit_queues, hw_queue_depth, request_timeout; see `mqblk features`)");
    }
  }
  if (c.path.empty())
    throw ConfigError(
        "file: no path given: name the file or block device (file path=/tmp/disk.img)");
  return c;
}

std::string errno_text(int err) {
  char buf[128];
  return strerror_r(err, buf, sizeof buf);  // GNU: returns the message (maybe not in buf)
}

std::vector<mqblk::AttributeInfo> file_attributes() {
  return {
      {"path", "", "path", "the regular file or block device to serve (required)"},
      {"direct", "auto", "bool",
       "1: O_DIRECT (refused where the file system does not allow it); 0: buffered; auto: "
       "O_DIRECT where allowed, else buffered"},
      {"size", "the file's size", "bytes",
       "device size (K/M/G/T suffixes): larger grows the file (a missing file is created), "
       "smaller serves its first bytes"},
      {"readonly", "0", "bool", "open read-only and refuse writes"},
      {"blocksize", "512, or the O_DIRECT alignment", "bytes",
       "logical block size, a power of two 512..4096 (alias bs)"},
      {"submit_queues", "1", "", "hardware queues, each with its own io_uring and reaper thread"},
      {"hw_queue_depth", "128", "", "tags per hardware queue (1..4096)"},
      {"request_timeout", "30", "s", "a request not ended after this long times out"},
  };
}

}  // namespace mqblk::file
