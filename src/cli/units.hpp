// cli/units.hpp - command-line numbers with units: sizes (4k, 1M, 1G: binary) and
// durations (5s, 500ms, 2m). Errors are ConfigError-style one-liners via std::invalid_argument.
#pragma once

#include <cstdint>
#include <string>

namespace mqblk::cli {

uint64_t parse_size(const std::string& text, const std::string& what);
double parse_duration_s(const std::string& text, const std::string& what);
std::string human_count(double v);  // 21.3M, 812k

}  // namespace mqblk::cli
