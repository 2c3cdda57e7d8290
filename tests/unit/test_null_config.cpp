// Unit tests of the null device's attribute parsing (drivers/null/null_config.hpp).
#include <gtest/gtest.h>

#include <set>
#include <string>
#include <vector>

#include "drivers/null/null_config.hpp"

using mqblk::ConfigError;
using mqblk::null::IrqMode;
using mqblk::null::NullConfig;
using mqblk::null::parse_null_config;

namespace {

constexpr uint64_t kMiB = uint64_t{1} << 20;
constexpr uint64_t kGiB = uint64_t{1} << 30;

// The one-line message parse_null_config throws for items, or "" when it does not throw.
std::string error_of(const std::vector<std::string>& items) {
  try {
    parse_null_config(items);
  } catch (const ConfigError& e) {
    return e.what();
  }
  return {};
}

#define EXPECT_ERROR(items, ...)                                                  \
  do {                                                                            \
    std::string msg_ = error_of(items);                                           \
    ASSERT_FALSE(msg_.empty()) << "accepted";                                     \
    EXPECT_EQ(msg_.find('\n'), std::string::npos) << msg_;                        \
    EXPECT_EQ(msg_.rfind("null: ", 0), 0u) << msg_;                               \
    for (const char* part_ : {__VA_ARGS__})                                       \
      EXPECT_NE(msg_.find(part_), std::string::npos) << part_ << " in: " << msg_; \
  } while (0)

using Items = std::vector<std::string>;

}  // namespace

TEST(NullConfig, Defaults) {
  NullConfig c = parse_null_config({});
  EXPECT_EQ(c, NullConfig{});
  EXPECT_EQ(c.size_bytes, 250 * kGiB);  // null_blk: gb=250
  EXPECT_EQ(c.blocksize, 512u);
  EXPECT_EQ(c.submit_queues, 1u);
  EXPECT_EQ(c.poll_queues, 0u);
  EXPECT_EQ(c.hw_queue_depth, 64u);
  EXPECT_EQ(c.irqmode, IrqMode::softirq);
  EXPECT_EQ(c.completion_nsec, 10000u);
  EXPECT_FALSE(c.memory_backed);
  EXPECT_FALSE(c.discard);
  EXPECT_TRUE(c.fua);
  EXPECT_FALSE(c.blocking);
  EXPECT_FALSE(c.shared_tags);
  EXPECT_FALSE(c.rotational);
  EXPECT_EQ(c.max_sectors, 2560u);
  EXPECT_EQ(c.queue_mode, 2u);
  EXPECT_EQ(c.home_node, -1);
  EXPECT_FALSE(c.virt_boundary);
  EXPECT_TRUE(c.backing_file.empty());
  EXPECT_EQ(c.memory_cap_bytes, 0u);
  EXPECT_EQ(c.request_timeout_ns, 5'000'000'000u);
}

TEST(NullConfig, SizeUnitsAndSuffixes) {
  EXPECT_EQ(parse_null_config({"size=100"}).size_bytes, 100 * kMiB);
  EXPECT_EQ(parse_null_config({"size=1G"}).size_bytes, 1024 * kMiB);
  EXPECT_EQ(parse_null_config({"size=1g"}).size_bytes, kGiB);
  EXPECT_EQ(parse_null_config({"size=2GiB"}).size_bytes, 2 * kGiB);
  EXPECT_EQ(parse_null_config({"size=3GB"}).size_bytes, 3 * kGiB);
  EXPECT_EQ(parse_null_config({"size=512K"}).size_bytes, 512 * 1024u);
  EXPECT_EQ(parse_null_config({"size=64M"}).size_bytes, 64 * kMiB);
  EXPECT_EQ(parse_null_config({"size=1T"}).size_bytes, 1024 * kGiB);
  EXPECT_EQ(parse_null_config({"gb=4"}).size_bytes, 4 * kGiB);
  EXPECT_EQ(parse_null_config({"gb=1T"}).size_bytes, 1024 * kGiB);
  EXPECT_EQ(parse_null_config({"memory_cap=1G", "memory_backed=1"}).memory_cap_bytes, kGiB);
  EXPECT_EQ(parse_null_config({"memory_cap=256", "memory_backed=1"}).memory_cap_bytes, 256 * kMiB);
}

TEST(NullConfig, Aliases) {
  EXPECT_EQ(parse_null_config({"bs=4096"}).blocksize, 4096u);
  EXPECT_EQ(parse_null_config({"blocksize=1024"}).blocksize, 1024u);
  // An alias and its attribute given with the same value are fine...
  EXPECT_EQ(parse_null_config({"gb=1", "size=1024"}).size_bytes, kGiB);
  EXPECT_EQ(parse_null_config({"bs=4096", "blocksize=4096"}).blocksize, 4096u);
  EXPECT_EQ(parse_null_config({"size=1G", "size=1024"}).size_bytes, kGiB);
  // ...different values are not.
  EXPECT_ERROR((Items{"gb=1", "size=2048"}), "size=2048", "gb=1", "once");
  EXPECT_ERROR((Items{"bs=512", "blocksize=4096"}), "blocksize=4096", "bs=512");
  EXPECT_ERROR((Items{"memory_backed=1", "memory_backed=0"}), "memory_backed=0");
}

TEST(NullConfig, EveryAttribute) {
  NullConfig c = parse_null_config({"size=2G",
                                    "blocksize=4096",
                                    "submit_queues=8",
                                    "poll_queues=0",
                                    "hw_queue_depth=256",
                                    "irqmode=2",
                                    "completion_nsec=2500",
                                    "memory_backed=1",
                                    "discard=1",
                                    "fua=0",
                                    "blocking=1",
                                    "shared_tags=1",
                                    "rotational=1",
                                    "max_sectors=256",
                                    "queue_mode=2",
                                    "home_node=0",
                                    "virt_boundary=1",
                                    "backing_file=/dev/shm/x",
                                    "memory_cap=512M",
                                    "request_timeout=0.5"});
  EXPECT_EQ(c.size_bytes, 2 * kGiB);
  EXPECT_EQ(c.blocksize, 4096u);
  EXPECT_EQ(c.submit_queues, 8u);
  EXPECT_EQ(c.hw_queue_depth, 256u);
  EXPECT_EQ(c.irqmode, IrqMode::timer);
  EXPECT_EQ(c.completion_nsec, 2500u);
  EXPECT_TRUE(c.memory_backed);
  EXPECT_TRUE(c.discard);
  EXPECT_FALSE(c.fua);
  EXPECT_TRUE(c.blocking);
  EXPECT_TRUE(c.shared_tags);
  EXPECT_TRUE(c.rotational);
  EXPECT_EQ(c.max_sectors, 256u);
  EXPECT_EQ(c.home_node, 0);
  EXPECT_TRUE(c.virt_boundary);
  EXPECT_EQ(c.backing_file, "/dev/shm/x");
  EXPECT_EQ(c.memory_cap_bytes, 512 * kMiB);
  EXPECT_EQ(c.request_timeout_ns, 500'000'000u);
}

TEST(NullConfig, BooleansIrqmodeAndTimeouts) {
  for (const char* t : {"1", "true", "yes", "on", "Y", "TRUE"})
    EXPECT_TRUE(parse_null_config({std::string("rotational=") + t}).rotational) << t;
  for (const char* f : {"0", "false", "no", "off", "n"})
    EXPECT_FALSE(parse_null_config({std::string("fua=") + f}).fua) << f;
  EXPECT_EQ(parse_null_config({"irqmode=none"}).irqmode, IrqMode::none);
  EXPECT_EQ(parse_null_config({"irqmode=softirq"}).irqmode, IrqMode::softirq);
  EXPECT_EQ(parse_null_config({"irqmode=timer"}).irqmode, IrqMode::timer);
  EXPECT_EQ(parse_null_config({"irqmode=0"}).irqmode, IrqMode::none);
  EXPECT_EQ(parse_null_config({"request_timeout=30"}).request_timeout_ns, 30'000'000'000u);
  EXPECT_EQ(parse_null_config({"request_timeout=2s"}).request_timeout_ns, 2'000'000'000u);
  EXPECT_EQ(parse_null_config({"request_timeout=250ms"}).request_timeout_ns, 250'000'000u);
  EXPECT_EQ(parse_null_config({"request_timeout=.25"}).request_timeout_ns, 250'000'000u);
  EXPECT_EQ(parse_null_config({"max_sectors=0"}).max_sectors, 2560u);  // null_blk: 0 = default
  EXPECT_EQ(parse_null_config({"home_node=-1"}).home_node, -1);
}

TEST(NullConfig, MalformedItems) {
  EXPECT_ERROR((Items{"memory_backed"}), "memory_backed", "key=value", "memory_backed=1");
  EXPECT_ERROR((Items{"size="}), "size=", "empty value", "size=1G");
  EXPECT_ERROR((Items{"=5"}), "=5", "key=value");
  EXPECT_ERROR((Items{""}), "key=value");
}

TEST(NullConfig, UnknownKeysSuggestClosest) {
  EXPECT_ERROR((Items{"blocksz=4096"}), "blocksz=4096", "unknown", "did you mean blocksize");
  EXPECT_ERROR((Items{"memory_baked=1"}), "did you mean memory_backed");
  EXPECT_ERROR((Items{"submit_queue=2"}), "did you mean submit_queues");
  EXPECT_ERROR((Items{"completion_ns=5"}), "did you mean completion_nsec");
  EXPECT_ERROR((Items{"frobnicate=1"}), "unknown attribute 'frobnicate'", "mqblk features");
  // null_blk attributes mqblk does not have say so.
  EXPECT_ERROR((Items{"no_sched=1"}), "no_sched=1", "no I/O scheduler");
  EXPECT_ERROR((Items{"zone_size=64"}), "zone_size=64", "needs zoned=1");
  EXPECT_ERROR((Items{"nr_devices=0"}), "nr_devices=0", "between 1 and 64");
  EXPECT_ERROR((Items{"nr_devices=2", "memory_backed=1", "backing_file=/dev/shm/x"}),
               "backing_file=/dev/shm/x", "cannot hold 2 devices");
}

TEST(NullConfig, BadValues) {
  EXPECT_ERROR((Items{"blocksize=1000"}), "blocksize=1000", "power of two between 512 and 4096",
               "blocksize=4096");
  EXPECT_EQ(error_of({"blocksize=1000"}),
            "null: blocksize=1000: must be a power of two between 512 and 4096 (e.g. "
            "blocksize=4096)");
  EXPECT_ERROR((Items{"bs=256"}), "bs=256", "between 512 and 4096");
  EXPECT_ERROR((Items{"blocksize=8192"}), "blocksize=8192");
  EXPECT_ERROR((Items{"blocksize=abc"}), "blocksize=abc", "not a number");
  EXPECT_ERROR((Items{"size=0"}), "size=0", "between 1K and 1P");
  EXPECT_ERROR((Items{"size=12X"}), "size=12X", "not a size");
  EXPECT_ERROR((Items{"size=1.5G"}), "size=1.5G", "not a size");
  EXPECT_ERROR((Items{"size=-1"}), "size=-1");
  EXPECT_ERROR((Items{"size=99999999999999999999999"}), "size=9999");
  EXPECT_ERROR((Items{"size=2P"}), "size=2P", "out of range");
  EXPECT_ERROR((Items{"size=16777216T"}), "size=16777216T");  // overflows 64 bits
  EXPECT_ERROR((Items{"gb=0"}), "gb=0");
  EXPECT_ERROR((Items{"submit_queues=0"}), "submit_queues=0", "between 1 and 256");
  EXPECT_ERROR((Items{"submit_queues=257"}), "submit_queues=257");
  EXPECT_ERROR((Items{"submit_queues= 4"}), "submit_queues= 4");
  EXPECT_ERROR((Items{"submit_queues=+4"}), "submit_queues=+4");
  EXPECT_ERROR((Items{"poll_queues=257"}), "poll_queues=257", "between 0 and 256");
  EXPECT_ERROR((Items{"hw_queue_depth=0"}), "hw_queue_depth=0", "between 1 and 4096");
  EXPECT_ERROR((Items{"hw_queue_depth=5000"}), "hw_queue_depth=5000");
  EXPECT_ERROR((Items{"irqmode=3"}), "irqmode=3", "0 (none), 1 (softirq) or 2 (timer)");
  EXPECT_ERROR((Items{"irqmode=hard"}), "irqmode=hard");
  EXPECT_ERROR((Items{"completion_nsec=x"}), "completion_nsec=x", "not a number");
  EXPECT_ERROR((Items{"completion_nsec=60000000001"}), "completion_nsec=60000000001");
  EXPECT_ERROR((Items{"memory_backed=2"}), "memory_backed=2", "0 or 1");
  EXPECT_ERROR((Items{"fua=maybe"}), "fua=maybe", "0 or 1");
  EXPECT_ERROR((Items{"max_sectors=65536"}), "max_sectors=65536");
  EXPECT_ERROR((Items{"queue_mode=0"}), "queue_mode=0", "bio", "queue_mode=2");
  EXPECT_ERROR((Items{"queue_mode=1"}), "queue_mode=1", "multiqueue only");
  EXPECT_ERROR((Items{"queue_mode=3"}), "queue_mode=3");
  EXPECT_ERROR((Items{"home_node=-2"}), "home_node=-2");
  EXPECT_ERROR((Items{"request_timeout=0"}), "request_timeout=0", "0.001 and 86400");
  EXPECT_ERROR((Items{"request_timeout=1.5.2"}), "request_timeout=1.5.2", "not a duration");
  EXPECT_ERROR((Items{"request_timeout=100000"}), "request_timeout=100000");
  EXPECT_ERROR((Items{"memory_backed=1", "memory_cap=1K"}), "memory_cap=1K", "4K page");
}

TEST(NullConfig, ImpossibleCombinations) {
  EXPECT_ERROR((Items{"size=1K", "blocksize=4096"}), "size=1K", "multiple of blocksize=4096",
               "size=4K");
  EXPECT_ERROR((Items{"bs=4096", "size=6K"}), "size=6K", "size=8K");
  EXPECT_NO_THROW(parse_null_config({"size=512K", "blocksize=4096"}));
  EXPECT_ERROR((Items{"max_sectors=4", "blocksize=4096"}), "max_sectors=4", "max_sectors=8");
  EXPECT_ERROR((Items{"discard=1"}), "discard=1", "memory_backed=1");
  EXPECT_ERROR((Items{"backing_file=/dev/shm/x"}), "backing_file=/dev/shm/x", "memory_backed=1");
  EXPECT_ERROR((Items{"memory_cap=1G"}), "memory_cap=1G", "memory_backed=1");
  EXPECT_NO_THROW(parse_null_config({"discard=1", "memory_backed=1"}));
  EXPECT_NO_THROW(parse_null_config({"memory_backed=1", "discard=0", "memory_cap=0"}));
}

TEST(NullConfig, AttrStringRoundTrips) {
  EXPECT_EQ(NullConfig{}.to_attr_string(),
            "size=256000 blocksize=512 submit_queues=1 hw_queue_depth=64 irqmode=1 "
            "completion_nsec=10000 memory_backed=0");
  std::vector<Items> cases = {
      {},
      {"size=1G", "memory_backed=1", "discard=1"},
      {"size=512K", "bs=4096", "irqmode=timer", "request_timeout=0.25", "fua=no"},
      {"memory_backed=1", "backing_file=/dev/shm/a", "memory_cap=100M", "home_node=1",
       "rotational=on", "max_sectors=128", "virt_boundary=1", "blocking=1", "shared_tags=1",
       "submit_queues=3", "hw_queue_depth=7"},
  };
  for (const Items& items : cases) {
    NullConfig c = parse_null_config(items);
    std::string s = c.to_attr_string();
    Items again;
    size_t pos = 0;
    while (pos < s.size()) {
      size_t sp = s.find(' ', pos);
      if (sp == std::string::npos) sp = s.size();
      again.emplace_back(s.substr(pos, sp - pos));
      pos = sp + 1;
    }
    EXPECT_EQ(parse_null_config(again), c) << s;
  }
  EXPECT_NE(parse_null_config({"size=512K"}).to_attr_string().find("size=512K"), std::string::npos);
  EXPECT_NE(parse_null_config({"size=1G", "memory_backed=1"}).to_attr_string().find("size=1024 "),
            std::string::npos);
}

TEST(NullConfig, AttributesListed) {
  auto attrs = mqblk::null::null_attributes();
  std::set<std::string> names;
  for (const auto& a : attrs) {
    EXPECT_FALSE(a.help.empty()) << a.name;
    names.insert(a.name);
  }
  EXPECT_EQ(names.size(), attrs.size());
  for (const char* n : {"size",
                        "gb",
                        "blocksize",
                        "bs",
                        "submit_queues",
                        "poll_queues",
                        "hw_queue_depth",
                        "irqmode",
                        "completion_nsec",
                        "memory_backed",
                        "discard",
                        "fua",
                        "blocking",
                        "shared_tags",
                        "nr_devices",
                        "rotational",
                        "max_sectors",
                        "queue_mode",
                        "home_node",
                        "virt_boundary",
                        "backing_file",
                        "memory_cap",
                        "request_timeout"})
    EXPECT_EQ(names.count(n), 1u) << n;
  // Every listed attribute parses with its listed default (backing_file has none).
  for (const auto& a : attrs) {
    if (a.default_value.empty()) continue;
    EXPECT_NO_THROW(parse_null_config({a.name + "=" + a.default_value})) << a.name;
  }
}
