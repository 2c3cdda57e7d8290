// drivers/null/null_config.cpp - table-driven parsing of the null device's attributes.
#include "drivers/null/null_config.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <charconv>
#include <cstddef>
#include <limits>
#include <optional>
#include <string_view>
#include <type_traits>
#include <variant>

#include "mqblk/types.hpp"

namespace mqblk::null {
namespace {

using std::string_view;

enum class Kind : uint8_t { uint, integer, bytes, boolean, irqmode, seconds, path };

using Member = std::variant<uint32_t NullConfig::*, uint64_t NullConfig::*, int32_t NullConfig::*,
                            bool NullConfig::*, IrqMode NullConfig::*, std::string NullConfig::*>;

struct Attr;
// An extra check after the range check; throws ConfigError itself. v is the parsed value.
using Check = void (*)(const Attr& a, string_view key, string_view value, int64_t v);

struct Attr {
  string_view name;
  string_view field;  // the attribute it sets: its own name, or the name an alias stands for
  Kind kind;
  Member member;
  unsigned unit_shift;  // bytes: the unit of a plain number (20 = MB, 30 = GB)
  int64_t min;          // inclusive range of the parsed value (bytes / ns for those kinds)
  int64_t max;
  string_view range;    // "must be ..." text for a bad or out-of-range value
  string_view example;  // a valid item, for the "how to fix" part
  string_view unit;     // for `features`
  string_view default_text;
  string_view help;
  bool core;  // always printed by to_attr_string()
  Check check;
};

[[noreturn]] void fail(string_view key, string_view value, string_view what) {
  throw ConfigError(fmt::format("null: {}={}: {}", key, value, what));
}

[[noreturn]] void fail_range(const Attr& a, string_view key, string_view value, string_view what) {
  fail(key, value, fmt::format("{}{} (e.g. {})", what, a.range, a.example));
}

void check_pow2(const Attr& a, string_view key, string_view value, int64_t v) {
  if ((v & (v - 1)) != 0) fail_range(a, key, value, "");
}

void check_queue_mode(const Attr&, string_view key, string_view value, int64_t v) {
  if (v == 0 || v == 1)
    fail(key, value,
         fmt::format("{} mode is not supported: mqblk is multiqueue only (use queue_mode=2, "
                     "or drop it)",
                     v == 0 ? "bio" : "single-queue rq"));
}

void check_memory_cap(const Attr&, string_view key, string_view value, int64_t v) {
  if (v != 0 && v < 4096)
    fail(key, value, "smaller than one 4K page (use 0 for no cap, or e.g. memory_cap=64M)");
}

constexpr int64_t kMaxBytes = int64_t{1} << 50;  // 1P
constexpr int64_t kNsPerSec = 1'000'000'000;

constexpr string_view kBoolRange = "must be 0 or 1 (also true/false, yes/no, on/off)";
constexpr string_view kSizeRange = "must be between 1K and 1P: a number of MB, or a K/M/G/T suffix";

// clang-format off
const std::array<Attr, 33> kAttrs{{
  {"size", "size", Kind::bytes, &NullConfig::size_bytes, 20, 1, kMaxBytes, kSizeRange,
   "size=1G", "MB", "256000", "device size in MB (suffixes K/M/G/T accepted: size=1G is 1024)",
   true, nullptr},
  {"gb", "size", Kind::bytes, &NullConfig::size_bytes, 30, 1, kMaxBytes,
   "must be between 1K and 1P: a number of GB, or a K/M/G/T suffix",
   "gb=4", "GB", "250", "null_blk module parameter: device size in GB (alias of size)",
   false, nullptr},
  {"blocksize", "blocksize", Kind::uint, &NullConfig::blocksize, 0, 512, 4096,
   "must be a power of two between 512 and 4096", "blocksize=4096", "bytes", "512",
   "logical block size", true, check_pow2},
  {"bs", "blocksize", Kind::uint, &NullConfig::blocksize, 0, 512, 4096,
   "must be a power of two between 512 and 4096", "bs=4096", "bytes", "512",
   "null_blk module parameter: alias of blocksize", false, check_pow2},
  {"submit_queues", "submit_queues", Kind::uint, &NullConfig::submit_queues, 0, 1, 256,
   "must be between 1 and 256", "submit_queues=4", "", "1", "number of hardware queues",
   true, nullptr},
  {"poll_queues", "poll_queues", Kind::uint, &NullConfig::poll_queues, 0, 0, 256,
   "must be between 0 and 256", "poll_queues=2", "", "0",
   "polled hardware queues after the submit_queues ones: their completions are reaped by the "
   "submitter's poll, not the completion context", false, nullptr},
  {"hw_queue_depth", "hw_queue_depth", Kind::uint, &NullConfig::hw_queue_depth, 0, 1, 4096,
   "must be between 1 and 4096", "hw_queue_depth=128", "", "64", "tags per hardware queue",
   true, nullptr},
  {"irqmode", "irqmode", Kind::irqmode, &NullConfig::irqmode, 0, 0, 2,
   "must be 0 (none), 1 (softirq) or 2 (timer)", "irqmode=2", "", "1",
   "completion: 0 none (inline), 1 softirq (completion context), 2 timer (completion_nsec)",
   true, nullptr},
  {"completion_nsec", "completion_nsec", Kind::uint, &NullConfig::completion_nsec, 0, 0,
   60 * kNsPerSec, "must be between 0 and 60000000000 ns", "completion_nsec=10000", "ns",
   "10000", "completion delay for irqmode=2", true, nullptr},
  {"memory_backed", "memory_backed", Kind::boolean, &NullConfig::memory_backed, 0, 0, 1,
   kBoolRange, "memory_backed=1", "bool", "0",
   "store written data (sparse, 4K pages) instead of dropping it", true, nullptr},
  {"discard", "discard", Kind::boolean, &NullConfig::discard, 0, 0, 1, kBoolRange,
   "discard=1", "bool", "0", "support discard and write_zeroes (needs memory_backed=1)",
   false, nullptr},
  {"fua", "fua", Kind::boolean, &NullConfig::fua, 0, 0, 1, kBoolRange, "fua=0", "bool", "1",
   "advertise FUA", false, nullptr},
  {"blocking", "blocking", Kind::boolean, &NullConfig::blocking, 0, 0, 1, kBoolRange,
   "blocking=1", "bool", "0", "blocking driver: queue_rq may sleep", false, nullptr},
  {"shared_tags", "shared_tags", Kind::boolean, &NullConfig::shared_tags, 0, 0, 1, kBoolRange,
   "shared_tags=1", "bool", "0",
   "the nr_devices devices share one tag set (submit_queues x hw_queue_depth requests)",
   false, nullptr},
  {"nr_devices", "nr_devices", Kind::uint, &NullConfig::nr_devices, 0, 1, 64,
   "must be between 1 and 64", "nr_devices=2", "", "1",
   "null_blk module parameter: devices to create (mqblk bench spreads its jobs over them; "
   "the nbd and ublk servers serve one)",
   false, nullptr},
  {"rotational", "rotational", Kind::boolean, &NullConfig::rotational, 0, 0, 1, kBoolRange,
   "rotational=1", "bool", "0", "report a rotational device", false, nullptr},
  {"max_sectors", "max_sectors", Kind::uint, &NullConfig::max_sectors, 0, 0, 65535,
   "must be between 1 and 65535 sectors of 512 bytes (0 = the default 2560)",
   "max_sectors=256", "sectors", "2560", "largest request, in 512-byte sectors", false,
   nullptr},
  {"queue_mode", "queue_mode", Kind::uint, &NullConfig::queue_mode, 0, 0, 2,
   "must be 2 (multiqueue)", "queue_mode=2", "", "2",
   "block interface; only 2 (multiqueue) is supported", false, check_queue_mode},
  {"home_node", "home_node", Kind::integer, &NullConfig::home_node, 0, -1, 1023,
   "must be between -1 and 1023", "home_node=-1", "", "-1",
   "NUMA home node (accepted and ignored)", false, nullptr},
  {"virt_boundary", "virt_boundary", Kind::boolean, &NullConfig::virt_boundary, 0, 0, 1,
   kBoolRange, "virt_boundary=1", "bool", "0",
   "4 KiB virtual boundary: segments other than the first start, and other than the last "
   "end, on a 4 KiB boundary (ublk's virt_boundary_mask)",
   false, nullptr},
  {"backing_file", "backing_file", Kind::path, &NullConfig::backing_file, 0, 0, 0,
   "must be a file path", "backing_file=/dev/shm/null0", "path", "",
   "mqblk: keep the memory_backed data in this file (e.g. on /dev/shm) so it outlives the "
   "process", false, nullptr},
  {"memory_cap", "memory_cap", Kind::bytes, &NullConfig::memory_cap_bytes, 20, 0, kMaxBytes,
   "must be 0 or between 4K and 1P: a number of MB, or a K/M/G/T suffix", "memory_cap=256M",
   "MB", "0", "mqblk: most memory the data may use, 0 = no cap; writes past it fail (ENOSPC)",
   false, check_memory_cap},
  {"request_timeout", "request_timeout", Kind::seconds, &NullConfig::request_timeout_ns, 0,
   kNsPerSec / 1000, 86400 * kNsPerSec,
   "must be between 0.001 and 86400 seconds (decimals allowed, or an ms suffix)",
   "request_timeout=5", "s", "5", "mqblk: a request not ended after this long times out",
   false, nullptr},
  // Zoned emulation: null_blk's names, units and defaults (drivers/null/zoned_null.cpp
  // applies its clamps and refusals).
  {"zoned", "zoned", Kind::boolean, &NullConfig::zoned, 0, 0, 1, kBoolRange, "zoned=1",
   "bool", "0", "a host-managed zoned device", false, nullptr},
  {"zone_size", "zone_size", Kind::bytes, &NullConfig::zone_size_bytes, 20, 4096, kMaxBytes,
   "must be a power of two between 4K and 1P: a number of MB, or a K/M/G/T suffix",
   "zone_size=64", "MB", "256", "zone size in MB (zoned=1)", false, check_pow2},
  {"zone_capacity", "zone_capacity", Kind::bytes, &NullConfig::zone_capacity_bytes, 20, 0,
   kMaxBytes, "must be 0 or at most zone_size: a number of MB, or a K/M/G/T suffix",
   "zone_capacity=48", "MB", "0", "writable part of each zone in MB, 0 = zone_size (zoned=1)",
   false, nullptr},
  {"zone_nr_conv", "zone_nr_conv", Kind::uint, &NullConfig::zone_nr_conv, 0, 0, 1u << 30,
   "must be a number of zones", "zone_nr_conv=4", "", "0",
   "conventional zones at the start of the device (zoned=1)", false, nullptr},
  {"zone_max_open", "zone_max_open", Kind::uint, &NullConfig::zone_max_open, 0, 0, 1u << 30,
   "must be a number of zones, 0 = no limit", "zone_max_open=8", "", "0",
   "most zones open at once, 0 = no limit (zoned=1)", false, nullptr},
  {"zone_max_active", "zone_max_active", Kind::uint, &NullConfig::zone_max_active, 0, 0,
   1u << 30, "must be a number of zones, 0 = no limit", "zone_max_active=12", "", "0",
   "most zones open or closed at once, 0 = no limit (zoned=1)", false, nullptr},
  {"zone_append_max_sectors", "zone_append_max_sectors", Kind::uint,
   &NullConfig::zone_append_max_sectors, 0, 0, 2147483647,
   "must be between 0 and 2147483647 sectors of 512 bytes", "zone_append_max_sectors=256",
   "sectors", "2147483647",
   "largest zone append, in 512-byte sectors; 0 = no zone append (zoned=1)", false, nullptr},
  {"zone_full", "zone_full", Kind::boolean, &NullConfig::zone_full, 0, 0, 1, kBoolRange,
   "zone_full=1", "bool", "0", "sequential zones start full (zoned=1)", false, nullptr},
  {"zone_readonly", "zone_readonly", Kind::path, &NullConfig::zone_readonly, 0, 0, 0,
   "must be sectors, comma-separated", "zone_readonly=524288", "sectors", "",
   "make the zones holding these sectors read-only (zoned=1)", false, nullptr},
  {"zone_offline", "zone_offline", Kind::path, &NullConfig::zone_offline, 0, 0, 0,
   "must be sectors, comma-separated", "zone_offline=524288", "sectors", "",
   "take the zones holding these sectors offline (zoned=1)", false, nullptr},
}};
// clang-format on

constexpr size_t kNumAttrs = kAttrs.size();

// null_blk attributes mqblk knows of and does not support, with the reason.
struct Unsupported {
  string_view name;
  string_view why;
};
constexpr std::array<Unsupported, 4> kUnsupported{{
    {"index", "a configfs control file, not needed with mqblk (drop it)"},
    {"use_per_node_hctx", "not supported (use submit_queues=N)"},
    {"no_sched", "mqblk has no I/O scheduler (drop it)"},
    {"shared_tag_bitmap", "not supported (drop it)"},
}};

const Attr* find_attr(string_view name) {
  for (size_t i = 0; i < kNumAttrs; ++i)
    if (kAttrs[i].name == name) return &kAttrs[i];
  return nullptr;
}

const Attr& primary(const Attr& a) { return *find_attr(a.field); }

char lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

bool iequals(string_view a, string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i)
    if (lower(a[i]) != lower(b[i])) return false;
  return true;
}

size_t edit_distance(string_view a, string_view b) {
  std::vector<size_t> row(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    size_t diag = row[0];
    row[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      size_t up = row[j];
      size_t cost = lower(a[i - 1]) == lower(b[j - 1]) ? 0 : 1;
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diag + cost});
      diag = up;
    }
  }
  return row[b.size()];
}

[[noreturn]] void fail_unknown(string_view key, string_view item) {
  for (const auto& u : kUnsupported)
    if (u.name == key) throw ConfigError(fmt::format("null: {}: {}", item, u.why));
  const Attr* best = nullptr;
  size_t best_d = std::numeric_limits<size_t>::max();
  for (size_t i = 0; i < kNumAttrs; ++i) {
    size_t d = edit_distance(key, kAttrs[i].name);
    // A prefix ("mem" for memory_backed) is also a good guess.
    if (kAttrs[i].name.size() > key.size() && key.size() >= 3 &&
        iequals(kAttrs[i].name.substr(0, key.size()), key))
      d = std::min<size_t>(d, 1);
    if (d < best_d) best_d = d, best = &kAttrs[i];
  }
  if (best != nullptr && best_d <= std::max<size_t>(2, key.size() / 3))
    throw ConfigError(fmt::format(
        "null: {}: unknown attribute '{}' (did you mean {}? `mqblk features` lists them)", item,
        key, best->name));
  throw ConfigError(fmt::format(
      "null: {}: unknown attribute '{}' (`mqblk features` lists the null attributes)", item, key));
}

std::optional<uint64_t> parse_u64(string_view s) {
  uint64_t v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size()) return std::nullopt;
  return v;
}

std::optional<int64_t> parse_i64(string_view s) {
  int64_t v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size()) return std::nullopt;
  return v;
}

// "<digits>[K|M|G|T|P][B|iB]" (case-insensitive, binary units); a plain number is in
// units of 1 << unit_shift bytes. Returns nullopt when malformed; saturates on overflow.
std::optional<uint64_t> parse_bytes(string_view s, unsigned unit_shift) {
  size_t n = 0;
  while (n < s.size() && s[n] >= '0' && s[n] <= '9') ++n;
  if (n == 0) return std::nullopt;
  auto num = parse_u64(s.substr(0, n));
  if (!num) return std::numeric_limits<uint64_t>::max();  // too many digits
  string_view suffix = s.substr(n);
  unsigned shift = unit_shift;
  if (!suffix.empty()) {
    static constexpr string_view kLetters = "kmgtp";
    size_t idx = kLetters.find(lower(suffix[0]));
    if (idx == string_view::npos) return std::nullopt;
    shift = 10 * static_cast<unsigned>(idx + 1);
    string_view rest = suffix.substr(1);
    if (!rest.empty() && !iequals(rest, "b") && !iequals(rest, "ib")) return std::nullopt;
  }
  if (*num > (std::numeric_limits<uint64_t>::max() >> shift))
    return std::numeric_limits<uint64_t>::max();
  return *num << shift;
}

std::optional<bool> parse_bool(string_view s) {
  for (string_view t : {"1", "y", "yes", "true", "on"})
    if (iequals(s, t)) return true;
  for (string_view f : {"0", "n", "no", "false", "off"})
    if (iequals(s, f)) return false;
  return std::nullopt;
}

// "<int>[.<frac>][s|ms]" -> ns. Fractions finer than 1 ns are truncated.
std::optional<uint64_t> parse_seconds(string_view s) {
  uint64_t scale = kNsPerSec;
  if (s.size() > 2 && iequals(s.substr(s.size() - 2), "ms")) {
    scale = kNsPerSec / 1000;
    s.remove_suffix(2);
  } else if (s.size() > 1 && lower(s.back()) == 's') {
    s.remove_suffix(1);
  }
  size_t dot = s.find('.');
  string_view ip = s.substr(0, dot);
  string_view fp = dot == string_view::npos ? string_view{} : s.substr(dot + 1);
  if (ip.empty() && fp.empty()) return std::nullopt;
  if (dot != string_view::npos && fp.empty()) return std::nullopt;
  uint64_t whole = 0;
  if (!ip.empty()) {
    auto v = parse_u64(ip);
    if (!v || ip[0] == '+') return std::nullopt;
    whole = *v;
  }
  if (whole > 1'000'000'000) return std::numeric_limits<uint64_t>::max();
  uint64_t ns = whole * scale;
  uint64_t unit = scale;
  for (char c : fp) {
    if (c < '0' || c > '9') return std::nullopt;
    unit /= 10;
    ns += static_cast<uint64_t>(c - '0') * unit;
  }
  return ns;
}

// Parses value for a (as key) into cfg; throws on a bad value.
void apply(const Attr& a, string_view key, string_view value, NullConfig& cfg) {
  int64_t v = 0;
  switch (a.kind) {
    case Kind::path:
      cfg.*std::get<std::string NullConfig::*>(a.member) = std::string(value);
      return;
    case Kind::boolean: {
      auto b = parse_bool(value);
      if (!b) fail_range(a, key, value, "");
      cfg.*std::get<bool NullConfig::*>(a.member) = *b;
      return;
    }
    case Kind::irqmode: {
      static constexpr std::array<string_view, 3> kNames{"none", "softirq", "timer"};
      auto it = std::find_if(kNames.begin(), kNames.end(),
                             [&](string_view n) { return iequals(n, value); });
      if (it != kNames.end()) {
        v = it - kNames.begin();
      } else {
        auto u = parse_u64(value);
        if (!u || *u > 2) fail_range(a, key, value, "");
        v = static_cast<int64_t>(*u);
      }
      cfg.*std::get<IrqMode NullConfig::*>(a.member) = static_cast<IrqMode>(v);
      return;
    }
    case Kind::integer: {
      auto i = parse_i64(value);
      if (!i) fail_range(a, key, value, "not a number; ");
      v = *i;
      break;
    }
    case Kind::uint:
    case Kind::bytes:
    case Kind::seconds: {
      std::optional<uint64_t> u = a.kind == Kind::uint    ? parse_u64(value)
                                  : a.kind == Kind::bytes ? parse_bytes(value, a.unit_shift)
                                                          : parse_seconds(value);
      if (!u) {
        fail_range(a, key, value,
                   a.kind == Kind::uint    ? "not a number; "
                   : a.kind == Kind::bytes ? "not a size; "
                                           : "not a duration; ");
      }
      v = *u > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())
              ? std::numeric_limits<int64_t>::max()
              : static_cast<int64_t>(*u);
      break;
    }
  }
  if (v < a.min || v > a.max) fail_range(a, key, value, "out of range; ");
  if (a.check != nullptr) a.check(a, key, value, v);
  if (a.name == "max_sectors" && v == 0) v = NullConfig{}.max_sectors;
  std::visit(
      [&](auto m) {
        using T = std::remove_cvref_t<decltype(cfg.*m)>;
        if constexpr (std::is_integral_v<T> && !std::is_same_v<T, bool>) cfg.*m = static_cast<T>(v);
      },
      a.member);
}

std::string format_bytes(uint64_t v, unsigned unit_shift) {
  if (v % (uint64_t{1} << unit_shift) == 0) return fmt::format("{}", v >> unit_shift);
  for (unsigned shift = 40; shift >= 10; shift -= 10)
    if (v % (uint64_t{1} << shift) == 0)
      return fmt::format("{}{}", v >> shift, "KMGT"[shift / 10 - 1]);
  return fmt::format("{}", v);  // not reachable from parsed input (K granularity)
}

std::string show(const Attr& a, const NullConfig& cfg) {
  switch (a.kind) {
    case Kind::path: return cfg.*std::get<std::string NullConfig::*>(a.member);
    case Kind::boolean: return cfg.*std::get<bool NullConfig::*>(a.member) ? "1" : "0";
    case Kind::irqmode:
      return fmt::format("{}", static_cast<int>(cfg.*std::get<IrqMode NullConfig::*>(a.member)));
    case Kind::integer: return fmt::format("{}", cfg.*std::get<int32_t NullConfig::*>(a.member));
    case Kind::bytes:
      return format_bytes(cfg.*std::get<uint64_t NullConfig::*>(a.member), a.unit_shift);
    case Kind::seconds: {
      uint64_t ns = cfg.*std::get<uint64_t NullConfig::*>(a.member);
      std::string s = fmt::format("{}.{:09}", ns / kNsPerSec, ns % kNsPerSec);
      while (s.back() == '0') s.pop_back();
      if (s.back() == '.') s.pop_back();
      return s;
    }
    case Kind::uint:
      return std::visit(
          [&](auto m) -> std::string {
            using T = std::remove_cvref_t<decltype(cfg.*m)>;
            if constexpr (std::is_same_v<T, uint32_t> || std::is_same_v<T, uint64_t>)
              return fmt::format("{}", cfg.*m);
            else
              return {};
          },
          a.member);
  }
  return {};
}

}  // namespace

NullConfig parse_null_config(const std::vector<std::string>& kv) {
  NullConfig cfg;
  // What the user gave for each attribute (by primary name): the item and its canonical value.
  struct Given {
    string_view field;
    std::string item;
    std::string canonical;
  };
  std::vector<Given> given;
  auto find_given = [&](string_view field) -> Given* {
    for (auto& g : given)
      if (g.field == field) return &g;
    return nullptr;
  };

  for (const std::string& item : kv) {
    size_t eq = item.find('=');
    string_view key = string_view(item).substr(0, eq);
    if (eq == std::string::npos) {
      const Attr* a = find_attr(key);
      if (a == nullptr) {
        if (key.empty())
          throw ConfigError("null: empty attribute (expected key=value, e.g. size=1G)");
        fail_unknown(key, item);
      }
      throw ConfigError(fmt::format("null: {}: expected key=value (e.g. {})", item, a->example));
    }
    string_view value = string_view(item).substr(eq + 1);
    if (key.empty())
      throw ConfigError(fmt::format(
          "null: {}: missing attribute name before '=' (expected key=value, e.g. size=1G)", item));
    const Attr* a = find_attr(key);
    if (a == nullptr) fail_unknown(key, item);
    if (value.empty())
      throw ConfigError(fmt::format("null: {}: empty value (e.g. {})", item, a->example));

    const Attr& p = primary(*a);
    if (Given* g = find_given(p.name)) {
      NullConfig tmp = cfg;
      apply(*a, key, value, tmp);
      std::string c = show(p, tmp);
      if (c != g->canonical)
        throw ConfigError(fmt::format("null: {}: conflicts with {} given before (give {} once)",
                                      item, g->item, p.name));
      continue;
    }
    apply(*a, key, value, cfg);
    given.push_back(Given{p.name, item, show(p, cfg)});
  }

  // Combinations. "where" is the item as given, or name=value for a default.
  auto where = [&](string_view field) {
    if (Given* g = find_given(field)) return g->item;
    return fmt::format("{}={}", field, show(*find_attr(field), cfg));
  };
  if (cfg.size_bytes % cfg.blocksize != 0) {
    uint64_t up = (cfg.size_bytes / cfg.blocksize + 1) * cfg.blocksize;
    throw ConfigError(fmt::format(
        "null: {}: size is not a multiple of blocksize={} (use a multiple, e.g. size={})",
        where("size"), cfg.blocksize, format_bytes(up, 20)));
  }
  if (uint64_t{cfg.max_sectors} * kSectorSize < cfg.blocksize)
    throw ConfigError(fmt::format(
        "null: {}: a request must hold one block of blocksize={} (use max_sectors={} or more)",
        where("max_sectors"), cfg.blocksize, cfg.blocksize / kSectorSize));
  struct NeedsMemory {
    string_view field;
    bool set;
  };
  for (const NeedsMemory& n :
       {NeedsMemory{"discard", cfg.discard}, NeedsMemory{"backing_file", !cfg.backing_file.empty()},
        NeedsMemory{"memory_cap", cfg.memory_cap_bytes != 0}}) {
    if (n.set && !cfg.memory_backed)
      throw ConfigError(
          fmt::format("null: {}: needs memory_backed=1 (add memory_backed=1, or drop {})",
                      where(n.field), n.field));
  }
  if (!cfg.zoned) {
    for (const Given& g : given)
      if (g.field.substr(0, 5) == "zone_" && g.canonical != show(*find_attr(g.field), NullConfig{}))
        throw ConfigError(
            fmt::format("null: {}: needs zoned=1 (add zoned=1, or drop {})", g.item, g.field));
  }
  if (cfg.nr_devices > 1 && !cfg.backing_file.empty())
    throw ConfigError(
        fmt::format("null: {}: one backing file cannot hold {} devices (drop backing_file, or use "
                    "nr_devices=1)",
                    where("backing_file"), cfg.nr_devices));
  return cfg;
}

std::string NullConfig::to_attr_string() const {
  static const NullConfig defaults;
  std::string out;
  for (size_t i = 0; i < kNumAttrs; ++i) {
    const Attr& a = kAttrs[i];
    if (a.field != a.name) continue;  // alias
    std::string v = show(a, *this);
    if (v.empty()) continue;  // backing_file unset
    if (!a.core && v == show(a, defaults)) continue;
    if (!out.empty()) out += ' ';
    out += fmt::format("{}={}", a.name, v);
  }
  return out;
}

std::vector<mqblk::AttributeInfo> null_attributes() {
  std::vector<mqblk::AttributeInfo> out;
  out.reserve(kNumAttrs);
  for (size_t i = 0; i < kNumAttrs; ++i) {
    const Attr& a = kAttrs[i];
    const bool live = a.name == "irqmode" || a.name == "completion_nsec";
    out.push_back(AttributeInfo{std::string(a.name), std::string(a.default_text),
                                std::string(a.unit), fmt::format("{}; {}", a.help, a.range), live,
                                !live});
  }
  return out;
}

}  // namespace mqblk::null
