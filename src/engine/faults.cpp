// The engine's test features: parsing (null_blk's and nbdkit's syntax) and the per-request
// decision. See mqblk/faults.hpp.
#include "mqblk/faults.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <charconv>
#include <cmath>
#include <cstdlib>

namespace mqblk {
namespace {

using std::string_view;

[[noreturn]] void fail(string_view key, string_view value, string_view what) {
  throw ConfigError(fmt::format("{}={}: {}", key, value, what));
}

template <class T>
bool parse_num(string_view s, T& out) {
  if (s.empty()) return false;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return ec == std::errc() && p == s.data() + s.size();
}

bool parse_bool(string_view v, bool& out) {
  if (v == "1" || v == "true" || v == "yes" || v == "on") return out = true, true;
  if (v == "0" || v == "false" || v == "no" || v == "off") return out = false, true;
  return false;
}

struct ErrnoName {
  string_view name;
  Status status;
};
constexpr std::array<ErrnoName, 7> kErrnos{{{"EIO", Status::ioerr},
                                            {"ENOSPC", Status::nospc},
                                            {"EINVAL", Status::inval},
                                            {"EROFS", Status::readonly},
                                            {"ETIMEDOUT", Status::timeout},
                                            {"EOPNOTSUPP", Status::notsupp},
                                            {"ECANCELED", Status::cancelled}}};

struct OpName {
  string_view name;
  Op op;
};
constexpr std::array<OpName, 5> kOps{{{"read", Op::read},
                                      {"write", Op::write},
                                      {"flush", Op::flush},
                                      {"discard", Op::discard},
                                      {"write_zeroes", Op::write_zeroes}}};

// cache_size: MB, or a K/M/G/T suffix (null_blk's unit); at least one 4 KiB page.
uint64_t parse_cache_size(string_view key, string_view v) {
  string_view num = v;
  unsigned shift = 20;
  if (!num.empty()) {
    switch (num.back()) {
      case 'K':
      case 'k': shift = 10; break;
      case 'M':
      case 'm': shift = 20; break;
      case 'G':
      case 'g': shift = 30; break;
      case 'T':
      case 't': shift = 40; break;
      default: shift = 0; break;
    }
    if (shift)
      num.remove_suffix(1);
    else
      shift = 20;
  }
  uint64_t n = 0;
  if (!parse_num(num, n) || n > (uint64_t{1} << 40) >> shift)
    fail(key, v, "must be a number of MB (or K/M/G/T suffixed) up to 1T, e.g. cache_size=64");
  const uint64_t bytes = n << shift;
  if (bytes != 0 && bytes < WriteCache::kPage)
    fail(key, v, "smaller than one 4 KiB page: give at least cache_size=4K (or 0 for none)");
  return bytes;
}

constexpr string_view kFaultHelp = "interval,probability,space,times";

// splitmix64: small, fast, and the same sequence for the same seed on every machine.
uint64_t splitmix(uint64_t& s) noexcept {
  uint64_t z = (s += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

}  // namespace

bool FaultAttr::should_fail(uint64_t size, uint32_t rnd) noexcept {
  if (times == 0) return false;
  if (space > static_cast<int64_t>(size)) {
    space -= static_cast<int64_t>(size);
    return false;
  }
  if (interval > 1) {
    ++count;
    if (count % interval) return false;
  }
  if (probability <= rnd) return false;
  if (times != -1) --times;
  return true;
}

std::string FaultAttr::to_string() const {
  return fmt::format("{},{},{},{}", interval, probability, space, times);
}

FaultAttr FaultAttr::parse(string_view key, string_view value) {
  std::array<string_view, 4> parts;
  size_t n = 0;
  string_view rest = value;
  while (n < 4) {
    size_t c = rest.find(',');
    parts[n++] = rest.substr(0, c);
    if (c == string_view::npos) {
      rest = {};
      break;
    }
    rest.remove_prefix(c + 1);
  }
  FaultAttr a;
  if (n != 4 || !rest.empty() || !parse_num(parts[0], a.interval) ||
      !parse_num(parts[1], a.probability) || !parse_num(parts[2], a.space) ||
      !parse_num(parts[3], a.times))
    fail(key, value,
         fmt::format("must be four numbers {} (Linux fault_attr), e.g. {}=1,100,0,10", kFaultHelp,
                     key));
  if (a.interval == 0)
    fail(key, value, fmt::format("interval must be at least 1 (e.g. {}=1,100,0,10)", key));
  if (a.probability > 100)
    fail(key, value, fmt::format("probability is a percentage, 0..100 (e.g. {}=1,100,0,10)", key));
  if (a.space < 0) fail(key, value, fmt::format("space must be >= 0 (e.g. {}=1,100,0,10)", key));
  if (a.times < -1)
    fail(key, value, fmt::format("times must be -1 (no limit) or >= 0 (e.g. {}=1,100,0,10)", key));
  return a;
}

void BadBlocks::add(uint64_t s, uint64_t e) {
  ranges_.emplace_back(s, e);
  std::sort(ranges_.begin(), ranges_.end());
  std::vector<std::pair<uint64_t, uint64_t>> merged;
  for (const auto& r : ranges_) {
    if (!merged.empty() && r.first <= merged.back().second + 1)
      merged.back().second = std::max(merged.back().second, r.second);
    else
      merged.push_back(r);
  }
  ranges_ = std::move(merged);
}

void BadBlocks::clear(uint64_t s, uint64_t e) noexcept {
  std::vector<std::pair<uint64_t, uint64_t>> out;
  out.reserve(ranges_.size() + 1);
  for (const auto& r : ranges_) {
    if (r.second < s || r.first > e) {
      out.push_back(r);
      continue;
    }
    if (r.first < s) out.emplace_back(r.first, s - 1);
    if (r.second > e) out.emplace_back(e + 1, r.second);
  }
  ranges_ = std::move(out);
}

void BadBlocks::apply(string_view key, string_view edits) {
  BadBlocks next = *this;
  string_view rest = edits;
  if (rest.empty())
    fail(key, edits, "empty: give +START-END to add or -START-END to clear (512-byte sectors)");
  while (!rest.empty()) {
    size_t c = rest.find(',');
    string_view e = rest.substr(0, c);
    rest = c == string_view::npos ? string_view{} : rest.substr(c + 1);
    uint64_t s = 0, end = 0;
    size_t dash = e.size() > 1 ? e.find('-', 1) : string_view::npos;
    if (e.size() < 4 || (e[0] != '+' && e[0] != '-') || dash == string_view::npos ||
        !parse_num(e.substr(1, dash - 1), s) || !parse_num(e.substr(dash + 1), end))
      fail(key, edits,
           fmt::format("'{}' is not +START-END or -START-END (512-byte sectors, inclusive), "
                       "e.g. {}=+0-7,+100-107",
                       e, key));
    if (end < s)
      fail(key, edits, fmt::format("'{}': END is before START (e.g. {}=+100-107)", e, key));
    if (e[0] == '+')
      next.add(s, end);
    else
      next.clear(s, end);
  }
  *this = std::move(next);
}

std::optional<std::pair<uint64_t, uint64_t>> BadBlocks::first_bad(uint64_t sector,
                                                                  uint64_t nr) const noexcept {
  if (nr == 0) return std::nullopt;
  const uint64_t last = sector + nr - 1;
  // The first range whose end is at or after sector.
  auto it = std::lower_bound(ranges_.begin(), ranges_.end(), sector,
                             [](const auto& r, uint64_t s) { return r.second < s; });
  if (it == ranges_.end() || it->first > last) return std::nullopt;
  uint64_t first = std::max(it->first, sector);
  return std::make_pair(first, std::min(it->second, last) - first + 1);
}

std::string BadBlocks::to_string() const {
  std::string out;
  for (const auto& r : ranges_)
    out += fmt::format("{}+{}-{}", out.empty() ? "" : ",", r.first, r.second);
  return out;
}

std::vector<AttributeInfo> fault_attributes() {
  auto fa = [](const char* name, const char* help) {
    return AttributeInfo{name, "0,0,0,0", kFaultHelp.data(), help, true, false};
  };
  std::vector<AttributeInfo> v{
      {"badblocks", "", "sectors",
       "bad sectors: +START-END adds, -START-END clears (512-byte sectors, inclusive, comma "
       "separated); I/O touching one fails with EIO",
       true, false},
      {"badblocks_once", "0", "bool", "a bad range is cleared after one request failed on it", true,
       false},
      {"badblocks_partial_io", "0", "bool",
       "I/O over a bad sector transfers the blocks before it, then fails", true, false},
      fa("timeout",
         "fault injection: the chosen requests are held until the request timeout, then end "
         "with ETIMEDOUT (null_blk's timeout fault)"),
      fa("requeue", "fault injection: the chosen requests are requeued once"),
      AttributeInfo{"init_hctx", "0,0,0,0", kFaultHelp.data(),
                    "fault injection: a chosen hardware queue fails to initialise, so the device "
                    "is not created",
                    false, true},
      {"error_rate", "0", "fraction",
       "error injection: fail this fraction of the error_ops requests (0..1, or N%)", true, false},
      {"error", "EIO", "errno",
       "error injection: the error (EIO, ENOSPC, EINVAL, EROFS, ETIMEDOUT, EOPNOTSUPP, "
       "ECANCELED)",
       true, false},
      {"error_ops", "read,write,flush,discard,write_zeroes", "list",
       "error injection: the operations it applies to (comma separated)", true, false},
      {"error_seed", "0", "", "error injection: the random seed, for a repeatable run", true,
       false},
      {"mbps", "0", "MiB/s",
       "bandwidth limit (null_blk's throttling: requests over budget are requeued and "
       "retried)",
       true, false},
      {"cache_size", "0", "MB",
       "volatile write-back cache in MB (K/M/G/T suffixes), 0 = none: writes wait there "
       "until a FLUSH, a FUA or an eviction puts them in the driver; a power cut loses them",
       false, true},
      {"power", "1", "bool",
       "live only: 0 cuts the power (in-flight requests fail, a write cache loses its dirty "
       "data, new requests fail with EIO), 1 restores it",
       true, false},
  };
  return v;
}

bool is_fault_attribute(string_view key) noexcept {
  static const std::vector<AttributeInfo> attrs = fault_attributes();
  for (const auto& a : attrs)
    if (a.name == key) return true;
  return false;
}

void apply_fault_items(FaultSettings& out, const std::vector<std::string>& items, bool live) {
  FaultSettings s = out;
  for (const auto& item : items) {
    size_t eq = item.find('=');
    if (eq == std::string::npos) throw ConfigError(fmt::format("'{}': expected key=value", item));
    string_view key(item.data(), eq), v(item.data() + eq + 1, item.size() - eq - 1);
    if (v.empty()) fail(key, v, "empty value");
    bool b = false;
    if (key == "badblocks") {
      s.badblocks.apply(key, v);
    } else if (key == "badblocks_once" || key == "badblocks_partial_io" || key == "power") {
      if (!parse_bool(v, b)) fail(key, v, fmt::format("must be 0 or 1 (e.g. {}=1)", key));
      if (key == "power" && !live)
        fail(key, v,
             "power is set on a running device (mqblk set ID power=0); a device is created "
             "powered");
      (key == "badblocks_once" ? s.badblocks_once
       : key == "power"        ? s.powered
                               : s.badblocks_partial_io) = b;
    } else if (key == "timeout") {
      s.timeout = FaultAttr::parse(key, v);
    } else if (key == "requeue") {
      s.requeue = FaultAttr::parse(key, v);
    } else if (key == "init_hctx") {
      if (live)
        fail(key, v,
             "init_hctx faults apply when the device is created (give it to mqblk add/nbd)");
      s.init_hctx = FaultAttr::parse(key, v);
    } else if (key == "error_rate") {
      double r = 0;
      std::string num(v);
      bool pct = !num.empty() && num.back() == '%';
      if (pct) num.pop_back();
      char* end = nullptr;
      r = num.empty() ? NAN : std::strtod(num.c_str(), &end);
      if (num.empty() || end != num.c_str() + num.size() || !std::isfinite(r))
        fail(key, v, "must be a fraction 0..1 or a percentage (e.g. error_rate=0.1 or 10%)");
      if (pct) r /= 100;
      if (r < 0 || r > 1)
        fail(key, v, "must be between 0 and 1 (or 0% and 100%), e.g. error_rate=0.1");
      s.error.rate = r;
    } else if (key == "error") {
      auto it = std::find_if(kErrnos.begin(), kErrnos.end(),
                             [&](const ErrnoName& e) { return e.name == v; });
      if (it == kErrnos.end())
        fail(key, v,
             "unknown error: use EIO, ENOSPC, EINVAL, EROFS, ETIMEDOUT, EOPNOTSUPP or "
             "ECANCELED");
      s.error.status = it->status;
    } else if (key == "error_ops") {
      uint32_t ops = 0;
      string_view rest = v;
      while (!rest.empty()) {
        size_t c = rest.find(',');
        string_view o = rest.substr(0, c);
        rest = c == string_view::npos ? string_view{} : rest.substr(c + 1);
        auto it =
            std::find_if(kOps.begin(), kOps.end(), [&](const OpName& n) { return n.name == o; });
        if (it == kOps.end())
          fail(key, v,
               fmt::format("unknown operation '{}': use read, write, flush, discard, "
                           "write_zeroes (comma separated)",
                           o));
        ops |= 1u << static_cast<unsigned>(it->op);
      }
      s.error.ops = ops;
    } else if (key == "error_seed") {
      if (!parse_num(v, s.error.seed))
        fail(key, v, "must be a non-negative integer (e.g. error_seed=42)");
    } else if (key == "cache_size") {
      if (live)
        fail(key, v,
             "the write cache is sized when the device is created (give it to mqblk add/nbd)");
      s.cache_size = parse_cache_size(key, v);
    } else if (key == "mbps") {
      if (!parse_num(v, s.mbps) || s.mbps > (uint64_t{1} << 30))
        fail(key, v, "must be a number of MiB/s between 0 (no limit) and 2^30 (e.g. mbps=100)");
    } else {
      throw ConfigError(fmt::format("{}: not a fault attribute", key));
    }
  }
  out = std::move(s);
}

std::optional<std::pair<unsigned, unsigned>> first_failing_hctx(const FaultSettings& s,
                                                                unsigned nr_devices,
                                                                unsigned nr_hw_queues) {
  if (!s.init_hctx.armed()) return std::nullopt;
  FaultAttr a = s.init_hctx;
  uint64_t rng = s.error.seed;
  for (unsigned d = 0; d < nr_devices; ++d)
    for (unsigned q = 0; q < nr_hw_queues; ++q)
      if (a.should_fail(1, static_cast<uint32_t>(splitmix(rng) % 100))) return std::make_pair(d, q);
  return std::nullopt;
}

namespace {
// cache_size as it would be given: MB when whole, else K.
std::string cache_size_text(uint64_t bytes) {
  if (bytes % (uint64_t{1} << 20) == 0) return std::to_string(bytes >> 20);
  return std::to_string(bytes >> 10) + "K";
}
}  // namespace

std::vector<std::string> fault_items_all(const FaultSettings& s) {
  std::vector<std::string> v;
  v.push_back("badblocks=" + s.badblocks.to_string());
  v.push_back(fmt::format("badblocks_once={}", s.badblocks_once ? 1 : 0));
  v.push_back(fmt::format("badblocks_partial_io={}", s.badblocks_partial_io ? 1 : 0));
  v.push_back("timeout=" + s.timeout.to_string());
  v.push_back("requeue=" + s.requeue.to_string());
  v.push_back("init_hctx=" + s.init_hctx.to_string());
  v.push_back(fmt::format("error_rate={}", s.error.rate));
  for (const auto& e : kErrnos)
    if (e.status == s.error.status) v.push_back(fmt::format("error={}", e.name));
  std::string ops;
  for (const auto& o : kOps)
    if (s.error.ops & (1u << static_cast<unsigned>(o.op)))
      ops += fmt::format("{}{}", ops.empty() ? "" : ",", o.name);
  v.push_back("error_ops=" + ops);
  v.push_back(fmt::format("error_seed={}", s.error.seed));
  v.push_back(fmt::format("mbps={}", s.mbps));
  v.push_back("cache_size=" + cache_size_text(s.cache_size));
  return v;
}

std::vector<std::string> fault_items(const FaultSettings& s) {
  std::vector<std::string> v;
  if (!s.badblocks.empty()) v.push_back("badblocks=" + s.badblocks.to_string());
  if (s.badblocks_once) v.emplace_back("badblocks_once=1");
  if (s.badblocks_partial_io) v.emplace_back("badblocks_partial_io=1");
  const FaultAttr none;
  if (!(s.timeout == none)) v.push_back("timeout=" + s.timeout.to_string());
  if (!(s.requeue == none)) v.push_back("requeue=" + s.requeue.to_string());
  if (!(s.init_hctx == none)) v.push_back("init_hctx=" + s.init_hctx.to_string());
  if (s.error.armed()) {
    v.push_back(fmt::format("error_rate={}", s.error.rate));
    for (const auto& e : kErrnos)
      if (e.status == s.error.status) v.push_back(fmt::format("error={}", e.name));
    if (s.error.ops != ~0u) {
      std::string ops;
      for (const auto& o : kOps)
        if (s.error.ops & (1u << static_cast<unsigned>(o.op)))
          ops += fmt::format("{}{}", ops.empty() ? "" : ",", o.name);
      v.push_back("error_ops=" + ops);
    }
    v.push_back(fmt::format("error_seed={}", s.error.seed));
  }
  if (s.mbps) v.push_back(fmt::format("mbps={}", s.mbps));
  if (s.cache_size) v.push_back("cache_size=" + cache_size_text(s.cache_size));
  return v;
}

void DeviceFaults::update_active() noexcept {
  uint32_t a = 0;
  if (!s_.badblocks.empty()) a |= kBad;
  if (s_.timeout.armed()) a |= kTimeout;
  if (s_.requeue.armed()) a |= kRequeue;
  if (s_.error.armed()) a |= kError;
  if (s_.mbps) a |= kMbps;
  if (!powered_.load(std::memory_order_relaxed)) a |= kPowerOff;
  if (cache_) a |= kCache;
  active_.store(a, std::memory_order_release);
}

void DeviceFaults::configure(const FaultSettings& s) {
  std::lock_guard lk(lock_);
  const bool reseed = !(s.error.seed == s_.error.seed && s_.error.armed());
  s_ = s;
  s_.powered = powered_.load(std::memory_order_relaxed);
  if (reseed) rng_ = s.error.seed;
  ns_per_mib_.store(s.mbps ? 1'000'000'000ull / s.mbps : 0, std::memory_order_relaxed);
  if (s.cache_size && !cache_ && depth_) {
    cache_ = std::make_unique<WriteCache>(s.cache_size, limits_, nr_hw_queues_, depth_);
    cache_ptr_.store(cache_.get(), std::memory_order_release);
  }
  s_.cache_size = cache_ ? cache_->size_bytes() : 0;
  update_active();
}

void DeviceFaults::set_geometry(const DiskLimits& limits, unsigned nr_hw_queues, unsigned depth) {
  std::lock_guard lk(lock_);
  limits_ = limits;
  nr_hw_queues_ = nr_hw_queues;
  depth_ = depth;
}

FaultSettings DeviceFaults::settings() const {
  std::lock_guard lk(lock_);
  FaultSettings s = s_;
  s.powered = powered_.load(std::memory_order_relaxed);
  return s;
}

void DeviceFaults::set_powered(bool on) noexcept {
  std::lock_guard lk(lock_);
  powered_.store(on, std::memory_order_release);
  // After the store: from here every dispatch fails, so nothing enters the cache after
  // it lost its content (a write racing the cut may still land: it was in flight).
  if (!on && cache_) cache_->drop();
  update_active();
}

uint64_t DeviceFaults::next_random() noexcept { return splitmix(rng_); }

bool DeviceFaults::throttle(uint32_t bytes, int64_t now) noexcept {
  const uint64_t per_mib = ns_per_mib_.load(std::memory_order_relaxed);
  if (per_mib == 0) return true;
  // Room for a little more than the 1 ms requeue delay, so that a queue kept busy never
  // drains between retries: the long-run rate is then exactly the budget.
  const int64_t burst = 2'000'000;
  const int64_t cost =
      static_cast<int64_t>((static_cast<unsigned __int128>(bytes) * per_mib) >> 20);
  int64_t tat = tat_ns_.load(std::memory_order_relaxed);
  for (;;) {
    int64_t start = std::max(tat, now);
    if (start - now > burst) return false;
    if (tat_ns_.compare_exchange_weak(tat, start + cost, std::memory_order_relaxed)) return true;
  }
}

DeviceFaults::Verdict DeviceFaults::decide(Op op, uint64_t sector, uint32_t bytes,
                                           uint32_t block_sectors, int64_t now) noexcept {
  const uint32_t a = active_.load(std::memory_order_acquire);
  Verdict v;
  if (a & kPowerOff) {
    v.action = Action::fail;
    v.status = Status::ioerr;
    failed_.fetch_add(1, std::memory_order_relaxed);
    return v;
  }
  if (a & (kBad | kTimeout | kRequeue | kError)) {
    std::lock_guard lk(lock_);
    // null_queue_rq's order: requeue, then the fake timeout, then the command's checks.
    if (s_.requeue.armed() && s_.requeue.should_fail(1, next_random() % 100)) {
      update_active();
      v.action = Action::requeue;
      return v;
    }
    if (s_.timeout.armed() && s_.timeout.should_fail(1, next_random() % 100)) {
      update_active();
      held_.fetch_add(1, std::memory_order_relaxed);
      v.action = Action::hold;
      return v;
    }
    const uint64_t nr = bytes >> kSectorShift;
    if (!s_.badblocks.empty() && nr) {
      if (auto bad = s_.badblocks.first_bad(sector, nr)) {
        if (s_.badblocks_once) s_.badblocks.clear(bad->first, bad->first + bad->second - 1);
        update_active();
        failed_.fetch_add(1, std::memory_order_relaxed);
        uint64_t good = bad->first - sector;
        good -= good % std::max<uint32_t>(block_sectors, 1);
        v.status = Status::ioerr;  // null_blk's BLK_STS_IOERR
        if (s_.badblocks_partial_io && good && op_has_data(op)) {
          v.action = Action::partial;
          v.bytes = static_cast<uint32_t>(good << kSectorShift);
        } else {
          v.action = Action::fail;
        }
        return v;
      }
    }
    if (s_.error.armed() && (s_.error.ops >> static_cast<unsigned>(op) & 1) &&
        static_cast<double>(next_random() >> 11) * 0x1.0p-53 < s_.error.rate) {
      failed_.fetch_add(1, std::memory_order_relaxed);
      v.action = Action::fail;
      v.status = s_.error.status;
      return v;
    }
  }
  if ((a & kMbps) && !throttle(bytes, now)) {
    throttled_.fetch_add(1, std::memory_order_relaxed);
    v.action = Action::requeue;
    return v;
  }
  return v;
}

}  // namespace mqblk
