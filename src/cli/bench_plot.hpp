// cli/bench_plot.hpp - `mqblk bench --plot FILE.svg`: the run's latency histogram and its
// IOPS over time as one SVG image.
#pragma once

#include <string>

#include "cli/bench_runner.hpp"

namespace mqblk::cli {

// Throws std::runtime_error with one line when dir cannot take a new file: checked before
// the run, so that a bad --plot path costs no run.
void check_plot_path(const std::string& path);

// Writes the image: a title line with the run's figures; the latency histogram (one bar
// per non-empty bucket of LatencyHistogram, stacked by direction, x on a log2 scale); the
// IOPS log as a line with a mark per sample. The figures are also attributes of the
// elements (data-ios, data-iops, data-count, data-lo, data-hi, data-t, data-len), so
// that a program can read them back exactly. Throws std::runtime_error with one line.
void write_plot_svg(const std::string& path, const BenchResult& r, const BenchOptions& o,
                    const std::string& what);

}  // namespace mqblk::cli
