// The null device's zoned attributes: null_blk's checks, clamps and defaults.
#include "drivers/null/zoned_null.hpp"

#include <fmt/format.h>

#include <bit>
#include <charconv>
#include <string_view>
#include <tuple>

#include "mqblk/errors.hpp"

namespace mqblk::null {
namespace {

std::string mb(uint64_t bytes) {
  if (bytes % (uint64_t{1} << 20) == 0) return fmt::format("{}", bytes >> 20);
  return fmt::format("{}K", bytes >> 10);
}

// "s1,s2,..." -> sectors; each must be in the device and in a sequential zone.
std::vector<uint64_t> parse_sectors(std::string_view key, std::string_view list,
                                    const ZoneGeometry& g) {
  std::vector<uint64_t> out;
  size_t pos = 0;
  while (pos <= list.size()) {
    size_t comma = list.find(',', pos);
    std::string_view item = list.substr(pos, comma == std::string_view::npos ? comma : comma - pos);
    uint64_t v = 0;
    auto [p, ec] = std::from_chars(item.data(), item.data() + item.size(), v);
    if (item.empty() || ec != std::errc() || p != item.data() + item.size())
      throw ConfigError(fmt::format(
          "null: {}={}: '{}' is not a sector number (give 512-byte sectors, comma-separated, "
          "e.g. {}={})",
          key, list, item, key, g.nr_conv * g.zone_size_sectors));
    if (v >= g.capacity_sectors)
      throw ConfigError(
          fmt::format("null: {}={}: sector {} is past the end of the device ({} sectors)", key,
                      list, v, g.capacity_sectors));
    if ((v / g.zone_size_sectors) < g.nr_conv)
      throw ConfigError(fmt::format(
          "null: {}={}: sector {} is in conventional zone {}: only sequential zones can change "
          "condition (use a sector from {} on)",
          key, list, v, v / g.zone_size_sectors, g.nr_conv * g.zone_size_sectors));
    out.push_back(v);
    if (comma == std::string_view::npos) break;
    pos = comma + 1;
  }
  return out;
}

}  // namespace

ZonedPlan plan_zoned(const NullConfig& c) {
  ZonedPlan p;
  ZoneGeometry& g = p.geometry;
  const uint64_t zone_bytes = c.zone_size_bytes;
  if (!std::has_single_bit(zone_bytes))  // the parser checks it too; kept for direct callers
    throw ConfigError(fmt::format("null: zone_size={}: must be a power of two (e.g. zone_size=64)",
                                  mb(zone_bytes)));
  if (zone_bytes > c.size_bytes)
    throw ConfigError(fmt::format(
        "null: zone_size={}: larger than the device (size={}): use a smaller zone_size or a "
        "larger size",
        mb(zone_bytes), mb(c.size_bytes)));
  if (zone_bytes < c.blocksize)
    throw ConfigError(fmt::format(
        "null: zone_size={}: smaller than one block of blocksize={} (use a larger zone_size)",
        mb(zone_bytes), c.blocksize));
  const uint64_t cap_bytes = c.zone_capacity_bytes ? c.zone_capacity_bytes : zone_bytes;
  if (cap_bytes > zone_bytes)
    throw ConfigError(fmt::format(
        "null: zone_capacity={}: larger than zone_size={} (use zone_capacity={} or less, or 0 "
        "for the whole zone)",
        mb(cap_bytes), mb(zone_bytes), mb(zone_bytes)));
  if (cap_bytes % c.blocksize)
    throw ConfigError(fmt::format(
        "null: zone_capacity={}: not a multiple of blocksize={} (use a whole number of blocks)",
        mb(cap_bytes), c.blocksize));
  if (cap_bytes != zone_bytes && c.size_bytes % zone_bytes)
    throw ConfigError(fmt::format(
        "null: zone_capacity={}: a smaller last zone (size={} is not a multiple of zone_size={}) "
        "is not allowed with a zone capacity below the zone size, as in null_blk (make size a "
        "multiple of zone_size, or drop zone_capacity)",
        mb(cap_bytes), mb(c.size_bytes), mb(zone_bytes)));

  g.capacity_sectors = c.size_bytes >> kSectorShift;
  g.zone_size_sectors = zone_bytes >> kSectorShift;
  g.zone_capacity_sectors = cap_bytes >> kSectorShift;
  g.full = c.zone_full;
  const uint32_t n = g.nr_zones();

  g.nr_conv = c.zone_nr_conv;
  if (g.nr_conv >= n) {
    g.nr_conv = n - 1;
    p.notes.push_back(fmt::format(
        "null: zone_nr_conv={}: changed the number of conventional zones to {} (the device has "
        "{} zones and keeps one sequential), as null_blk does",
        c.zone_nr_conv, g.nr_conv, n));
  }
  const uint32_t block_sectors = c.blocksize >> kSectorShift;
  g.max_append_sectors = static_cast<uint32_t>(
      std::min<uint64_t>(uint64_t{c.zone_append_max_sectors / block_sectors} * block_sectors,
                         g.zone_capacity_sectors));

  const uint32_t seq = n - g.nr_conv;
  g.max_active = c.zone_max_active;
  if (g.max_active >= seq) {
    g.max_active = 0;
    p.notes.push_back(fmt::format(
        "null: zone_max_active={}: zone_max_active limit disabled, limit >= zone count ({} "
        "sequential zones), as null_blk does",
        c.zone_max_active, seq));
  }
  g.max_open = c.zone_max_open;
  if (g.max_active != 0 && g.max_open > g.max_active) {
    g.max_open = g.max_active;
    p.notes.push_back(
        fmt::format("null: zone_max_open={}: changed the maximum number of open zones to {} "
                    "(zone_max_active), as null_blk does",
                    c.zone_max_open, g.max_open));
  } else if (g.max_open >= seq) {
    g.max_open = 0;
    p.notes.push_back(
        fmt::format("null: zone_max_open={}: zone_max_open limit disabled, limit >= zone count ({} "
                    "sequential zones), as null_blk does",
                    c.zone_max_open, seq));
  }
  if (auto e = g.validate(); !e.empty()) throw ConfigError("null: zoned: " + e);
  if (!c.zone_readonly.empty()) (void)parse_sectors("zone_readonly", c.zone_readonly, g);
  if (!c.zone_offline.empty()) (void)parse_sectors("zone_offline", c.zone_offline, g);
  return p;
}

void apply_zoned_limits(const ZoneGeometry& g, DiskLimits& l) {
  l.zoned = ZonedModel::host_managed;
  l.zone_size_sectors = g.zone_size_sectors;
  l.max_open_zones = g.max_open;
  l.max_active_zones = g.max_active;
  l.max_zone_append_sectors = g.max_append_sectors;
  l.max_write_zeroes_sectors = 0;
}

void discard_zone_data(void* store, uint64_t start, uint64_t n) {
  (void)static_cast<PageStore*>(store)->discard(start << kSectorShift, n << kSectorShift);
}

uint64_t zone_state_bytes(const NullConfig& c, const ZoneGeometry& g) {
  if (c.backing_file.empty()) return 0;
  return (ZoneTable::saved_size(g) + PageStore::kPageSize - 1) & ~(PageStore::kPageSize - 1);
}

namespace {

struct StateInFile {
  PageStore* store;
  uint64_t base;  // the byte after the device's data
};

void store_zone_state(void* ctx, uint64_t off, const std::byte* bytes, size_t len) {
  auto* f = static_cast<StateInFile*>(ctx);
  // The pages were written at creation, so this allocates nothing and cannot hit memory_cap.
  (void)f->store->write(f->base + off, bytes, len);
}

}  // namespace

std::unique_ptr<ZoneTable> make_zone_table(const NullConfig& c, const ZoneGeometry& g,
                                           PageStore* store) {
  auto t = std::make_unique<ZoneTable>(g);
  if (store && zone_state_bytes(c, g)) {
    auto f = std::make_shared<StateInFile>(StateInFile{store, c.size_bytes});
    const size_t n = ZoneTable::saved_size(g);
    Extent e = store->extent_at(f->base, n);
    const bool fresh = e.hole && e.length >= n;
    if (!fresh) {
      std::vector<std::byte> img(n);
      (void)store->read(f->base, img.data(), n);
      if (!t->restore(img.data(), n))
        throw ConfigError(fmt::format(
            "null: backing_file={}: holds the zone state of other zone attributes (give the "
            "ones it was made with, or use a new file)",
            c.backing_file));
    }
    t->set_persist(ZonePersist{&store_zone_state, f.get(), f});
    if (!fresh) return t;
  }
  ZoneDiscard discard{store ? &discard_zone_data : nullptr, store};
  for (auto [key, list, cond] : {std::tuple{std::string_view("zone_readonly"),
                                            std::string_view(c.zone_readonly), ZoneCond::read_only},
                                 std::tuple{std::string_view("zone_offline"),
                                            std::string_view(c.zone_offline), ZoneCond::offline}}) {
    if (list.empty()) continue;
    for (uint64_t s : parse_sectors(key, list, g)) (void)t->set_condition(s, cond, discard);
  }
  if (store && zone_state_bytes(c, g)) {
    std::vector<std::byte> img = t->save();
    if (store->write(c.size_bytes, img.data(), img.size()) != Status::ok)
      throw ConfigError(
          fmt::format("null: backing_file={}: no room for the zone state within memory_cap (raise "
                      "memory_cap)",
                      c.backing_file));
  }
  return t;
}

}  // namespace mqblk::null
