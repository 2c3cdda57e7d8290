// `mqblk bench [options] DRIVER [key=value ...]`: fio-like jobs in process.
#include <unistd.h>

#include <cstdio>
#include <memory>
#include <nlohmann/json.hpp>

#include "cli/bench_plot.hpp"
#include "cli/bench_runner.hpp"
#include "cli/command.hpp"
#include "cli/units.hpp"
#include "mqblk/registry.hpp"

namespace mqblk::cli {
namespace {

struct BenchArgs {
  std::string rw = "randread", bs = "4k", runtime = "5s", size, plot, log_interval = "100ms";
  unsigned iodepth = 32, jobs = 1, rwmix = 50, lat_sample = 64;
  uint64_t ios = 0;
  bool json = false, verify = false;
  std::vector<std::string> positional;
};

std::string rw_list() {
  std::string list;
  for (RwMode m : kAllRwModes) list += std::string(list.empty() ? "" : "|") + rw_name(m);
  return list;
}

RwMode parse_rw(const std::string& s) {
  for (RwMode m : kAllRwModes)
    if (s == rw_name(m)) return m;
  fail("--rw " + s + ": unknown mode (use one of " + rw_list() + ")", 2);
}

// One line per direction: what fio's "read:" / "write:" sections say.
void print_dir(const char* name, const DirStats& d, double seconds) {
  std::printf(
      "  %-6s IOPS %s  bandwidth %.1f MiB/s  %llu I/Os  lat (ns) mean %.0f p50 %llu p99 %llu "
      "max %llu\n",
      name, human_count(d.ios / seconds).c_str(),
      static_cast<double>(d.bytes) / seconds / (1 << 20), static_cast<unsigned long long>(d.ios),
      d.lat.mean(), static_cast<unsigned long long>(d.lat.quantile(0.5)),
      static_cast<unsigned long long>(d.lat.quantile(0.99)),
      static_cast<unsigned long long>(d.lat.max()));
}

void print_human(const BenchResult& r, const BenchOptions& o, const std::string& what) {
  double iops = r.ios / r.seconds;
  double mibs = static_cast<double>(r.bytes) / r.seconds / (1 << 20);
  double cpu = (r.cpu_user_s + r.cpu_sys_s) / r.seconds * 100;
  std::printf("%s\n  %s bs=%u iodepth=%u jobs=%u: %.2f s, %llu I/Os, %llu errors\n", what.c_str(),
              rw_name(o.rw), o.bs, o.iodepth, o.jobs, r.seconds,
              static_cast<unsigned long long>(r.ios), static_cast<unsigned long long>(r.errors));
  std::printf("  IOPS %s   bandwidth %.1f MiB/s   CPU %.0f%% (user %.0f%%, sys %.0f%%)\n",
              human_count(iops).c_str(), mibs, cpu, r.cpu_user_s / r.seconds * 100,
              r.cpu_sys_s / r.seconds * 100);
  std::printf(
      "  latency (ns, 1 I/O in %u sampled): mean %.0f  p50 %llu  p99 %llu  p99.9 %llu  max %llu\n",
      o.lat_sample, r.lat.mean(), static_cast<unsigned long long>(r.lat.quantile(0.5)),
      static_cast<unsigned long long>(r.lat.quantile(0.99)),
      static_cast<unsigned long long>(r.lat.quantile(0.999)),
      static_cast<unsigned long long>(r.lat.max()));
  unsigned dirs_used = 0;
  for (const DirStats& d : r.dir) dirs_used += d.ios != 0;
  if (dirs_used > 1 || o.rw == RwMode::randrw)
    for (unsigned d = 0; d < kNrDirs; ++d)
      if (r.dir[d].ios)
        print_dir((std::string(dir_name(static_cast<Dir>(d))) + ":").c_str(), r.dir[d], r.seconds);
  if (r.tag_waits)
    std::printf("  %llu I/Os waited for room: --iodepth %u is above the %u a queue may hold\n",
                static_cast<unsigned long long>(r.tag_waits), o.iodepth, r.queue_cap);
  if (o.rw == RwMode::zoned)
    std::printf("  zone resets: %llu\n", static_cast<unsigned long long>(r.zone_resets));
  if (o.verify)
    std::printf("  verify: %llu blocks checked, %llu mismatches\n",
                static_cast<unsigned long long>(r.verified_blocks),
                static_cast<unsigned long long>(r.verify_errors));
}

// fio's lat_ns: count, extremes, percentiles, and the histogram's non-empty buckets
// ("bins": lowest value in ns -> count; the scheme is in latency_histogram.hpp).
nlohmann::json lat_json(const LatencyHistogram& h, unsigned sample_every) {
  nlohmann::json bins = nlohmann::json::object();
  for (unsigned i = 0; i < LatencyHistogram::kBuckets; ++i)
    if (h.bucket(i)) bins[std::to_string(LatencyHistogram::lower(i))] = h.bucket(i);
  return {{"sample_every", sample_every},
          {"samples", h.count()},
          {"min", h.min()},
          {"mean", h.mean()},
          {"p50", h.quantile(0.5)},
          {"p90", h.quantile(0.9)},
          {"p99", h.quantile(0.99)},
          {"p99.9", h.quantile(0.999)},
          {"p99.99", h.quantile(0.9999)},
          {"max", h.max()},
          {"bins_scheme",
           "key: a bucket's lowest value in ns; values 0..15 have a bucket each, and each power "
           "of two [2^e, 2^(e+1)) above is cut into 16 buckets of width 2^(e-4)"},
          {"bins", bins}};
}

void print_json(const BenchResult& r, const BenchOptions& o, const std::string& what,
                const std::vector<BlockDevice*>& devs) {
  nlohmann::json j;
  j["device"] = what;
  j["devices"] = devs.size();
  // Per device: I/Os that ended on it (a device sharing a tag set got its share).
  nlohmann::json per = nlohmann::json::array();
  for (BlockDevice* d : devs) {
    uint64_t ended = 0;
    for (const QueueStats& q : d->stats()) ended += q.ended;
    per.push_back({{"ios_ended", ended}});
  }
  j["per_device"] = per;
  j["rw"] = rw_name(o.rw);
  j["bs"] = o.bs;
  j["iodepth"] = o.iodepth;
  j["jobs"] = o.jobs;
  j["seconds"] = r.seconds;
  j["ios"] = r.ios;
  j["errors"] = r.errors;
  j["iops"] = r.ios / r.seconds;
  j["bw_bytes_per_s"] = static_cast<double>(r.bytes) / r.seconds;
  j["cpu"] = {{"user_s", r.cpu_user_s},
              {"sys_s", r.cpu_sys_s},
              {"percent", (r.cpu_user_s + r.cpu_sys_s) / r.seconds * 100}};
  j["lat_ns"] = lat_json(r.lat, o.lat_sample);
  for (unsigned d = 0; d < kNrDirs; ++d) {
    const DirStats& s = r.dir[d];
    j[dir_name(static_cast<Dir>(d))] = {
        {"ios", s.ios},
        {"bytes", s.bytes},
        {"errors", s.errors},
        {"iops", s.ios / r.seconds},
        {"bw_bytes_per_s", static_cast<double>(s.bytes) / r.seconds},
        {"lat_ns", lat_json(s.lat, o.lat_sample)}};
  }
  j["queue"] = {{"cap", r.queue_cap}, {"waited_for_room", r.tag_waits}};
  nlohmann::json log = nlohmann::json::array();
  for (const IopsSample& s : r.iops_log)
    log.push_back({{"t_s", s.t_s}, {"len_s", s.len_s}, {"iops", s.iops}});
  j["iops_log"] = {{"interval_s", o.log_interval_s}, {"samples", log}};
  if (o.verify) j["verify"] = {{"blocks", r.verified_blocks}, {"mismatches", r.verify_errors}};
  if (o.rw == RwMode::zoned) j["zone_resets"] = r.zone_resets;
  std::printf("%s\n", j.dump(2).c_str());
}

void run(const BenchArgs& a) {
  BenchOptions o;
  o.rw = parse_rw(a.rw);
  try {
    o.bs = static_cast<uint32_t>(parse_size(a.bs, "--bs"));
    o.runtime_s = parse_duration_s(a.runtime, "--runtime");
    if (!a.size.empty()) o.size = parse_size(a.size, "--size");
    o.iodepth = a.iodepth;
    o.jobs = a.jobs;
    o.ios = a.ios;
    o.rwmix_read = a.rwmix;
    o.lat_sample = a.lat_sample;
    o.verify = a.verify;
    o.progress = !a.json && isatty(STDERR_FILENO);
    o.log_interval_s = parse_duration_s(a.log_interval, "--log-interval");
    if (o.jobs == 0) fail("--jobs 0: give at least one job", 2);
    DriverArgs d = split_driver_args(a.positional);
    DevicePlan plan = plan_device(d.driver, d.attrs);
    check_bench_options(o, plan.limits, plan.nr_devices);
    if (!a.plot.empty()) check_plot_path(a.plot);
    std::vector<std::unique_ptr<BlockDevice>> devs = make_devices(d.driver, d.attrs);
    std::vector<BlockDevice*> raw(devs.size());
    for (size_t i = 0; i < devs.size(); ++i) raw[i] = devs[i].get();
    BenchResult r = run_bench(raw, o);
    std::string what = devs.front()->describe();
    if (!a.plot.empty()) write_plot_svg(a.plot, r, o, what);
    if (a.json)
      print_json(r, o, what, raw);
    else
      print_human(r, o, what);
    for (auto& dev : devs) dev->shutdown();
    if (r.errors) fail(std::to_string(r.errors) + " I/O errors during the run", 1);
    if (r.verify_errors)
      fail(std::to_string(r.verify_errors) +
               " blocks read back different from what was written "
               "(is the device memory_backed=1?)",
           1);
  } catch (const CLI::RuntimeError&) {
    throw;
  } catch (const std::exception& e) {
    fail(e.what(), 2);
  }
}

CommandRegistrar reg(10, [](CLI::App& app) {
  auto a = std::make_shared<BenchArgs>();
  auto* s = app.add_subcommand("bench", "run fio-like jobs against a device, in process");
  s->add_option("--rw", a->rw, rw_list())->capture_default_str();
  s->add_option("--bs", a->bs, "block size (4k, 64k, 1M)")->capture_default_str();
  s->add_option("--iodepth", a->iodepth,
                "I/Os issued per job (past the queue's depth, the rest wait for room)")
      ->capture_default_str();
  s->add_option("--jobs", a->jobs, "jobs (threads), each on hardware queue job % submit_queues")
      ->capture_default_str();
  s->add_option("--runtime", a->runtime, "how long (5s, 500ms)")->capture_default_str();
  s->add_option("--ios", a->ios, "I/Os per job instead of --runtime");
  s->add_option("--size", a->size, "bytes of the device to touch (default: all)");
  s->add_option("--rwmixread", a->rwmix, "randrw: percent reads")->capture_default_str();
  s->add_option("--lat-sample", a->lat_sample, "time one I/O in N (power of two)")
      ->capture_default_str();
  s->add_flag("--verify", a->verify, "check that data read back is what was written");
  s->add_flag("--json", a->json, "print the result as JSON");
  s->add_option("--plot", a->plot, "write the latency histogram and IOPS over time to FILE.svg");
  s->add_option("--log-interval", a->log_interval, "IOPS over time: one sample per interval")
      ->capture_default_str();
  s->add_option("driver", a->positional, "DRIVER [key=value ...], e.g. null irqmode=0")->required();
  s->callback([a] { run(*a); });
});

}  // namespace
}  // namespace mqblk::cli
