// bench/safety_cost: the ownership API (checked) against the raw baseline, one binary.
//
//   safety_cost [google benchmark flags]       the benchmarks BM_{checked,raw}_{typed,iface}/QD
//   safety_cost --fixed checked|raw QD IOS     exactly IOS I/Os, for callgrind counts
//   safety_cost --paired QD PAIRS IOS          PAIRS x (checked then raw, IOS I/Os each, order
//                                              alternating), thread CPU time of each; prints
//                                              the median of the per-pair ratios checked/raw
//                                              (robust to a host whose load drifts)
#include <benchmark/benchmark.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

double safety_fixed_checked(unsigned qd, uint64_t ios);
double safety_fixed_raw(unsigned qd, uint64_t ios);

static double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  size_t n = v.size();
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

int main(int argc, char** argv) {
  if (argc == 5 && std::strcmp(argv[1], "--fixed") == 0) {
    unsigned qd = static_cast<unsigned>(std::strtoul(argv[3], nullptr, 10));
    uint64_t ios = std::strtoull(argv[4], nullptr, 10);
    if (std::strcmp(argv[2], "checked") == 0)
      safety_fixed_checked(qd, ios);
    else if (std::strcmp(argv[2], "raw") == 0)
      safety_fixed_raw(qd, ios);
    else
      return std::fprintf(stderr, "safety_cost: --fixed checked|raw QD IOS\n"), 2;
    return 0;
  }
  if (argc == 5 && std::strcmp(argv[1], "--paired") == 0) {
    unsigned qd = static_cast<unsigned>(std::strtoul(argv[2], nullptr, 10));
    unsigned pairs = static_cast<unsigned>(std::strtoul(argv[3], nullptr, 10));
    uint64_t ios = std::strtoull(argv[4], nullptr, 10);
    std::vector<double> c, r, ratio;
    for (unsigned i = 0; i < pairs; ++i) {
      double tc, tr;
      if (i % 2) {
        tr = safety_fixed_raw(qd, ios);
        tc = safety_fixed_checked(qd, ios);
      } else {
        tc = safety_fixed_checked(qd, ios);
        tr = safety_fixed_raw(qd, ios);
      }
      c.push_back(tc / static_cast<double>(ios));
      r.push_back(tr / static_cast<double>(ios));
      ratio.push_back(tc / tr);
    }
    std::printf(
        "paired QD %u: %u pairs of %llu I/Os: checked %.2f ns/IO, raw %.2f ns/IO (medians), "
        "median pair ratio %.3f\n",
        qd, pairs, static_cast<unsigned long long>(ios), median(c), median(r), median(ratio));
    return 0;
  }
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
