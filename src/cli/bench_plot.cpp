// The SVG of `mqblk bench --plot`: hand-written elements (no library), coordinates in a
// fixed 960x680 canvas.
#include "cli/bench_plot.hpp"

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <stdexcept>
#include <system_error>

#include "cli/units.hpp"

namespace mqblk::cli {
namespace {

constexpr double kLeft = 90, kWidth = 820;      // both panels' plot area, x
constexpr double kHistTop = 90, kHistH = 250;   // latency histogram, y
constexpr double kIopsTop = 430, kIopsH = 190;  // IOPS over time, y
constexpr const char* kColour[kNrDirs] = {"#1f77b4", "#d62728", "#2ca02c", "#9467bd"};

std::string xml_escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      default: out += c;
    }
  }
  return out;
}

std::string ns_label(double ns) {
  char b[32];
  if (ns >= 1e9)
    std::snprintf(b, sizeof b, "%gs", ns / 1e9);
  else if (ns >= 1e6)
    std::snprintf(b, sizeof b, "%gms", ns / 1e6);
  else if (ns >= 1e3)
    std::snprintf(b, sizeof b, "%gus", ns / 1e3);
  else
    std::snprintf(b, sizeof b, "%gns", ns);
  return b;
}

// Writes to a FILE*, remembering the first failure.
class Out {
 public:
  explicit Out(FILE* f) : f_(f) {}
  template <class... A>
  void operator()(const char* fmt, A... a) {
    if (std::fprintf(f_, fmt, a...) < 0) failed_ = true;
  }
  bool failed() const { return failed_; }

 private:
  FILE* f_;
  bool failed_ = false;
};

void histogram(Out& w, const BenchResult& r, const BenchOptions& o) {
  w("<g class=\"histogram\" data-samples=\"%llu\" data-sample-every=\"%u\">\n",
    static_cast<unsigned long long>(r.lat.count()), o.lat_sample);
  w("<text x=\"%g\" y=\"%g\" font-size=\"15\">Latency histogram (1 I/O in %u timed, %llu "
    "timed; buckets of LatencyHistogram: 16 per power of two)</text>\n",
    kLeft, kHistTop - 20, o.lat_sample, static_cast<unsigned long long>(r.lat.count()));
  w("<rect x=\"%g\" y=\"%g\" width=\"%g\" height=\"%g\" fill=\"none\" stroke=\"#888\"/>\n", kLeft,
    kHistTop, kWidth, kHistH);
  unsigned first = LatencyHistogram::kBuckets, last = 0;
  uint64_t tallest = 0;
  for (unsigned i = 0; i < LatencyHistogram::kBuckets; ++i) {
    if (!r.lat.bucket(i)) continue;
    first = std::min(first, i);
    last = i;
    tallest = std::max(tallest, r.lat.bucket(i));
  }
  if (tallest == 0) {
    w("<text x=\"%g\" y=\"%g\">no I/O was timed</text>\n</g>\n", kLeft + 20, kHistTop + 40);
    return;
  }
  double lo = std::log2(std::max<double>(1, static_cast<double>(LatencyHistogram::lower(first))));
  double hi = std::log2(static_cast<double>(LatencyHistogram::upper(last)) + 1);
  if (hi - lo < 1) {
    lo -= 0.5;
    hi += 0.5;
  }
  auto x_of = [&](double v) {
    return kLeft + (std::log2(std::max(1.0, v)) - lo) / (hi - lo) * kWidth;
  };
  // Decade ticks within the range.
  double t = 1;
  for (int decade = 0; decade < 13; ++decade, t *= 10) {
    double x = x_of(t);
    if (x < kLeft - 0.5 || x > kLeft + kWidth + 0.5) continue;
    w("<line x1=\"%.2f\" y1=\"%g\" x2=\"%.2f\" y2=\"%g\" stroke=\"#ccc\"/>\n", x, kHistTop, x,
      kHistTop + kHistH);
    w("<text x=\"%.2f\" y=\"%g\" font-size=\"12\" text-anchor=\"middle\">%s</text>\n", x,
      kHistTop + kHistH + 16, ns_label(t).c_str());
  }
  w("<text x=\"%g\" y=\"%g\" font-size=\"12\" text-anchor=\"middle\">latency (log scale)</text>\n",
    kLeft + kWidth / 2, kHistTop + kHistH + 34);
  w("<text x=\"%g\" y=\"%g\" font-size=\"12\" text-anchor=\"end\">%llu</text>\n", kLeft - 6,
    kHistTop + 10, static_cast<unsigned long long>(tallest));
  w("<text x=\"%g\" y=\"%g\" font-size=\"12\" text-anchor=\"end\">0</text>\n", kLeft - 6,
    kHistTop + kHistH);
  for (unsigned i = first; i <= last; ++i) {
    if (!r.lat.bucket(i)) continue;
    const uint64_t b_lo = LatencyHistogram::lower(i), b_hi = LatencyHistogram::upper(i);
    const double x0 = x_of(static_cast<double>(b_lo)), x1 = x_of(static_cast<double>(b_hi) + 1);
    double y = kHistTop + kHistH;
    for (unsigned d = 0; d < kNrDirs; ++d) {
      const uint64_t c = r.dir[d].lat.bucket(i);
      if (!c) continue;
      const double h = static_cast<double>(c) / static_cast<double>(tallest) * kHistH;
      y -= h;
      const char* dn = dir_name(static_cast<Dir>(d));
      w("<rect class=\"bucket\" data-dir=\"%s\" data-lo=\"%llu\" data-hi=\"%llu\" "
        "data-count=\"%llu\" x=\"%.3f\" y=\"%.3f\" width=\"%.3f\" height=\"%.3f\" fill=\"%s\">"
        "<title>%s %llu..%llu ns: %llu</title></rect>\n",
        dn, static_cast<unsigned long long>(b_lo), static_cast<unsigned long long>(b_hi),
        static_cast<unsigned long long>(c), x0, y, std::max(0.5, x1 - x0), h, kColour[d], dn,
        static_cast<unsigned long long>(b_lo), static_cast<unsigned long long>(b_hi),
        static_cast<unsigned long long>(c));
    }
  }
  // Legend: the directions that have I/Os.
  double lx = kLeft + kWidth - 90;
  double ly = kHistTop + 14;
  for (unsigned d = 0; d < kNrDirs; ++d) {
    if (!r.dir[d].ios) continue;
    w("<rect x=\"%g\" y=\"%g\" width=\"12\" height=\"12\" fill=\"%s\"/>"
      "<text x=\"%g\" y=\"%g\" font-size=\"12\">%s</text>\n",
      lx, ly - 10, kColour[d], lx + 16, ly, dir_name(static_cast<Dir>(d)));
    ly += 16;
  }
  w("</g>\n");
}

void iops_over_time(Out& w, const BenchResult& r, const BenchOptions& o) {
  w("<g class=\"iops-log\" data-interval-s=\"%.9g\" data-samples=\"%zu\">\n", o.log_interval_s,
    r.iops_log.size());
  w("<text x=\"%g\" y=\"%g\" font-size=\"15\">IOPS over time (one sample per %gs)</text>\n", kLeft,
    kIopsTop - 20, o.log_interval_s);
  w("<rect x=\"%g\" y=\"%g\" width=\"%g\" height=\"%g\" fill=\"none\" stroke=\"#888\"/>\n", kLeft,
    kIopsTop, kWidth, kIopsH);
  double t_end = r.iops_log.empty() ? 1 : r.iops_log.back().t_s;
  double top = 0;
  for (const IopsSample& s : r.iops_log) top = std::max(top, s.iops);
  top = top > 0 ? top * 1.1 : 1;
  if (!(t_end > 0)) t_end = 1;
  auto x_of = [&](double t) { return kLeft + t / t_end * kWidth; };
  auto y_of = [&](double v) { return kIopsTop + kIopsH - v / top * kIopsH; };
  w("<text x=\"%g\" y=\"%g\" font-size=\"12\" text-anchor=\"end\">%s</text>\n", kLeft - 6,
    kIopsTop + 10, human_count(top).c_str());
  w("<text x=\"%g\" y=\"%g\" font-size=\"12\" text-anchor=\"end\">0</text>\n", kLeft - 6,
    kIopsTop + kIopsH);
  w("<text x=\"%g\" y=\"%g\" font-size=\"12\">0 s</text>\n", kLeft, kIopsTop + kIopsH + 16);
  w("<text x=\"%g\" y=\"%g\" font-size=\"12\" text-anchor=\"end\">%.3g s</text>\n", kLeft + kWidth,
    kIopsTop + kIopsH + 16, t_end);
  const double mean = r.seconds > 0 ? static_cast<double>(r.ios) / r.seconds : 0;
  w("<line class=\"mean\" data-iops=\"%.9g\" x1=\"%g\" y1=\"%.3f\" x2=\"%g\" y2=\"%.3f\" "
    "stroke=\"#999\" stroke-dasharray=\"4 4\"><title>mean %s IOPS</title></line>\n",
    mean, kLeft, y_of(mean), kLeft + kWidth, y_of(mean), human_count(mean).c_str());
  w("<polyline fill=\"none\" stroke=\"#1f77b4\" stroke-width=\"1.5\" points=\"");
  for (const IopsSample& s : r.iops_log) w("%.2f,%.2f ", x_of(s.t_s), y_of(s.iops));
  w("\"/>\n");
  for (const IopsSample& s : r.iops_log)
    w("<circle class=\"sample\" data-t=\"%.9g\" data-len=\"%.9g\" data-iops=\"%.9g\" cx=\"%.2f\" "
      "cy=\"%.2f\" r=\"2\" fill=\"#1f77b4\"/>\n",
      s.t_s, s.len_s, s.iops, x_of(s.t_s), y_of(s.iops));
  w("</g>\n");
}

}  // namespace

void check_plot_path(const std::string& path) {
  std::string dir = ".";
  if (auto slash = path.rfind('/'); slash != std::string::npos)
    dir = slash == 0 ? "/" : path.substr(0, slash);
  if (path.empty() || path.back() == '/')
    throw std::runtime_error("bench: --plot '" + path + "': give a file name, e.g. run.svg");
  if (::access(dir.c_str(), W_OK) != 0)
    throw std::runtime_error("bench: --plot " + path + ": cannot write in " + dir + " (" +
                             std::generic_category().message(errno) +
                             "): give a path in a writable directory");
}

void write_plot_svg(const std::string& path, const BenchResult& r, const BenchOptions& o,
                    const std::string& what) {
  FILE* f = std::fopen(path.c_str(), "w");
  if (!f)
    throw std::runtime_error("bench: --plot " + path + ": " +
                             std::generic_category().message(errno) +
                             ": give a path in a writable directory");
  Out w(f);
  const double iops = r.seconds > 0 ? static_cast<double>(r.ios) / r.seconds : 0;
  w("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
  w("<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"960\" height=\"680\" "
    "viewBox=\"0 0 960 680\" font-family=\"sans-serif\" data-ios=\"%llu\" data-iops=\"%.9g\" "
    "data-seconds=\"%.9g\" data-rw=\"%s\">\n",
    static_cast<unsigned long long>(r.ios), iops, r.seconds, rw_name(o.rw));
  w("<rect width=\"960\" height=\"680\" fill=\"white\"/>\n");
  const std::string title = "mqblk bench --rw " + std::string(rw_name(o.rw)) + " --bs " +
                            std::to_string(o.bs) + " --iodepth " + std::to_string(o.iodepth) +
                            " --jobs " + std::to_string(o.jobs) + ": " + what;
  w("<title>%s</title>\n", xml_escape(title).c_str());
  w("<text x=\"20\" y=\"28\" font-size=\"16\">%s</text>\n", xml_escape(title).c_str());
  w("<text class=\"figures\" x=\"20\" y=\"50\" font-size=\"14\">%llu I/Os in %.2f s: %s IOPS "
    "(%.1f), latency p50 %s p99 %s max %s</text>\n",
    static_cast<unsigned long long>(r.ios), r.seconds, human_count(iops).c_str(), iops,
    ns_label(static_cast<double>(r.lat.quantile(0.5))).c_str(),
    ns_label(static_cast<double>(r.lat.quantile(0.99))).c_str(),
    ns_label(static_cast<double>(r.lat.max())).c_str());
  histogram(w, r, o);
  iops_over_time(w, r, o);
  w("</svg>\n");
  const bool bad = w.failed() || std::ferror(f);
  if (std::fclose(f) != 0 || bad)
    throw std::runtime_error("bench: --plot " + path + ": the write failed (disk full?)");
}

}  // namespace mqblk::cli
